import type { StorageDriver } from '../storage/driver.js'
import type { ParsedDigest } from '../digest.js'
import { deleteIfExists, exists, listNames, readLink, writeLink } from './links.js'
import { paths } from './paths.js'

/** Tags: `_manifests/tags/<tag>/current/link` names the manifest; `index/` keeps its history, as distribution does. */
export class TagStore {
  readonly #driver: StorageDriver

  constructor (driver: StorageDriver) {
    this.#driver = driver
  }

  async resolve (name: string, tag: string): Promise<ParsedDigest | undefined> {
    return await readLink(this.#driver, paths.tagCurrentLink(name, tag))
  }

  /** Points a tag at a manifest; the index link is written first so `current` never names an unindexed revision. */
  async tag (name: string, tag: string, digest: ParsedDigest): Promise<void> {
    await writeLink(this.#driver, paths.tagIndexLink(name, tag, digest), digest)
    await writeLink(this.#driver, paths.tagCurrentLink(name, tag), digest)
  }

  async untag (name: string, tag: string): Promise<boolean> {
    if (await this.resolve(name, tag) === undefined) return false
    return await deleteIfExists(this.#driver, paths.tagDir(name, tag))
  }

  /** Every tag of a repository, sorted. */
  async list (name: string): Promise<string[]> {
    return await listNames(this.#driver, paths.tagsRoot(name))
  }

  /**
   * The tags among `tags` that name a manifest. A tag directory without its
   * `current/link` is one whose write or delete was cut short (a crash between
   * the index link and the current link): it must not be listed.
   */
  async complete (name: string, tags: string[]): Promise<string[]> {
    const present = await Promise.all(tags.map(async (tag) => await exists(this.#driver, paths.tagCurrentLink(name, tag))))
    return tags.filter((_tag, index) => present[index])
  }

  /** The tags currently pointing at a manifest. */
  async tagsOf (name: string, digest: ParsedDigest): Promise<string[]> {
    const tags = await this.list(name)
    const current = await Promise.all(tags.map(async (tag) => (await this.resolve(name, tag))?.digest))
    return tags.filter((_tag, index) => current[index] === digest.digest)
  }
}
