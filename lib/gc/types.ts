import type { ParsedDigest } from '../digest.js'

/** The phases of a collection, in order. `verify` and `delete` only run when something was set aside. */
export type GarbageCollectPhase = 'mark' | 'untagged' | 'scan' | 'quarantine' | 'verify' | 'delete' | 'links' | 'done'

/** The log methods the collector uses; a pino or Fastify logger fits. */
export interface GarbageCollectLogger {
  debug (object: object, message: string): void
  info (object: object, message: string): void
  warn (object: object, message: string): void
}

/** Where a collection stands; passed to `onProgress` at each phase and regularly within one. */
export interface GarbageCollectProgress {
  phase: GarbageCollectPhase
  /** Repositories scanned so far. */
  repositories: number
  /** Manifest revisions seen so far. */
  manifests: number
  /** Blobs found in storage so far. */
  blobsScanned: number
  /** Of those, the ones a kept manifest references (manifests included). */
  blobsMarked: number
  /** Blobs found unreferenced and older than the grace period. */
  blobsToDelete: number
  /** Their total size. */
  bytesToFree: number
  blobsDeleted: number
  bytesFreed: number
  /** Untagged manifests removed (or, in a dry run, that would be). */
  untaggedManifests: number
  /** Repository links removed (or, in a dry run, that would be). */
  linksRemoved: number
}

export interface GarbageCollectOptions {
  /** Report what would be removed, changing nothing. Default false. */
  dryRun?: boolean
  /**
   * Also remove manifests that no tag reaches: not tagged, not a child of a
   * kept index, not a referrer of a kept manifest. Default false.
   */
  deleteUntagged?: boolean
  /**
   * Blobs, links and revisions written less than this long before the
   * collection started are kept whatever references them, so a push in
   * progress (blobs uploaded, manifest not yet) is not undone. Default one
   * hour; 0 is for an offline registry.
   */
  gracePeriodMs?: number
  onProgress?: (progress: GarbageCollectProgress) => void
  log?: GarbageCollectLogger
  /**
   * Told after each link the collector removes (`value` undefined) or puts
   * back, so a registry's link cache sharing the storage stays truthful.
   */
  onLinkChanged?: (path: string, value: ParsedDigest | undefined) => Promise<void>
  /** Manifests and links read or written at once. Default 16. */
  concurrency?: number
  /** The clock, for tests. Default Date.now. */
  now?: () => number
}

export interface GarbageCollectSummary {
  dryRun: boolean
  deleteUntagged: boolean
  gracePeriodMs: number
  /** When the collection started (ISO 8601); the grace period is counted back from here. */
  startedAt: string
  repositories: number
  /** Manifest revisions found, over all repositories. */
  manifests: number
  /** Manifest revisions kept. */
  manifestsMarked: number
  /** Untagged manifests removed (or, in a dry run, that would be), including any put back later (`manifestsRestored`). */
  untaggedManifestsDeleted: number
  /** Manifests whose references could not be read (not JSON, or content missing); handled conservatively. */
  unreadableManifests: number
  /** Blobs in storage. */
  blobs: number
  /** Blobs in storage referenced by a kept manifest. */
  blobsMarked: number
  /** Unreferenced blobs kept because they, or a link to them, are younger than the grace period. */
  blobsYoung: number
  /** Blobs removed (or, in a dry run, that would be). */
  blobsDeleted: number
  /** Their total size. */
  bytesFreed: number
  /** Blobs set aside for deletion and then kept because a concurrent push referenced them. */
  blobsRestored: number
  /** Untagged manifests removed and then put back because a concurrent push referenced or tagged them. */
  manifestsRestored: number
  /** `_layers` links to blobs that no longer exist, removed (or, in a dry run, that would be). */
  layerLinksRemoved: number
  /** Blobs set aside by an earlier collection that stopped half way, put back. */
  quarantineRecovered: number
  durationMs: number
}
