import type { StorageDriver } from '../storage/driver.js'
import type { ParsedDigest } from '../digest.js'
import { listNames, writeLink } from './links.js'
import { LinkFiles } from './link-files.js'
import { NoLinkCache } from './link-cache.js'
import { paths } from './paths.js'

/** Tags: `_manifests/tags/<tag>/current/link` names the manifest; `index/` keeps its history, as distribution does. */
export class TagStore {
  readonly #driver: StorageDriver
  readonly #links: LinkFiles

  constructor (driver: StorageDriver, links = new LinkFiles(driver, new NoLinkCache())) {
    this.#driver = driver
    this.#links = links
  }

  async resolve (name: string, tag: string): Promise<ParsedDigest | undefined> {
    return await this.#links.read(paths.tagCurrentLink(name, tag))
  }

  /** Points a tag at a manifest; the index link is written first so `current` never names an unindexed revision. */
  async tag (name: string, tag: string, digest: ParsedDigest): Promise<void> {
    await writeLink(this.#driver, paths.tagIndexLink(name, tag, digest), digest)
    await this.#links.write(paths.tagCurrentLink(name, tag), digest)
  }

  async untag (name: string, tag: string): Promise<boolean> {
    if (await this.resolve(name, tag) === undefined) return false
    return await this.#links.remove(paths.tagCurrentLink(name, tag), paths.tagDir(name, tag))
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
    const present = await Promise.all(tags.map(async (tag) => await this.resolve(name, tag) !== undefined))
    return tags.filter((_tag, index) => present[index])
  }

  /** The tags currently pointing at a manifest. */
  async tagsOf (name: string, digest: ParsedDigest): Promise<string[]> {
    const tags = await this.list(name)
    const current = await Promise.all(tags.map(async (tag) => (await this.resolve(name, tag))?.digest))
    return tags.filter((_tag, index) => current[index] === digest.digest)
  }
}
