import { LruCache } from '../store/lru.js'

interface Entry<V> {
  version: string
  value: V | undefined
}

/**
 * Values derived from storage files, kept while the file's version (see
 * `StorageDriver.version`) is unchanged. Every read asks the storage for the
 * version, so a change made by any instance sharing the storage is seen on
 * the next read: safe for mutable data such as tags.
 */
export class VersionCheckedCache<V> {
  readonly #versionOf: (path: string) => string | undefined
  readonly #entries: LruCache<string, Entry<V>>

  constructor (versionOf: (path: string) => string | undefined, capacity: number) {
    this.#versionOf = versionOf
    this.#entries = new LruCache(capacity)
  }

  /** The value for the file at `path`: cached while its version holds, else `load()`; undefined when there is no file. */
  async read (path: string, load: () => Promise<V | undefined>): Promise<V | undefined> {
    let version: string | undefined
    try {
      version = this.#versionOf(path)
    } catch {
      return await load() // let the storage read report what is wrong
    }
    if (version === undefined) {
      this.#entries.delete(path)
      return undefined
    }
    const entry = this.#entries.get(path)
    if (entry?.version === version) return entry.value
    // The version was taken before loading: if the file changes meanwhile, the next read sees a new version and reloads.
    const value = await load()
    this.#entries.set(path, { version, value })
    return value
  }

  /** Forgets `path`; other instances need no telling, their next read sees the new version. */
  async changed (path: string): Promise<void> {
    this.#entries.delete(path)
  }

  async close (): Promise<void> {}
}
