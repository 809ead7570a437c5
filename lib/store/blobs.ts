import type { Readable } from 'node:stream'
import type { RandomAccessFile, StorageDriver } from '../storage/driver.js'
import { isPathNotFound } from '../storage/errors.js'
import { createDigester, type ParsedDigest } from '../digest.js'
import { deleteIfExists } from './links.js'
import { LinkFiles } from './link-files.js'
import { NoLinkCache } from './link-cache.js'
import { VersionCheckedCache } from '../cache/version-checked-cache.js'
import { paths } from './paths.js'

/** Up to this size, an existing blob a commit finds in place is re-hashed before it is trusted: a few milliseconds. */
const VERIFY_EXISTING_BYTES = 1024 * 1024

/** Blob sizes remembered (about 200 bytes each). */
const SIZE_CACHE_ENTRIES = 100_000

export interface BlobDescriptor {
  digest: string
  size: number
}

/** Blobs: content-addressed data shared by all repositories, visible in a repository only through its link. */
export class BlobStore {
  readonly #driver: StorageDriver
  readonly #links: LinkFiles
  /** Sizes by data path, where the driver can tell cheaply that a file is unchanged. */
  readonly #sizes: VersionCheckedCache<BlobDescriptor> | undefined

  constructor (driver: StorageDriver, links = new LinkFiles(driver, new NoLinkCache())) {
    this.#driver = driver
    this.#links = links
    if (driver.version !== undefined) this.#sizes = new VersionCheckedCache((path) => driver.version!(path), SIZE_CACHE_ENTRIES)
  }

  /** The blob in global storage, or undefined. */
  async stat (digest: ParsedDigest): Promise<BlobDescriptor | undefined> {
    const path = paths.blobData(digest)
    if (this.#sizes === undefined) return await this.#statStorage(digest, path)
    return await this.#sizes.read(path, async () => await this.#statStorage(digest, path))
  }

  async #statStorage (digest: ParsedDigest, path: string): Promise<BlobDescriptor | undefined> {
    try {
      const info = await this.#driver.stat(path)
      return info.isDir ? undefined : { digest: digest.digest, size: info.size }
    } catch (error) {
      if (isPathNotFound(error)) return undefined
      throw error
    }
  }

  /** The blob as seen from a repository: undefined unless it is linked there and its data exists. */
  async statInRepository (name: string, digest: ParsedDigest): Promise<BlobDescriptor | undefined> {
    if (!await this.isLinked(name, digest)) return undefined
    return await this.stat(digest)
  }

  async isLinked (name: string, digest: ParsedDigest): Promise<boolean> {
    return (await this.#links.read(paths.layerLink(name, digest)))?.digest === digest.digest
  }

  /** Makes a blob visible in a repository; the blob's data must already be in place. */
  async link (name: string, digest: ParsedDigest): Promise<void> {
    await this.#links.write(paths.layerLink(name, digest), digest)
  }

  /** Removes the blob from a repository; false when it was not linked there. */
  async unlink (name: string, digest: ParsedDigest): Promise<boolean> {
    if (!await this.isLinked(name, digest)) return false
    // Only the link file goes: removing its directory could race a concurrent push writing a new link there.
    await this.#links.remove(paths.layerLink(name, digest))
    return true
  }

  /** Stores small content (a manifest) as a blob, atomically; content-addressed, so an existing copy is kept. */
  async putSmall (digest: ParsedDigest, content: Uint8Array): Promise<void> {
    if (await this.stat(digest) !== undefined) return
    await this.#driver.putContent(paths.blobData(digest), content)
  }

  async getSmall (digest: ParsedDigest): Promise<Buffer | undefined> {
    try {
      return await this.#driver.getContent(paths.blobData(digest))
    } catch (error) {
      if (isPathNotFound(error)) return undefined
      throw error
    }
  }

  /** A URL the client can fetch the blob's data from directly; undefined when the driver cannot sign one. */
  async redirectURL (digest: ParsedDigest): Promise<string | undefined> {
    return await this.#driver.redirectURL?.(paths.blobData(digest), 'GET')
  }

  /** The blob's data opened for positioned reads; undefined when the driver only streams (use `reader`). */
  async open (digest: ParsedDigest): Promise<RandomAccessFile | undefined> {
    return await this.#driver.openFile?.(paths.blobData(digest))
  }

  async reader (digest: ParsedDigest, offset?: number, length?: number): Promise<Readable> {
    return await this.#driver.reader(paths.blobData(digest), offset, length)
  }

  /**
   * Moves verified upload data of `size` bytes into place; the move happens only
   * if the data still has that size (see `StorageDriver.move`). When the blob
   * already exists the upload's copy is dropped, content-addressed data being
   * identical, but only once the existing copy is checked: its size always, its
   * digest where that is cheap. A copy that fails is replaced by the upload.
   */
  async adopt (sourcePath: string, digest: ParsedDigest, size: number): Promise<AdoptResult> {
    const existing = await this.stat(digest)
    if (existing === undefined) {
      await this.#driver.move(sourcePath, paths.blobData(digest), { size })
      return {}
    }
    const fault = existing.size !== size ? 'size' : size <= VERIFY_EXISTING_BYTES && !await this.#holdsDigest(digest) ? 'digest' : undefined
    if (fault === undefined) {
      await deleteIfExists(this.#driver, sourcePath)
      return {}
    }
    await this.#driver.move(sourcePath, paths.blobData(digest), { size })
    return { replaced: { size: existing.size, fault } }
  }

  /** Whether the blob's stored bytes hash to its digest (reads them all). */
  async #holdsDigest (digest: ParsedDigest): Promise<boolean> {
    const hash = createDigester(digest.algorithm)
    try {
      for await (const chunk of await this.#driver.reader(paths.blobData(digest))) hash.update(chunk as Buffer)
    } catch (error) {
      if (isPathNotFound(error)) return false
      throw error
    }
    return hash.digest('hex') === digest.hex
  }
}

/** What `adopt` found: `replaced` when a blob was in place whose bytes were not its digest's, replaced by the verified upload. */
export interface AdoptResult {
  replaced?: { size: number, fault: 'size' | 'digest' }
}
