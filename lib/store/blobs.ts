import type { Readable } from 'node:stream'
import type { RandomAccessFile, StorageDriver } from '../storage/driver.js'
import { isPathNotFound } from '../storage/errors.js'
import type { ParsedDigest } from '../digest.js'
import { deleteIfExists } from './links.js'
import { LinkFiles } from './link-files.js'
import { NoLinkCache } from './link-cache.js'
import { VersionCheckedCache } from '../cache/version-checked-cache.js'
import { paths } from './paths.js'

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
   * Moves verified upload data into place. When the blob already exists the
   * upload's copy is dropped: content-addressed data is identical.
   */
  async adopt (sourcePath: string, digest: ParsedDigest): Promise<void> {
    if (await this.stat(digest) !== undefined) {
      await deleteIfExists(this.#driver, sourcePath)
      return
    }
    await this.#driver.move(sourcePath, paths.blobData(digest))
  }
}
