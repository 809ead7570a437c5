import type { ParsedDigest } from '../digest.js'

/**
 * A cache of what link files name: a tag's current manifest, a repository's
 * manifest revisions and layers. Links are the registry's only mutable data,
 * so a cache of them must never serve a value another instance sharing the
 * storage has already replaced or removed: an implementation either checks
 * freshness on every read or is told of every change by every instance.
 */
export interface LinkCache {
  /**
   * What the link at `path` names, or undefined when there is none: from the
   * cache when it is known to be current, otherwise from `load` (the storage read).
   */
  read (path: string, load: () => Promise<ParsedDigest | undefined>): Promise<ParsedDigest | undefined>
  /**
   * Called after the link at `path` was written (`value`) or removed
   * (undefined), before the change is acknowledged to the client.
   */
  changed (path: string, value: ParsedDigest | undefined): Promise<void>
  /** Releases connections; the cache is not used afterwards. */
  close (): Promise<void>
}

/** No cache: every read goes to storage. */
export class NoLinkCache implements LinkCache {
  async read (_path: string, load: () => Promise<ParsedDigest | undefined>): Promise<ParsedDigest | undefined> {
    return await load()
  }

  async changed (): Promise<void> {}

  async close (): Promise<void> {}
}
