import type { StorageDriver } from '../storage/driver.js'
import type { ParsedDigest } from '../digest.js'
import type { LinkCache } from './link-cache.js'
import { deleteIfExists, readLink, writeLink } from './links.js'

/** The stores' one way to read and change the links they look up on every request, so the link cache hears of every change. */
export class LinkFiles {
  readonly #driver: StorageDriver
  readonly #cache: LinkCache

  constructor (driver: StorageDriver, cache: LinkCache) {
    this.#driver = driver
    this.#cache = cache
  }

  async read (path: string): Promise<ParsedDigest | undefined> {
    return await this.#cache.read(path, async () => await readLink(this.#driver, path))
  }

  async write (path: string, digest: ParsedDigest): Promise<void> {
    try {
      await writeLink(this.#driver, path, digest)
    } finally {
      // Even after a failure: the write may have landed before the error.
      await this.#cache.changed(path, digest)
    }
  }

  /** Deletes `target` (the link or a directory holding it); false when it was already gone. */
  async remove (path: string, target = path): Promise<boolean> {
    try {
      return await deleteIfExists(this.#driver, target)
    } finally {
      await this.#cache.changed(path, undefined)
    }
  }
}
