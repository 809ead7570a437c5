import { randomUUID, type Hash } from 'node:crypto'
import type { FileWriter, StorageDriver } from '../storage/driver.js'
import { isPathNotFound } from '../storage/errors.js'
import { isFileChanged } from '../storage/file-changed-error.js'
import { createDigester, hashing, type ParsedDigest } from '../digest.js'
import { RegistryError } from '../../errors/index.js'
import { KeyedMutex } from '../keyed-mutex.js'
import { measured } from '../body.js'
import type { AdoptResult, BlobDescriptor, BlobStore } from './blobs.js'
import { paths } from './paths.js'

export interface UploadStatus {
  name: string
  uuid: string
  /** Bytes received so far. */
  size: number
  startedAt: Date
}

export interface ChunkOptions {
  /** Where the client says this chunk starts (from Content-Range); must equal the bytes held. */
  start?: number
  /** How long the client says this chunk is (Content-Length or Content-Range); checked against what arrives. */
  length?: number
  /** Largest body accepted in one request. */
  limit?: number
  /** How many bytes the client's upload state says are held; a disagreement with storage is RANGE_INVALID. */
  expectedSize?: number
}

/** A committed blob; `replaced` tells what a commit found in the blob's place and replaced with the verified upload. */
export interface CommittedBlob extends BlobDescriptor {
  replaced?: AdoptResult['replaced']
}

const UUID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/
/** How many in-progress sha256 states are kept to spare a re-read at commit. */
const MAX_CACHED_HASHES = 1024

interface HashState {
  offset: number
  hash: Hash
}

/**
 * Blob uploads under `_uploads/<uuid>/`. Requests to one upload are
 * serialised in this process; the bytes in storage are the truth, so any
 * instance sharing the storage can continue an upload. The running sha256
 * is kept in memory only as a shortcut: when it is missing or behind, the
 * digest is recomputed from the stored bytes at commit.
 */
export class UploadStore {
  readonly #driver: StorageDriver
  readonly #blobs: BlobStore
  readonly #mutex = new KeyedMutex()
  readonly #hashes = new Map<string, HashState>()

  readonly #maxAge: number

  /** `maxAge`: milliseconds after which an unfinished upload is refused on resume. */
  constructor (driver: StorageDriver, blobs: BlobStore, maxAge = Number.POSITIVE_INFINITY) {
    this.#driver = driver
    this.#blobs = blobs
    this.#maxAge = maxAge
  }

  static isValidId (uuid: string): boolean {
    return UUID_PATTERN.test(uuid)
  }

  async create (name: string): Promise<UploadStatus> {
    const uuid = randomUUID()
    const startedAt = new Date()
    await this.#driver.putContent(paths.uploadStartedAt(name, uuid), Buffer.from(startedAt.toISOString(), 'utf8'))
    return { name, uuid, size: 0, startedAt }
  }

  /** The upload as storage holds it; BLOB_UPLOAD_UNKNOWN when there is none. */
  async status (name: string, uuid: string): Promise<UploadStatus> {
    if (!UploadStore.isValidId(uuid)) throw unknownUpload(uuid)
    let startedAt: Date
    try {
      const raw = (await this.#driver.getContent(paths.uploadStartedAt(name, uuid))).toString('utf8').trim()
      startedAt = new Date(raw)
      if (Number.isNaN(startedAt.getTime())) startedAt = new Date(0)
    } catch (error) {
      if (isPathNotFound(error)) throw unknownUpload(uuid)
      throw error
    }
    return { name, uuid, size: await this.#dataSize(name, uuid), startedAt }
  }

  /** The status of an upload that may still be resumed: BLOB_UPLOAD_UNKNOWN when missing or expired. */
  async activeStatus (name: string, uuid: string): Promise<UploadStatus> {
    return await this.#checkedStatus(name, uuid, {})
  }

  /** Whether an upload is older than this store resumes; its bytes stay until the purge removes them. */
  isExpired (status: UploadStatus, now = Date.now()): boolean {
    return now - status.startedAt.getTime() > this.#maxAge
  }

  /** Appends one chunk (a PATCH); resolves with the status after it. */
  async append (name: string, uuid: string, body: AsyncIterable<Uint8Array>, options: ChunkOptions = {}): Promise<UploadStatus> {
    return await this.#mutex.run(`${name}\u0000${uuid}`, async () => {
      const status = await this.#checkedStatus(name, uuid, options)
      status.size = await this.#write(status, body, options, false)
      return status
    })
  }

  /**
   * Completes an upload (the final PUT): appends the last chunk if any,
   * verifies the digest against the bytes in storage, moves the data into
   * `blobs/` and links it into the repository. A mismatch discards the upload.
   */
  async commit (name: string, uuid: string, digest: ParsedDigest, body?: AsyncIterable<Uint8Array>, options: ChunkOptions = {}): Promise<CommittedBlob> {
    return await this.#mutex.run(`${name}\u0000${uuid}`, async () => {
      const status = await this.#checkedStatus(name, uuid, options)
      if (body !== undefined) status.size = await this.#write(status, body, options, true)
      else if (status.size > 0) await this.#makeDurable(status)
      const actual = await this.#digestOf(status, digest)
      if (actual !== digest.hex) {
        await this.#remove(name, uuid)
        throw new RegistryError('DIGEST_INVALID', { detail: { expected: digest.digest, actual: `${digest.algorithm}:${actual}` } })
      }
      if (status.size === 0) await this.#driver.putContent(paths.uploadData(name, uuid), Buffer.alloc(0))
      let adopted: AdoptResult
      try {
        adopted = await this.#blobs.adopt(paths.uploadData(name, uuid), digest, status.size)
      } catch (error) {
        if (!isFileChanged(error)) throw error
        // Another request (on another instance) appended after the digest was verified: nothing moved.
        throw new RegistryError('BLOB_UPLOAD_INVALID', { message: 'the upload was written to while it was being committed', detail: { uuid, verified: error.expectedSize, size: error.actualSize } })
      }
      await this.#blobs.link(name, digest)
      await this.#remove(name, uuid)
      return { digest: digest.digest, size: status.size, ...(adopted.replaced === undefined ? {} : { replaced: adopted.replaced }) }
    })
  }

  /** Cancels an upload; BLOB_UPLOAD_UNKNOWN when there is none. */
  async cancel (name: string, uuid: string): Promise<void> {
    await this.#mutex.run(`${name}\u0000${uuid}`, async () => {
      await this.status(name, uuid)
      await this.#remove(name, uuid)
    })
  }

  async #checkedStatus (name: string, uuid: string, options: ChunkOptions): Promise<UploadStatus> {
    const status = await this.status(name, uuid)
    if (this.isExpired(status)) {
      throw new RegistryError('BLOB_UPLOAD_UNKNOWN', { message: 'upload expired: start a new one', detail: { uuid, startedAt: status.startedAt.toISOString() } })
    }
    if (options.expectedSize !== undefined && options.expectedSize !== status.size) {
      throw new RegistryError('RANGE_INVALID', {
        message: `upload state says ${options.expectedSize} bytes but the upload holds ${status.size}`,
        headers: { Range: rangeHeader(status.size) },
        detail: { expected: options.expectedSize, size: status.size }
      })
    }
    return status
  }

  /**
   * Appends a chunk. Only the final one (`durable`) waits for the disk: a PATCH's bytes
   * survive a crash of the process, and should the machine lose them the client resumes
   * from the size the status reports; the blob itself is flushed before it becomes visible.
   */
  async #write (status: UploadStatus, body: AsyncIterable<Uint8Array>, options: ChunkOptions, durable: boolean): Promise<number> {
    const writer = await this.#openWriter(status)
    // The writer holds the file's lock: what it holds now is the truth, whatever it held when the status was read.
    const held = writer.size
    const mismatch = options.start !== undefined && options.start !== held
      ? `chunk starts at ${options.start} but the upload holds ${held} bytes`
      : options.expectedSize !== undefined && options.expectedSize !== held
        ? `upload state says ${options.expectedSize} bytes but the upload holds ${held}`
        : undefined
    if (mismatch !== undefined) {
      await writer.close()
      throw new RegistryError('RANGE_INVALID', { message: mismatch, headers: { Range: rangeHeader(held) }, detail: { start: options.start, size: held } })
    }
    status.size = held
    const key = `${status.name}\u0000${status.uuid}`
    let state = this.#hashes.get(key)
    if (state === undefined && held === 0) state = { offset: 0, hash: createDigester('sha256') }
    this.#hashes.delete(key)
    const hashed = state !== undefined && state.offset === held
    const counted = measured(body, { limit: options.limit, expected: options.length })
    const source = hashed ? hashing(counted, state!.hash) : counted
    try {
      await writer.write(source)
    } catch (error) {
      // Bytes that reached storage stay: a client resumes from the status it asks for.
      await writer.close()
      throw error
    }
    if (durable) await writer.commit()
    else await writer.close()
    if (hashed) {
      state!.offset = writer.size
      this.#remember(key, state!)
    }
    return writer.size
  }

  /**
   * Opens the upload's data for appending. The driver fences writers across
   * instances: a file committed meanwhile (by any instance) is not found, and
   * that upload is over.
   */
  async #openWriter (status: UploadStatus): Promise<FileWriter> {
    try {
      return await this.#driver.writer(paths.uploadData(status.name, status.uuid), true)
    } catch (error) {
      if (isPathNotFound(error)) throw unknownUpload(status.uuid)
      throw error
    }
  }

  /** Flushes what earlier PATCHes wrote (a writer that writes nothing and commits). */
  async #makeDurable (status: UploadStatus): Promise<void> {
    const writer = await this.#openWriter(status)
    await writer.commit()
  }

  async #digestOf (status: UploadStatus, digest: ParsedDigest): Promise<string> {
    const key = `${status.name}\u0000${status.uuid}`
    const state = this.#hashes.get(key)
    this.#hashes.delete(key)
    if (digest.algorithm === 'sha256' && state !== undefined && state.offset === status.size) return state.hash.digest('hex')
    const hash = createDigester(digest.algorithm)
    if (status.size > 0) {
      // Exactly the bytes the commit moves (it checks the size under the writer lock): never what a writer appends meanwhile.
      for await (const chunk of await this.#driver.reader(paths.uploadData(status.name, status.uuid), 0, status.size)) hash.update(chunk as Buffer)
    }
    return hash.digest('hex')
  }

  #remember (key: string, state: HashState): void {
    this.#hashes.set(key, state)
    if (this.#hashes.size > MAX_CACHED_HASHES) {
      const oldest = this.#hashes.keys().next().value
      if (oldest !== undefined) this.#hashes.delete(oldest)
    }
  }

  async #dataSize (name: string, uuid: string): Promise<number> {
    try {
      return (await this.#driver.stat(paths.uploadData(name, uuid))).size
    } catch (error) {
      if (isPathNotFound(error)) return 0
      throw error
    }
  }

  async #remove (name: string, uuid: string): Promise<void> {
    this.#hashes.delete(`${name}\u0000${uuid}`)
    try {
      await this.#driver.delete(paths.uploadDir(name, uuid))
    } catch (error) {
      if (!isPathNotFound(error)) throw error
    }
  }
}

/** The `Range` header of an upload holding `size` bytes: `0-<last byte>` (`0-0` when empty, as distribution answers). */
export function rangeHeader (size: number): string {
  return `0-${Math.max(size - 1, 0)}`
}

function unknownUpload (uuid: string): RegistryError {
  return new RegistryError('BLOB_UPLOAD_UNKNOWN', { detail: { uuid } })
}
