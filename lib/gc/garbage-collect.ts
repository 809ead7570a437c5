/**
 * Mark and sweep over a storage driver, like CNCF distribution's
 * `registry garbage-collect`, and safe to run while a registry serves the
 * same storage (see "Online safety" below).
 *
 * 1. mark: every manifest revision of every repository is read; a kept
 *    manifest marks its own blob, its config and layers, its index children
 *    and its subject. A manifest whose references cannot be read marks every
 *    blob its repository links.
 * 2. untagged (with `deleteUntagged`): revisions no tag reaches are removed.
 * 3. scan: every blob in storage; unmarked ones older than the grace period
 *    (the data, and every `_layers` link to it) are to be deleted.
 * 4. quarantine: each is set aside (`data` -> `data.gc`), invisible to readers.
 * 5. verify: the repositories are read again; a blob set aside that a
 *    revision now references, or that a fresh link names, is put back, and
 *    so is an untagged manifest that is now tagged or reached.
 * 6. delete: what is still set aside is deleted.
 * 7. links: `_layers` links to blobs that no longer exist are removed.
 *
 * Online safety. The danger is a push the mark did not see (its manifest
 * was written after its repository was read) referencing a blob the sweep
 * deletes. The registry's manifest PUT writes its revision link and then,
 * before answering 201, checks again that every blob it references exists
 * (and is linked); the collector sets a blob aside and then reads every
 * revision again. Each side writes, then reads what the other writes, so at
 * least one sees the other: either the PUT finds the blob gone and answers
 * MANIFEST_BLOB_UNKNOWN (nothing acknowledged), or the collector finds the
 * revision and puts the blob back. No clock is involved in that argument;
 * the grace period only spares pushes in progress (blobs uploaded, manifest
 * not yet sent) from having to start again. An upload or mount of a blob
 * that already exists rewrites the repository's `_layers` link, so a fresh
 * link protects an old blob for the grace period as fresh data does.
 */
import type { StorageDriver } from '../storage/driver.js'
import type { ParsedDigest } from '../digest.js'
import { RepositoryStore } from '../store/repositories.js'
import { scanRepository, type RepositoryScan } from './repository-scan.js'
import { inventoryBlobs, type StoredBlob } from './blob-inventory.js'
import { ManifestReferencesCache, MISSING } from './manifest-references-cache.js'
import { planUntagged, removeManifest, restoreManifest, tagHistory, type LinkChanged } from './untagged.js'
import { reachable } from './reachability.js'
import { discard, putBack, setAside } from './quarantine.js'
import { removeDanglingLayerLink } from './layer-links.js'
import { forEachLimit } from './parallel.js'
import { isPathNotFound } from '../storage/errors.js'
import { paths } from '../store/paths.js'
import type { ManifestReferences } from './references.js'
import type { GarbageCollectLogger, GarbageCollectOptions, GarbageCollectPhase, GarbageCollectProgress, GarbageCollectSummary } from './types.js'

/** One hour: longer than any push takes between uploading its blobs and putting its manifest. */
export const DEFAULT_GC_GRACE_PERIOD_MS = 60 * 60 * 1000
const DEFAULT_CONCURRENCY = 16
const PROGRESS_INTERVAL_MS = 100

const silent: GarbageCollectLogger = { debug () {}, info () {}, warn () {} }

interface RemovedManifest {
  digest: ParsedDigest
  references: ManifestReferences
}

/**
 * Deletes every blob no manifest references, and with `deleteUntagged`
 * every manifest no tag reaches; resolves with what was (or, with `dryRun`,
 * would be) removed.
 */
export async function garbageCollect (driver: StorageDriver, options: GarbageCollectOptions = {}): Promise<GarbageCollectSummary> {
  return await new Collector(driver, options).run()
}

class Collector {
  readonly #driver: StorageDriver
  readonly #dryRun: boolean
  readonly #deleteUntagged: boolean
  readonly #grace: number
  readonly #concurrency: number
  readonly #now: () => number
  readonly #log: GarbageCollectLogger
  readonly #onProgress: ((progress: GarbageCollectProgress) => void) | undefined
  readonly #changed: LinkChanged
  readonly #references: ManifestReferencesCache
  readonly #progress: GarbageCollectProgress = {
    phase: 'mark', repositories: 0, manifests: 0, blobsMarked: 0, blobsScanned: 0, blobsToDelete: 0, bytesToFree: 0, blobsDeleted: 0, bytesFreed: 0, untaggedManifests: 0, linksRemoved: 0
  }

  #lastProgress = 0
  #started = 0
  #cutoff = 0
  #summary!: GarbageCollectSummary

  constructor (driver: StorageDriver, options: GarbageCollectOptions) {
    const grace = options.gracePeriodMs ?? DEFAULT_GC_GRACE_PERIOD_MS
    if (typeof grace !== 'number' || !Number.isFinite(grace) || grace < 0) throw new TypeError(`gracePeriodMs must be a finite number of milliseconds >= 0, got ${String(grace)}`)
    const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new TypeError(`concurrency must be an integer >= 1, got ${String(concurrency)}`)
    this.#driver = driver
    this.#dryRun = options.dryRun === true
    this.#deleteUntagged = options.deleteUntagged === true
    this.#grace = grace
    this.#concurrency = concurrency
    this.#now = options.now ?? Date.now
    this.#log = options.log ?? silent
    this.#onProgress = options.onProgress
    const onLinkChanged = options.onLinkChanged
    this.#changed = onLinkChanged === undefined ? async () => {} : async (path, value) => { await onLinkChanged(path, value) }
    this.#references = new ManifestReferencesCache(driver)
  }

  async run (): Promise<GarbageCollectSummary> {
    this.#started = this.#now()
    this.#cutoff = this.#started - this.#grace
    this.#summary = {
      dryRun: this.#dryRun,
      deleteUntagged: this.#deleteUntagged,
      gracePeriodMs: this.#grace,
      startedAt: new Date(this.#started).toISOString(),
      repositories: 0,
      manifests: 0,
      manifestsMarked: 0,
      untaggedManifestsDeleted: 0,
      unreadableManifests: 0,
      blobs: 0,
      blobsMarked: 0,
      blobsYoung: 0,
      blobsDeleted: 0,
      bytesFreed: 0,
      blobsRestored: 0,
      manifestsRestored: 0,
      layerLinksRemoved: 0,
      quarantineRecovered: 0,
      durationMs: 0
    }
    this.#log.info({ dryRun: this.#dryRun, deleteUntagged: this.#deleteUntagged, gracePeriodMs: this.#grace, driver: this.#driver.name }, 'garbage collection started')
    this.#emit(true)

    // 1. mark: read every repository (references are loaded once per digest)
    const scans = await this.#scanAll(true)
    // 2. untagged
    const removed = new Map<string, RemovedManifest[]>()
    const kept = new Map<string, Set<string>>()
    if (this.#deleteUntagged) this.#phase('untagged')
    for (const scan of scans) kept.set(scan.name, await this.#untagged(scan, removed))
    const marked = new Set<string>()
    const freshLinks = new Set<string>()
    for (const scan of scans) this.#mark(scan, kept.get(scan.name)!, marked, freshLinks, true)
    this.#phase('scan')

    // 3. scan
    const candidates: StoredBlob[] = []
    const inventory = await inventoryBlobs(this.#driver, (blob) => {
      this.#progress.blobsScanned++
      if (marked.has(blob.digest.digest)) {
        this.#summary.blobsMarked++
        this.#progress.blobsMarked++
      } else if (blob.modTime >= this.#cutoff || freshLinks.has(blob.digest.digest)) {
        this.#summary.blobsYoung++
      } else {
        candidates.push(blob)
        this.#progress.blobsToDelete++
        this.#progress.bytesToFree += blob.size
      }
      this.#emit()
    })
    this.#summary.blobs = inventory.blobs.size
    if (!this.#dryRun) {
      // Set aside by a collection that stopped half way: put back, to be judged by the next one.
      for (const digest of inventory.setAside) {
        await putBack(this.#driver, digest)
        this.#summary.quarantineRecovered++
      }
    }

    let deleted: StoredBlob[]
    // The newest reading of the repositories, for the links phase.
    let latest = scans
    if (this.#dryRun) {
      deleted = candidates
      this.#progress.blobsDeleted = candidates.length
      this.#progress.bytesFreed = this.#progress.bytesToFree
    } else {
      // 4. quarantine
      this.#phase('quarantine')
      const aside = await this.#setAside(candidates)
      // 5. verify
      let keep = new Set<string>()
      if (aside.length > 0 || removed.size > 0) {
        this.#phase('verify')
        const verified = await this.#verify(removed)
        keep = verified.keep
        latest = verified.scans
      }
      // 6. delete
      this.#phase('delete')
      deleted = await this.#deleteOrPutBack(aside, keep)
    }
    this.#summary.blobsDeleted = deleted.length
    this.#summary.bytesFreed = deleted.reduce((sum, blob) => sum + blob.size, 0)

    // 7. links
    this.#phase('links')
    const gone = new Set(deleted.map((blob) => blob.digest.digest))
    await this.#removeDanglingLinks(latest, inventory.blobs, gone)

    this.#summary.durationMs = this.#now() - this.#started
    this.#phase('done')
    this.#log.info({ ...this.#summary }, this.#dryRun ? 'garbage collection dry run finished' : 'garbage collection finished')
    return this.#summary
  }

  /** Every repository with its revisions' references loaded; counts them the first time. */
  async #scanAll (count: boolean): Promise<RepositoryScan[]> {
    const scans: RepositoryScan[] = []
    for (const name of await new RepositoryStore(this.#driver).list()) {
      const scan = await scanRepository(this.#driver, name, { tags: this.#deleteUntagged })
      await forEachLimit(scan.revisions.values(), this.#concurrency, async (link) => {
        const references = await this.#references.load(link.digest)
        if (count && references.source === 'opaque') {
          this.#summary.unreadableManifests++
          this.#log.warn({ repository: name, digest: link.digest.digest, reason: references === MISSING ? 'content missing' : 'not a manifest' }, 'manifest references unknown: keeping every blob the repository links')
        }
      })
      scans.push(scan)
      if (count) {
        this.#summary.repositories++
        this.#summary.manifests += scan.revisions.size
        this.#progress.repositories++
        this.#progress.manifests += scan.revisions.size
        this.#emit()
      }
    }
    return scans
  }

  /** Removes (or counts) a repository's untagged manifests; returns the revisions kept. */
  async #untagged (scan: RepositoryScan, removed: Map<string, RemovedManifest[]>): Promise<Set<string>> {
    if (!this.#deleteUntagged) return new Set(scan.revisions.keys())
    const referencesOf = (digest: string): ManifestReferences | undefined => this.#references.get(digest)
    const plan = planUntagged(scan, referencesOf, this.#cutoff)
    if (plan.blocked !== undefined) this.#log.warn({ repository: scan.name, reason: plan.blocked }, 'not deleting untagged manifests in this repository')
    if (plan.untagged.length === 0) return plan.kept
    const history = this.#dryRun ? new Map<string, string[]>() : await tagHistory(this.#driver, scan.name)
    const removedHere: RemovedManifest[] = []
    let keptLate = false
    for (const key of plan.untagged) {
      const link = scan.revisions.get(key)!
      const references = this.#references.get(key) ?? MISSING
      if (!this.#dryRun) {
        // Read once more just before removing: a push of the same manifest rewrites its revision link.
        if (await this.#isFresh(paths.manifestRevisionLink(scan.name, link.digest))) {
          plan.kept.add(key)
          keptLate = true
          continue
        }
        await removeManifest(this.#driver, scan.name, link.digest, references, history.get(key) ?? [], this.#changed)
        removedHere.push({ digest: link.digest, references })
      }
      this.#log.debug({ repository: scan.name, digest: key, dryRun: this.#dryRun }, 'untagged manifest deleted')
      this.#summary.untaggedManifestsDeleted++
      this.#progress.untaggedManifests++
      this.#emit()
    }
    if (removedHere.length > 0) removed.set(scan.name, removedHere)
    // A revision kept at the last moment keeps what it reaches too (the verify phase puts back any of those already removed).
    return keptLate ? reachable(scan.revisions.keys(), plan.kept, referencesOf) : plan.kept
  }

  /** Marks what the kept revisions of a repository reference, and notes its fresh links. */
  #mark (scan: RepositoryScan, kept: Set<string>, marked: Set<string>, freshLinks: Set<string>, count: boolean): void {
    let opaque = scan.unknownRevisions > 0
    for (const key of kept) {
      if (!scan.revisions.has(key)) continue
      const references = this.#references.get(key) ?? MISSING
      marked.add(key)
      for (const digest of references.blobs) marked.add(digest)
      for (const digest of references.manifests) marked.add(digest)
      if (references.subject !== undefined) marked.add(references.subject)
      if (references.source === 'opaque') opaque = true
    }
    for (const [digest, link] of scan.layers) {
      if (opaque) marked.add(digest)
      if (link.modTime >= this.#cutoff) freshLinks.add(digest)
    }
    if (count) this.#summary.manifestsMarked += [...kept].filter((key) => scan.revisions.has(key)).length
  }

  async #setAside (candidates: StoredBlob[]): Promise<StoredBlob[]> {
    const aside: StoredBlob[] = []
    await forEachLimit(candidates, this.#concurrency, async (blob) => {
      // Its data may have been written again since the scan (a blob deleted earlier, pushed again).
      if (await this.#isFresh(paths.blobData(blob.digest))) {
        this.#summary.blobsYoung++
        return
      }
      if (await setAside(this.#driver, blob.digest)) aside.push(blob)
    })
    return aside
  }

  /**
   * Reads every repository again, after everything to delete was set aside.
   * Puts back the untagged manifests that are now tagged or reached, and
   * returns the blobs that must not be deleted: referenced by a revision,
   * or named by a link younger than the grace period.
   */
  async #verify (removed: Map<string, RemovedManifest[]>): Promise<{ keep: Set<string>, scans: RepositoryScan[] }> {
    const keep = new Set<string>()
    const freshLinks = new Set<string>()
    const scans = await this.#scanAll(false)
    for (const scan of scans) {
      const removedHere = removed.get(scan.name) ?? []
      if (removedHere.length > 0) {
        const removedByKey = new Map(removedHere.map((manifest) => [manifest.digest.digest, manifest]))
        const present = [...scan.revisions.keys(), ...removedByKey.keys()]
        const roots = [...scan.revisions.keys(), ...scan.tags.values()]
        for (const key of reachable(present, roots, (digest) => this.#references.get(digest))) {
          const manifest = removedByKey.get(key)
          if (manifest === undefined || scan.revisions.has(key)) continue
          await restoreManifest(this.#driver, scan.name, manifest.digest, manifest.references, this.#changed)
          scan.revisions.set(key, { digest: manifest.digest, modTime: this.#now() })
          this.#summary.manifestsRestored++
          this.#log.info({ repository: scan.name, digest: key }, 'untagged manifest put back: a concurrent push tagged or referenced it')
        }
      }
      this.#mark(scan, new Set(scan.revisions.keys()), keep, freshLinks, false)
    }
    for (const digest of freshLinks) keep.add(digest)
    return { keep, scans }
  }

  async #deleteOrPutBack (aside: StoredBlob[], keep: Set<string>): Promise<StoredBlob[]> {
    const deleted: StoredBlob[] = []
    await forEachLimit(aside, this.#concurrency, async (blob) => {
      if (keep.has(blob.digest.digest)) {
        await putBack(this.#driver, blob.digest)
        this.#summary.blobsRestored++
        this.#log.info({ digest: blob.digest.digest }, 'blob put back: a concurrent push referenced it')
        return
      }
      if (!await discard(this.#driver, blob.digest)) return
      deleted.push(blob)
      this.#progress.blobsDeleted++
      this.#progress.bytesFreed += blob.size
      this.#log.debug({ digest: blob.digest.digest, size: blob.size }, 'blob deleted')
      this.#emit()
    })
    return deleted
  }

  /** Removes (or counts) `_layers` links to blobs that are not in storage. */
  async #removeDanglingLinks (scans: RepositoryScan[], blobs: Map<string, StoredBlob>, gone: Set<string>): Promise<void> {
    for (const scan of scans) {
      const dangling = [...scan.layers.values()].filter((link) => gone.has(link.digest.digest) || !blobs.has(link.digest.digest))
      await forEachLimit(dangling, this.#concurrency, async (link) => {
        let removed: boolean
        if (this.#dryRun) removed = link.modTime < this.#cutoff
        else removed = await removeDanglingLayerLink(this.#driver, scan.name, link.digest, this.#cutoff, this.#changed)
        if (!removed) return
        this.#summary.layerLinksRemoved++
        this.#progress.linksRemoved++
        this.#log.debug({ repository: scan.name, digest: link.digest.digest, dryRun: this.#dryRun }, 'dangling blob link removed')
        this.#emit()
      })
    }
  }

  /** True when the file was written after the cutoff; false when it is older or gone. */
  async #isFresh (path: string): Promise<boolean> {
    try {
      return (await this.#driver.stat(path)).modTime.getTime() >= this.#cutoff
    } catch (error) {
      if (isPathNotFound(error)) return false
      throw error
    }
  }

  #phase (phase: GarbageCollectPhase): void {
    if (this.#progress.phase === phase) return
    this.#progress.phase = phase
    this.#emit(true)
  }

  #emit (force = false): void {
    if (this.#onProgress === undefined) return
    const now = Date.now()
    if (!force && now - this.#lastProgress < PROGRESS_INTERVAL_MS) return
    this.#lastProgress = now
    this.#onProgress({ ...this.#progress })
  }
}
