import { createDigester, parseDigest, type ParsedDigest } from '../digest.js'
import { RegistryError } from '../../errors/index.js'
import { parseManifest, type ParsedManifest } from '../manifest/parse.js'
import type { BlobStore } from './blobs.js'
import type { TagStore } from './tags.js'
import type { ReferrersIndex } from './referrers.js'
import type { LinkFiles } from './link-files.js'
import { LruCache } from './lru.js'
import { KeyedMutex } from '../keyed-mutex.js'
import { paths } from './paths.js'
import { filterBounded, forEachBounded } from '../storage-concurrency.js'

export interface StoredManifest {
  digest: ParsedDigest
  /** The exact bytes that were pushed. */
  content: Buffer
  parsed: ParsedManifest
}

interface ManifestContent {
  content: Buffer
  parsed: ParsedManifest
}

/** How many manifests (immutable by digest) are kept in memory. */
const CACHE_ENTRIES = 2048

/**
 * A manifest stored before this registry existed (for example schema1 pushed
 * to distribution) is still served as it is, with the media type it names.
 */
function parseStored (content: Buffer): ParsedManifest {
  try {
    return parseManifest(content, undefined)
  } catch {
    let mediaType = 'application/vnd.docker.distribution.manifest.v1+prettyjws'
    try {
      const body = JSON.parse(content.toString('utf8')) as { mediaType?: unknown }
      if (typeof body.mediaType === 'string') mediaType = body.mediaType
    } catch {}
    return { kind: 'image', mediaType, blobs: [], manifests: [] }
  }
}

/** Manifests: bytes stored as blobs, visible in a repository through `_manifests/revisions`. */
export class ManifestStore {
  readonly #links: LinkFiles
  readonly #blobs: BlobStore
  readonly #tags: TagStore
  readonly #referrers: ReferrersIndex
  readonly #cache = new LruCache<string, ManifestContent>(CACHE_ENTRIES)
  // Writes to one repository's manifests and tags are serialised in this process, so a DELETE
  // racing a PUT cannot leave a tag naming a revision that was just removed.
  readonly #writes = new KeyedMutex()

  constructor (links: LinkFiles, blobs: BlobStore, tags: TagStore, referrers: ReferrersIndex) {
    this.#links = links
    this.#blobs = blobs
    this.#tags = tags
    this.#referrers = referrers
  }

  async exists (name: string, digest: ParsedDigest): Promise<boolean> {
    return (await this.#links.read(paths.manifestRevisionLink(name, digest)))?.digest === digest.digest
  }

  /** A manifest of a repository by digest; undefined unless it is linked there. */
  async get (name: string, digest: ParsedDigest): Promise<StoredManifest | undefined> {
    if (!await this.exists(name, digest)) return undefined
    const loaded = await this.#load(digest)
    return loaded === undefined ? undefined : { digest, ...loaded }
  }

  /**
   * Stores a manifest: parse and validate, check the digest the client named,
   * check every reference resolves in the repository, then write the bytes,
   * the revision link, the referrers entry and the tags, in that order, so
   * nothing points at what is not yet there.
   */
  async put (name: string, content: Buffer, contentType: string | undefined, target: { digest?: ParsedDigest, tags: string[] }): Promise<StoredManifest> {
    const parsed = parseManifest(content, contentType)
    const algorithm = target.digest?.algorithm ?? 'sha256'
    const hex = createDigester(algorithm).update(content).digest('hex')
    if (target.digest !== undefined && target.digest.hex !== hex) {
      throw new RegistryError('DIGEST_INVALID', { message: 'manifest content does not match the digest in the URL', detail: { expected: target.digest.digest, actual: `${algorithm}:${hex}` } })
    }
    const digest = target.digest ?? parseDigest(`${algorithm}:${hex}`)!
    await this.#checkReferences(name, parsed)

    await this.#blobs.putSmall(digest, content)
    this.#cache.set(digest.digest, { content, parsed })
    await this.#writes.run(name, async () => {
      const existed = await this.exists(name, digest)
      await this.#links.write(paths.manifestRevisionLink(name, digest), digest)
      const subject = parsed.subject === undefined ? undefined : parseDigest(parsed.subject.digest)
      if (subject !== undefined) await this.#referrers.add(name, subject, digest)
      // Online garbage collection (lib/gc/garbage-collect.ts): a collector may have set aside a
      // blob this manifest needs after #checkReferences. Now that the revision link is visible
      // to the collector's verify pass, check again: either this finds the blob gone and
      // nothing is acknowledged, or the collector finds the revision and puts the blob back.
      try {
        await this.#recheck(name, digest, parsed)
      } catch (error) {
        if (!existed) {
          if (subject !== undefined) await this.#referrers.remove(name, subject, digest)
          await this.#links.remove(paths.manifestRevisionLink(name, digest))
        }
        throw error
      }
      for (const tag of target.tags) await this.#tags.tag(name, tag, digest)
      if (target.tags.length > 0 && !await this.exists(name, digest)) {
        // A collector deleting untagged manifests removed the revision before it could see the tag: write it again, check again.
        await this.#links.write(paths.manifestRevisionLink(name, digest), digest)
        if (subject !== undefined) await this.#referrers.add(name, subject, digest)
        await this.#recheck(name, digest, parsed)
      }
    })
    return { digest, content, parsed }
  }

  /** Removes a tag, leaving the manifest; false when there was no such tag. */
  async untag (name: string, tag: string): Promise<boolean> {
    return await this.#writes.run(name, async () => await this.#tags.untag(name, tag))
  }

  /** Deletes a manifest and every tag pointing at it; false when it was not in the repository. */
  async delete (name: string, digest: ParsedDigest): Promise<boolean> {
    return await this.#writes.run(name, async () => {
      const stored = await this.get(name, digest)
      if (stored === undefined) return false
      await forEachBounded(await this.#tags.tagsOf(name, digest), async (tag) => { await this.#tags.untag(name, tag) })
      const subject = stored.parsed.subject === undefined ? undefined : parseDigest(stored.parsed.subject.digest)
      if (subject !== undefined) await this.#referrers.remove(name, subject, digest)
      await this.#links.remove(paths.manifestRevisionLink(name, digest), paths.manifestRevisionDir(name, digest))
      return true
    })
  }

  /** After the revision link is written: the manifest's own bytes and everything it references must still be there. */
  async #recheck (name: string, digest: ParsedDigest, parsed: ParsedManifest): Promise<void> {
    if (await this.#blobs.stat(digest) === undefined) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', { message: 'the manifest was removed by garbage collection while it was being stored: push it again', detail: { digests: [digest.digest] } })
    }
    await this.#checkReferences(name, parsed)
  }

  /**
   * Every blob and child manifest the manifest references must be in the
   * repository. Checked a bounded number at once (lib/storage-concurrency.ts),
   * each distinct digest once, and no new check starts after the first
   * missing one: a 37,000-layer manifest costs bounded descriptors and memory
   * in proportion to itself, and a refusal names the few digests found missing.
   */
  async #checkReferences (name: string, parsed: ParsedManifest): Promise<void> {
    const blobs = new Set(parsed.blobs.map((descriptor) => descriptor.digest))
    const manifests = new Set(parsed.manifests.map((descriptor) => descriptor.digest))
    const references = function * (): Generator<[string, 'blob' | 'manifest']> {
      for (const reference of blobs) yield [reference, 'blob']
      for (const reference of manifests) yield [reference, 'manifest']
    }
    const unknown = await filterBounded(references(), async ([reference, kind]) => {
      const digest = parseDigest(reference)
      if (digest === undefined) return true
      return kind === 'blob' ? await this.#blobs.statInRepository(name, digest) === undefined : !await this.exists(name, digest)
    }, { enough: 1 })
    if (unknown.length > 0) {
      const digests = unknown.map(([reference]) => reference.slice(0, 200))
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', { message: 'manifest references blobs or manifests unknown to the repository (detail names the first found)', detail: { digests } })
    }
  }

  async #load (digest: ParsedDigest): Promise<ManifestContent | undefined> {
    const cached = this.#cache.get(digest.digest)
    if (cached !== undefined) return cached
    const content = await this.#blobs.getSmall(digest)
    if (content === undefined) return undefined
    const loaded = { content, parsed: parseStored(content) }
    this.#cache.set(digest.digest, loaded)
    return loaded
  }
}
