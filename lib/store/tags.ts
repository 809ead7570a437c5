import type { StorageDriver } from '../storage/driver.js'
import type { ParsedDigest } from '../digest.js'
import { listNames, listNamesAfter, writeLink } from './links.js'
import { filterBounded } from '../storage-concurrency.js'
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
   * The tags after `after` (exclusive), sorted, at most `limit`: one read of
   * the tags directory, no per-tag reads (see `complete` for those).
   */
  async listAfter (name: string, after: string | undefined, limit = Infinity): Promise<string[]> {
    return await listNamesAfter(this.#driver, paths.tagsRoot(name), after, limit)
  }

  /**
   * The tags among `tags` that name a manifest. A tag directory without its
   * `current/link` is one whose write or delete was cut short (a crash between
   * the index link and the current link): it must not be listed. Links are
   * written atomically, so a `current/link` that exists is whole: where the
   * driver can tell cheaply that a file exists (`version`, a local lstat),
   * that is all a page asks of each tag; otherwise each link is read, a
   * bounded number at once (lib/storage-concurrency.ts).
   */
  async complete (name: string, tags: string[]): Promise<string[]> {
    return await filterBounded(tags, async (tag) => await this.#hasCurrentLink(name, tag))
  }

  async #hasCurrentLink (name: string, tag: string): Promise<boolean> {
    const path = paths.tagCurrentLink(name, tag)
    if (this.#driver.version !== undefined) {
      try {
        return this.#driver.version(path) !== undefined
      } catch {} // the read below reports what is wrong
    }
    return await this.#links.read(path) !== undefined
  }

  /** The tags currently pointing at a manifest; every tag is read, a bounded number at once. */
  async tagsOf (name: string, digest: ParsedDigest): Promise<string[]> {
    return await filterBounded(await this.list(name), async (tag) => (await this.resolve(name, tag))?.digest === digest.digest)
  }
}
