import type { StorageDriver } from '../storage/driver.js'
import { isPathNotFound } from '../storage/errors.js'
import type { ParsedDigest } from '../digest.js'
import { paths } from '../store/paths.js'
import { manifestReferences, type ManifestReferences } from './references.js'
import { quarantinePath } from './quarantine.js'

/** The references of a manifest whose content is not in storage: nothing is known, as for an opaque one. */
export const MISSING: ManifestReferences = Object.freeze({ source: 'opaque', blobs: [], manifests: [] }) as ManifestReferences

/**
 * Manifest references by digest, read once per collection: manifests are
 * immutable, and many repositories share them. Content set aside by a
 * collection is read too, so a manifest in flight is never taken for empty.
 * A manifest whose content is missing reads as {@link MISSING}.
 */
export class ManifestReferencesCache {
  readonly #driver: StorageDriver
  readonly #known = new Map<string, ManifestReferences>()

  constructor (driver: StorageDriver) {
    this.#driver = driver
  }

  get (digest: string): ManifestReferences | undefined {
    return this.#known.get(digest)
  }

  async load (digest: ParsedDigest): Promise<ManifestReferences> {
    const known = this.#known.get(digest.digest)
    if (known !== undefined) return known
    const content = await this.#read(paths.blobData(digest)) ?? await this.#read(quarantinePath(digest))
    // Not remembered when missing: a later pass may find it pushed again.
    if (content === undefined) return MISSING
    const references = manifestReferences(content)
    this.#known.set(digest.digest, references)
    return references
  }

  async #read (path: string): Promise<Buffer | undefined> {
    try {
      return await this.#driver.getContent(path)
    } catch (error) {
      if (isPathNotFound(error)) return undefined
      throw error
    }
  }
}
