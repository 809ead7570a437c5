import { Agent as HttpsAgent } from 'node:https'
import { Readable } from 'node:stream'
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand
} from '@aws-sdk/client-s3'
import type { CompletedPart, S3ClientConfig } from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { isValidPath } from './driver.js'
import type { FileInfo, FileWriter, MoveOptions, StorageDriver } from './driver.js'
import { FileChangedError } from './file-changed-error.js'
import { InvalidOffsetError, InvalidPathError, PathNotFoundError, StorageError, StorageFullError } from './errors.js'
import { resolveS3Options, S3_MAX_PART_SIZE, S3_MAX_PARTS } from './s3-options.js'
import type { ResolvedS3Options, S3DriverOptions } from './s3-options.js'

export { resolveS3Options, S3OptionError, S3_DEFAULTS, S3_MAX_PART_SIZE, S3_MAX_PARTS, S3_MIN_PART_SIZE } from './s3-options.js'
export type { S3DriverOptions } from './s3-options.js'

/** How long a presigned URL from `redirectURL` stays valid (as in distribution). */
export const S3_REDIRECT_EXPIRY_SECONDS = 20 * 60

/** ListObjectsV2, ListMultipartUploads and DeleteObjects handle at most this many keys per call. */
const LIST_MAX = 1000
/** A writer's buffer starts this small and doubles up to `chunksize`: small files never cost a whole chunk of memory. */
const INITIAL_BUFFER = 64 * 1024
/** Copy parts that carry an existing object into a resumed writer stay below this count, leaving the rest for new data. */
const MAX_HEAD_COPY_PARTS = 1000

function clientConfig (options: ResolvedS3Options): S3ClientConfig {
  return {
    region: options.region,
    ...(options.endpoint === undefined ? { tls: options.secure } : { endpoint: options.endpoint }),
    forcePathStyle: options.forcePathStyle,
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    // Checksums only where S3 requires them: S3-compatible servers vary in which newer checksum headers they know.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(options.skipVerify ? { requestHandler: { httpsAgent: new HttpsAgent({ keepAlive: true, rejectUnauthorized: false }) } } : {})
  }
}

function errorName (error: unknown): string | undefined {
  const name = (error as { name?: unknown } | null)?.name
  return typeof name === 'string' ? name : undefined
}

function httpStatus (error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode
}

/** A missing key (not a missing bucket or upload: those are configuration or writer errors). */
function isMissingKey (error: unknown): boolean {
  const name = errorName(error)
  if (name === 'NoSuchKey' || name === 'NotFound') return true
  return httpStatus(error) === 404 && name !== 'NoSuchBucket' && name !== 'NoSuchUpload'
}

function isInvalidRange (error: unknown): boolean {
  return errorName(error) === 'InvalidRange' || httpStatus(error) === 416
}

/** S3 errors as driver errors: a missing key is PathNotFoundError, a full quota StorageFullError, the rest StorageError naming the path. */
function mapError (error: unknown, path: string, operation: string): Error {
  if (error instanceof StorageError) return error
  if (isMissingKey(error)) return new PathNotFoundError(path, { cause: error })
  const name = errorName(error) ?? 'Error'
  if (name === 'QuotaExceeded' || httpStatus(error) === 507) return new StorageFullError(path, { cause: error })
  const message = (error as { message?: unknown } | null)?.message
  return new StorageError(`s3 ${operation} ${path}: ${name}${typeof message === 'string' && message !== '' && message !== name && message !== 'UnknownError' ? `: ${message}` : ''}`, path, { cause: error })
}

function validate (path: string): void {
  if (typeof path !== 'string' || !isValidPath(path)) throw new InvalidPathError(String(path))
}

const COMPONENT = /^[A-Za-z0-9._-]+$/

function childPath (dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`
}

/** `bytes=first-last`, inclusive. */
function byteRange (first: number, last: number): string {
  return `bytes=${first}-${last}`
}

/**
 * Runs `count` tasks, at most `limit` at a time, in order of index; resolves with
 * their results by index. The first failure stops new tasks and is rethrown once
 * the running ones settle.
 */
async function runLimited<T> (count: number, limit: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count)
  let next = 0
  let failure: { error: unknown } | undefined
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < count) {
      const index = next++
      try {
        results[index] = await task(index)
      } catch (error) {
        failure ??= { error }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker))
  if (failure !== undefined) throw failure.error
  return results
}

/** Splits `size` bytes into `parts` near-equal ranges, as [first, last] (inclusive). */
function evenRanges (size: number, parts: number): Array<[number, number]> {
  const base = Math.floor(size / parts)
  const extra = size - base * parts
  const ranges: Array<[number, number]> = []
  let first = 0
  for (let i = 0; i < parts; i++) {
    const length = base + (i < extra ? 1 : 0)
    ranges.push([first, first + length - 1])
    first += length
  }
  return ranges
}

/**
 * The byte ranges (inclusive) that carry an existing object of `size` bytes into a
 * resumed writer's upload by UploadPartCopy. They are followed by new parts, so every
 * one must meet the minimum part size: near-equal ranges of at least `copyChunkSize`
 * (itself at least the minimum), at most 5 GiB, and at most 1,000 of them while that
 * keeps them under 5 GiB (the rest of the 10,000 part numbers are for new data).
 * `size` must be at least the minimum part size.
 */
export function headCopyRanges (size: number, copyChunkSize: number): Array<[number, number]> {
  const chunk = Math.max(copyChunkSize, Math.ceil(size / MAX_HEAD_COPY_PARTS))
  const count = Math.max(1, Math.floor(size / chunk), Math.ceil(size / S3_MAX_PART_SIZE))
  return evenRanges(size, count)
}

/**
 * The byte ranges (inclusive) of a multipart copy of `size` bytes: parts of
 * `copyChunkSize`, the last one shorter; bigger parts when 10,000 would not do.
 */
export function multipartCopyRanges (size: number, copyChunkSize: number): Array<[number, number]> {
  const chunk = Math.max(copyChunkSize, Math.ceil(size / S3_MAX_PARTS))
  const ranges: Array<[number, number]> = []
  for (let first = 0; first < size; first += chunk) ranges.push([first, Math.min(size, first + chunk) - 1])
  return ranges
}

interface ChildEntry {
  name: string
  isDir: boolean
  size: number
  modTime: Date
}

/**
 * A driver over an S3 bucket (AWS or an S3-compatible server such as Ceph RGW or MinIO),
 * with distribution's key layout: driver path `/x/y` is the key `<rootdirectory>/x/y`,
 * so a bucket distribution's `s3` driver wrote can be served, and the other way round.
 *
 * Directories are implied by the keys below them. `putContent` is one PutObject
 * (atomic). Writers buffer one part (`chunksize`) in memory and upload full parts
 * through a multipart upload; `commit` and `close` both make the file readable (the
 * contract of {@link FileWriter}: what `close` keeps is readable and can be appended to,
 * from this instance or any other sharing the bucket). See {@link S3Writer}.
 */
export class S3Driver implements StorageDriver {
  readonly name = 's3'
  readonly client: S3Client
  readonly bucket: string
  readonly #options: ResolvedS3Options

  /** Throws S3OptionError (a TypeError) naming the first unusable option. */
  constructor (options: S3DriverOptions) {
    this.#options = resolveS3Options(options)
    this.bucket = this.#options.bucket
    this.client = new S3Client(clientConfig(this.#options))
  }

  /** The resolved part and copy sizes, for logs and tests. */
  get settings (): { rootPrefix: string, chunkSize: number, minPartSize: number, copyChunkSize: number, copyThreshold: number, copyConcurrency: number } {
    const { rootPrefix, chunkSize, minPartSize, copyChunkSize, copyThreshold, copyConcurrency } = this.#options
    return { rootPrefix, chunkSize, minPartSize, copyChunkSize, copyThreshold, copyConcurrency }
  }

  /** The object key of a driver path (not for `/`). */
  key (path: string): string {
    return this.#options.rootPrefix + path.slice(1)
  }

  /** The key prefix of everything below a directory. */
  #dirPrefix (path: string): string {
    return path === '/' ? this.#options.rootPrefix : `${this.key(path)}/`
  }

  /** `x-amz-copy-source`: bucket and URL-encoded key. */
  copySource (key: string): string {
    return `${this.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`
  }

  /** The object's size, modification time and ETag; undefined when there is none. */
  async head (path: string, operation = 'stat'): Promise<{ size: number, modTime: Date, etag?: string } | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(path) }))
      return { size: out.ContentLength ?? 0, modTime: out.LastModified ?? new Date(0), ...(out.ETag === undefined || out.ETag === '' ? {} : { etag: out.ETag }) }
    } catch (error) {
      if (isMissingKey(error)) return undefined
      throw mapError(error, path, operation)
    }
  }

  async getContent (path: string): Promise<Buffer> {
    validate(path)
    if (path === '/') throw new PathNotFoundError(path)
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(path) }))
      if (out.Body === undefined) return Buffer.alloc(0)
      const bytes = await out.Body.transformToByteArray()
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    } catch (error) {
      throw mapError(error, path, 'getContent')
    }
  }

  async putContent (path: string, content: Uint8Array): Promise<void> {
    validate(path)
    if (path === '/') throw new InvalidPathError(path)
    try {
      await this.client.send(new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.key(path),
        Body: content,
        ContentLength: content.byteLength,
        ContentType: 'application/octet-stream'
      }))
    } catch (error) {
      throw mapError(error, path, 'putContent')
    }
  }

  async reader (path: string, offset = 0, length?: number): Promise<Readable> {
    validate(path)
    if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
      throw new RangeError(`invalid length ${length} for ${path}`)
    }
    if (path === '/') throw new PathNotFoundError(path)
    if (!Number.isSafeInteger(offset) || offset < 0) throw new InvalidOffsetError(path, offset)
    if (length === 0) {
      // Nothing to read, but the file must exist and the offset be inside it.
      const info = await this.head(path, 'reader')
      if (info === undefined) throw new PathNotFoundError(path)
      if (offset > info.size) throw new InvalidOffsetError(path, offset)
      return Readable.from([], { objectMode: false })
    }
    const range = offset === 0 && length === undefined
      ? undefined
      : length === undefined ? `bytes=${offset}-` : byteRange(offset, offset + length - 1)
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(path), ...(range === undefined ? {} : { Range: range }) }))
      if (out.Body === undefined) return Readable.from([], { objectMode: false })
      return out.Body as unknown as Readable
    } catch (error) {
      if (!isInvalidRange(error)) throw mapError(error, path, 'reader')
    }
    // 416: the range starts at or past the end. At the end is an empty read; past it is an error.
    const info = await this.head(path, 'reader')
    if (info === undefined) throw new PathNotFoundError(path)
    if (offset > info.size) throw new InvalidOffsetError(path, offset)
    return Readable.from([], { objectMode: false })
  }

  async writer (path: string, append: boolean): Promise<FileWriter> {
    validate(path)
    if (path === '/') throw new InvalidPathError(path)
    if (!append) return new S3Writer(this, this.#options, path, { existing: undefined })
    const existing = await this.head(path, 'writer')
    if (existing === undefined || existing.size === 0 || existing.size >= this.#options.minPartSize) {
      return new S3Writer(this, this.#options, path, { existing })
    }
    // A small file cannot be a part of its own: read it back and upload it again as the start of the first part.
    let content: Buffer
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(path), ...(existing.etag === undefined ? {} : { IfMatch: existing.etag }) }))
      const bytes = out.Body === undefined ? new Uint8Array(0) : await out.Body.transformToByteArray()
      content = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    } catch (error) {
      throw mapError(error, path, 'writer')
    }
    return new S3Writer(this, this.#options, path, { existing, content })
  }

  async stat (path: string): Promise<FileInfo> {
    validate(path)
    if (path === '/') return { path, size: 0, modTime: new Date(0), isDir: true }
    const file = await this.head(path)
    if (file !== undefined) return { path, size: file.size, modTime: file.modTime, isDir: false }
    try {
      const out = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.#dirPrefix(path), MaxKeys: 1 }))
      const first = out.Contents?.[0]
      if (first === undefined) throw new PathNotFoundError(path)
      return { path, size: 0, modTime: first.LastModified ?? new Date(0), isDir: true }
    } catch (error) {
      throw mapError(error, path, 'stat')
    }
  }

  /** Every direct child of a directory (ListObjectsV2 with a delimiter, all pages), sorted by name. */
  async #children (path: string): Promise<ChildEntry[]> {
    const prefix = this.#dirPrefix(path)
    const children = new Map<string, ChildEntry>()
    let token: string | undefined
    do {
      const out = await this.client.send(new ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: prefix,
        Delimiter: '/',
        MaxKeys: LIST_MAX,
        ...(token === undefined ? {} : { ContinuationToken: token })
      }))
      for (const object of out.Contents ?? []) {
        const name = (object.Key ?? '').slice(prefix.length)
        if (!COMPONENT.test(name) || name === '.' || name === '..' || children.has(name)) continue
        children.set(name, { name, isDir: false, size: object.Size ?? 0, modTime: object.LastModified ?? new Date(0) })
      }
      for (const common of out.CommonPrefixes ?? []) {
        const name = (common.Prefix ?? '').slice(prefix.length, -1)
        if (!COMPONENT.test(name) || name === '.' || name === '..') continue
        // A key that is both a file and a directory (`a` and `a/b`) lists once, as the directory.
        children.set(name, { name, isDir: true, size: 0, modTime: new Date(0) })
      }
      token = out.IsTruncated === true ? out.NextContinuationToken : undefined
    } while (token !== undefined)
    return [...children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  async list (path: string): Promise<string[]> {
    validate(path)
    let children: ChildEntry[]
    try {
      children = await this.#children(path)
    } catch (error) {
      throw mapError(error, path, 'list')
    }
    // Object stores have no empty directories: nothing below means no directory, except the root.
    if (children.length === 0 && path !== '/') throw new PathNotFoundError(path)
    return children.map((child) => childPath(path, child.name))
  }

  /** Every object key at or below `path` (the key itself and `key/...`), one page (up to 1,000) at a time. */
  async * #keysBelow (path: string): AsyncGenerator<Array<{ key: string, size: number }>> {
    const prefix = this.#dirPrefix(path)
    let token: string | undefined
    do {
      const out = await this.client.send(new ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: prefix,
        MaxKeys: LIST_MAX,
        ...(token === undefined ? {} : { ContinuationToken: token })
      }))
      const page = (out.Contents ?? []).map((object) => ({ key: object.Key ?? '', size: object.Size ?? 0 })).filter((object) => object.key !== '')
      if (page.length > 0) yield page
      token = out.IsTruncated === true ? out.NextContinuationToken : undefined
    } while (token !== undefined)
  }

  async move (sourcePath: string, destPath: string, options: MoveOptions = {}): Promise<void> {
    validate(sourcePath)
    validate(destPath)
    if (sourcePath === '/') throw new InvalidPathError(sourcePath)
    if (destPath === '/') throw new InvalidPathError(destPath)
    const file = await this.head(sourcePath, 'move')
    if (options.size !== undefined) {
      // An upload's object is written once, by CompleteMultipartUpload: no writer can append after this check.
      if (file === undefined) throw new PathNotFoundError(sourcePath)
      if (file.size !== options.size) throw new FileChangedError(sourcePath, options.size, file.size)
    }
    if (file !== undefined) {
      if (sourcePath === destPath) return
      await this.#copy(sourcePath, destPath, file.size)
      try {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(sourcePath) }))
      } catch (error) {
        throw mapError(error, sourcePath, 'move')
      }
      return
    }
    // A directory: every object below it, one by one (S3 has no rename).
    if (destPath.startsWith(`${sourcePath}/`)) throw new StorageError(`cannot move ${sourcePath} into itself`, destPath)
    const sourcePrefix = this.#dirPrefix(sourcePath)
    const destPrefix = this.#dirPrefix(destPath)
    let found = false
    try {
      for await (const page of this.#keysBelow(sourcePath)) {
        found = true
        for (const { key, size } of page) {
          const rest = key.slice(sourcePrefix.length)
          await this.#copyKey(key, destPrefix + rest, size, sourcePath)
        }
        await this.#deleteKeys(page.map((object) => object.key), sourcePath)
      }
    } catch (error) {
      throw mapError(error, sourcePath, 'move')
    }
    if (!found) throw new PathNotFoundError(sourcePath)
  }

  async #copy (sourcePath: string, destPath: string, size: number): Promise<void> {
    try {
      await this.#copyKey(this.key(sourcePath), this.key(destPath), size, sourcePath)
    } catch (error) {
      throw mapError(error, sourcePath, 'move')
    }
  }

  /** CopyObject up to the threshold; above it, a multipart copy of `multipartcopychunksize` parts, several at once. */
  async #copyKey (sourceKey: string, destKey: string, size: number, path: string): Promise<void> {
    const { copyThreshold, copyChunkSize, copyConcurrency } = this.#options
    if (size <= copyThreshold) {
      await this.client.send(new CopyObjectCommand({
        Bucket: this.bucket,
        Key: destKey,
        CopySource: this.copySource(sourceKey)
      }))
      return
    }
    const ranges = multipartCopyRanges(size, copyChunkSize)
    const created = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: destKey, ContentType: 'application/octet-stream' }))
    const uploadId = created.UploadId as string
    try {
      const parts = await runLimited(ranges.length, copyConcurrency, async (index): Promise<CompletedPart> => {
        const [first, last] = ranges[index]
        const out = await this.client.send(new UploadPartCopyCommand({
          Bucket: this.bucket,
          Key: destKey,
          UploadId: uploadId,
          PartNumber: index + 1,
          CopySource: this.copySource(sourceKey),
          CopySourceRange: byteRange(first, last)
        }))
        return { PartNumber: index + 1, ETag: out.CopyPartResult?.ETag }
      })
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: destKey, UploadId: uploadId, MultipartUpload: { Parts: parts } }))
    } catch (error) {
      await this.abortUpload(destKey, uploadId)
      throw error
    }
    // Some servers (Ceph RGW) answer CompleteMultipartUpload with an empty ETag: check the result by its size.
    const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: destKey }))
    if (out.ContentLength !== size) {
      throw new StorageError(`s3 move ${path}: the copy holds ${String(out.ContentLength)} bytes, expected ${size}`, path)
    }
  }

  /** Aborts a multipart upload, ignoring failures (it may be gone already; a lifecycle rule reaps what remains). */
  async abortUpload (key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }))
    } catch {}
  }

  /** DeleteObjects of up to 1,000 keys; any per-key error fails the call. */
  async #deleteKeys (keys: string[], path: string): Promise<void> {
    for (let i = 0; i < keys.length; i += LIST_MAX) {
      const batch = keys.slice(i, i + LIST_MAX)
      const out = await this.client.send(new DeleteObjectsCommand({
        Bucket: this.bucket,
        Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true }
      }))
      const errors = out.Errors ?? []
      if (errors.length > 0) {
        const first = errors[0]
        throw new StorageError(`s3 delete ${path}: ${errors.length} of ${batch.length} keys not deleted, first ${String(first.Key)}: ${String(first.Code)} ${String(first.Message ?? '')}`.trim(), path)
      }
    }
  }

  /** Aborts every unfinished multipart upload of the key or below it (left by a writer that never finished). */
  async #abortUploadsBelow (path: string): Promise<void> {
    const key = path === '/' ? undefined : this.key(path)
    const prefix = key ?? this.#options.rootPrefix
    let keyMarker: string | undefined
    let uploadIdMarker: string | undefined
    for (;;) {
      const out = await this.client.send(new ListMultipartUploadsCommand({
        Bucket: this.bucket,
        Prefix: prefix,
        MaxUploads: LIST_MAX,
        ...(keyMarker === undefined ? {} : { KeyMarker: keyMarker }),
        ...(uploadIdMarker === undefined ? {} : { UploadIdMarker: uploadIdMarker })
      }))
      for (const upload of out.Uploads ?? []) {
        const uploadKey = upload.Key ?? ''
        // `Prefix: a/b` also matches `a/bc`: only the key itself and what is below it.
        if (key !== undefined && uploadKey !== key && !uploadKey.startsWith(`${key}/`)) continue
        if (upload.UploadId !== undefined) await this.abortUpload(uploadKey, upload.UploadId)
      }
      if (out.IsTruncated !== true) return
      keyMarker = out.NextKeyMarker
      uploadIdMarker = out.NextUploadIdMarker
      if (keyMarker === undefined || keyMarker === '') return
    }
  }

  async delete (path: string): Promise<void> {
    validate(path)
    let found = false
    try {
      if (path !== '/') {
        if (await this.head(path, 'delete') !== undefined) {
          await this.#deleteKeys([this.key(path)], path)
          found = true
        }
      }
      for await (const page of this.#keysBelow(path)) {
        await this.#deleteKeys(page.map((object) => object.key), path)
        found = true
      }
      await this.#abortUploadsBelow(path)
    } catch (error) {
      throw mapError(error, path, 'delete')
    }
    if (!found && path !== '/') throw new PathNotFoundError(path)
  }

  async * walk (path: string): AsyncIterable<FileInfo> {
    validate(path)
    let children: ChildEntry[]
    try {
      children = await this.#children(path)
    } catch (error) {
      throw mapError(error, path, 'walk')
    }
    if (children.length === 0 && path !== '/') {
      // Nothing below: a file (walks to nothing) or nothing at all.
      if (await this.head(path, 'walk') === undefined) throw new PathNotFoundError(path)
      return
    }
    yield * this.#walkChildren(path, children)
  }

  /** Depth first, in lexical order, each directory before what it holds: one listing per directory, so memory follows the depth, not the size. */
  async * #walkChildren (dir: string, children: ChildEntry[]): AsyncGenerator<FileInfo> {
    for (const child of children) {
      const path = childPath(dir, child.name)
      if (!child.isDir) {
        yield { path, size: child.size, modTime: child.modTime, isDir: false }
        continue
      }
      let below: ChildEntry[]
      try {
        below = await this.#children(path)
      } catch (error) {
        throw mapError(error, path, 'walk')
      }
      if (below.length === 0) continue // removed while walking
      let modTime = new Date(0)
      for (const entry of below) if (entry.modTime > modTime) modTime = entry.modTime
      yield { path, size: 0, modTime, isDir: true }
      yield * this.#walkChildren(path, below)
    }
  }

  /** A presigned GET or HEAD URL of the object, valid for 20 minutes. The object is not checked for existence. */
  async redirectURL (path: string, method: 'GET' | 'HEAD'): Promise<string | undefined> {
    validate(path)
    if (path === '/') return undefined
    const input = { Bucket: this.bucket, Key: this.key(path) }
    const options = { expiresIn: S3_REDIRECT_EXPIRY_SECONDS }
    if (method === 'GET') return await getSignedUrl(this.client, new GetObjectCommand(input), options)
    if (method === 'HEAD') return await getSignedUrl(this.client, new HeadObjectCommand(input), options)
    return undefined
  }

  /** Closes the client's connections. */
  destroy (): void {
    this.client.destroy()
  }
}

interface WriterStart {
  /** The object at the path when an appending writer opened (undefined: none, or not appending). */
  existing: { size: number, etag?: string } | undefined
  /** The existing object's bytes, when it is smaller than a part and was read back to be uploaded again. */
  content?: Buffer
}

/**
 * A writer over a multipart upload, created when the first full part is ready.
 *
 * - Bytes are buffered up to `chunksize`, then uploaded as one part: one part in
 *   memory at a time, and `write` waits for the upload (backpressure on the source).
 * - `size` is what the file holds: the existing object, the parts uploaded, and the buffer.
 * - `commit` and `close` upload the buffer as the last part and complete the upload
 *   (or, for a file that fits in one part, PutObject it), then check the object's size
 *   with HeadObject (some servers answer the completion with an empty ETag). A writer
 *   that wrote nothing to an existing file leaves it untouched.
 * - Appending continues from the stored object, from any instance: an object of at
 *   least `minpartsize` becomes the first parts of the new upload by UploadPartCopy
 *   (server side, in ranges of at most 5 GiB, each at least `minpartsize`, so that any
 *   size works), a smaller one is read back into the buffer and uploaded again with
 *   what follows: every part but the last always meets the minimum.
 * - `cancel` aborts the upload and deletes the file.
 * - Sizes are plain numbers (exact to 2^53) and parts are numbered up to 10,000, so a
 *   file can reach 10,000 x `chunksize` (about 97 GiB with the 10 MiB default); raise
 *   `chunksize` for more.
 */
class S3Writer implements FileWriter {
  readonly #driver: S3Driver
  readonly #options: ResolvedS3Options
  readonly #path: string
  readonly #key: string
  /** Bytes of the existing object still to be carried over by UploadPartCopy when the upload starts. */
  #headSize: number
  readonly #headEtag: string | undefined
  /** Whether the file differs from what is stored (a new writer always does: committing it replaces or creates the file). */
  #dirty: boolean
  #uploadId: string | undefined
  readonly #parts: CompletedPart[] = []
  #uploaded = 0
  #buffer: Buffer
  #fill = 0
  #state: 'open' | 'writing' | 'closed' = 'open'

  constructor (driver: S3Driver, options: ResolvedS3Options, path: string, start: WriterStart) {
    this.#driver = driver
    this.#options = options
    this.#path = path
    this.#key = driver.key(path)
    const existing = start.existing
    this.#dirty = existing === undefined
    this.#headEtag = existing?.etag
    if (start.content !== undefined) {
      this.#headSize = 0
      this.#buffer = Buffer.allocUnsafe(this.#capacityFor(start.content.length))
      start.content.copy(this.#buffer)
      this.#fill = start.content.length
    } else {
      this.#headSize = existing?.size ?? 0
      this.#buffer = Buffer.allocUnsafe(0)
    }
  }

  get size (): number {
    return this.#headSize + this.#uploaded + this.#fill
  }

  #claim (what: string): void {
    if (this.#state === 'closed') throw new StorageError(`${what}: writer is closed`, this.#path)
    if (this.#state === 'writing') throw new StorageError(`${what}: a write is in progress`, this.#path)
  }

  #capacityFor (needed: number): number {
    let capacity = Math.max(INITIAL_BUFFER, this.#buffer?.length ?? 0)
    while (capacity < needed) capacity *= 2
    return Math.min(capacity, this.#options.chunkSize)
  }

  /** Makes room for `needed` buffered bytes (at most a chunk), keeping what is buffered. */
  #reserve (needed: number): void {
    if (this.#buffer.length >= needed) return
    const grown = Buffer.allocUnsafe(this.#capacityFor(needed))
    this.#buffer.copy(grown, 0, 0, this.#fill)
    this.#buffer = grown
  }

  async write (source: AsyncIterable<Uint8Array>): Promise<number> {
    this.#claim('write')
    this.#state = 'writing'
    const before = this.size
    const chunkSize = this.#options.chunkSize
    try {
      for await (const chunk of source) {
        let offset = 0
        while (offset < chunk.byteLength) {
          if (this.#fill === chunkSize) await this.#uploadBuffer()
          const n = Math.min(chunkSize - this.#fill, chunk.byteLength - offset)
          this.#reserve(this.#fill + n)
          // A copy: the source may reuse its buffers once we move on.
          this.#buffer.set(chunk.subarray(offset, offset + n), this.#fill)
          this.#fill += n
          offset += n
          this.#dirty = true
        }
      }
      return this.size - before
    } finally {
      if (this.#state === 'writing') this.#state = 'open'
    }
  }

  /** Starts the multipart upload, carrying the existing object over as its first parts. */
  async #startUpload (): Promise<void> {
    if (this.#uploadId !== undefined) return
    const driver = this.#driver
    let created
    try {
      created = await driver.client.send(new CreateMultipartUploadCommand({ Bucket: driver.bucket, Key: this.#key, ContentType: 'application/octet-stream' }))
    } catch (error) {
      throw mapError(error, this.#path, 'writer')
    }
    const uploadId = created.UploadId
    if (uploadId === undefined) throw new StorageError(`s3 writer ${this.#path}: no upload id in the answer`, this.#path)
    if (this.#headSize === 0) {
      this.#uploadId = uploadId
      return
    }
    // The upload counts as started only once the existing object is carried over: a failure aborts it, a later call starts again.
    const size = this.#headSize
    const { copyChunkSize, copyConcurrency } = this.#options
    const ranges = headCopyRanges(size, copyChunkSize)
    let parts: CompletedPart[]
    try {
      parts = await runLimited(ranges.length, copyConcurrency, async (index): Promise<CompletedPart> => {
        const [first, last] = ranges[index]
        const out = await driver.client.send(new UploadPartCopyCommand({
          Bucket: driver.bucket,
          Key: this.#key,
          UploadId: uploadId,
          PartNumber: index + 1,
          CopySource: driver.copySource(this.#key),
          CopySourceRange: byteRange(first, last),
          // The object must still be the one this writer opened on.
          ...(this.#headEtag === undefined ? {} : { CopySourceIfMatch: this.#headEtag })
        }))
        return { PartNumber: index + 1, ETag: out.CopyPartResult?.ETag }
      })
      // Not every server honours CopySourceIfMatch (Ceph RGW 16 ignores it): check the object after copying.
      // Unchanged now means the copies read it, as any change gives a new ETag (the same ETag means the same bytes).
      const now = await driver.head(this.#path, 'writer')
      if (now?.etag !== this.#headEtag || now?.size !== size) {
        throw new StorageError(`s3 writer ${this.#path}: the file changed while this writer was appending to it`, this.#path)
      }
    } catch (error) {
      await driver.abortUpload(this.#key, uploadId)
      throw mapError(error, this.#path, 'writer')
    }
    this.#uploadId = uploadId
    this.#parts.push(...parts)
    this.#uploaded += size
    this.#headSize = 0
  }

  /** Uploads the buffer as the next part. */
  async #uploadBuffer (): Promise<void> {
    await this.#startUpload()
    const partNumber = this.#parts.length + 1
    if (partNumber > S3_MAX_PARTS) {
      throw new StorageError(`s3 writer ${this.#path}: more than ${S3_MAX_PARTS} parts; raise chunksize (now ${this.#options.chunkSize} bytes)`, this.#path)
    }
    let out
    try {
      out = await this.#driver.client.send(new UploadPartCommand({
        Bucket: this.#driver.bucket,
        Key: this.#key,
        UploadId: this.#uploadId,
        PartNumber: partNumber,
        Body: this.#buffer.subarray(0, this.#fill),
        ContentLength: this.#fill
      }))
    } catch (error) {
      throw mapError(error, this.#path, 'writer')
    }
    this.#parts.push({ PartNumber: partNumber, ETag: out.ETag })
    this.#uploaded += this.#fill
    this.#fill = 0
  }

  /** Makes what was written the file's content. */
  async #finish (): Promise<void> {
    const driver = this.#driver
    if (!this.#dirty) return
    if (this.#uploadId === undefined && this.#headSize === 0) {
      // Fits in one part: a single PutObject.
      try {
        await driver.client.send(new PutObjectCommand({
          Bucket: driver.bucket,
          Key: this.#key,
          Body: this.#buffer.subarray(0, this.#fill),
          ContentLength: this.#fill,
          ContentType: 'application/octet-stream'
        }))
      } catch (error) {
        throw mapError(error, this.#path, 'commit')
      }
      return
    }
    const expected = this.size
    try {
      await this.#startUpload()
      if (this.#fill > 0) await this.#uploadBuffer()
      await driver.client.send(new CompleteMultipartUploadCommand({
        Bucket: driver.bucket,
        Key: this.#key,
        UploadId: this.#uploadId,
        MultipartUpload: { Parts: this.#parts }
      }))
    } catch (error) {
      if (this.#uploadId !== undefined) await driver.abortUpload(this.#key, this.#uploadId)
      throw mapError(error, this.#path, 'commit')
    }
    // Ceph RGW answers with an empty ETag: check the object itself.
    const stored = await driver.head(this.#path, 'commit')
    if (stored?.size !== expected) {
      throw new StorageError(`s3 commit ${this.#path}: the object holds ${String(stored?.size)} bytes, expected ${expected}`, this.#path)
    }
  }

  #release (): void {
    this.#buffer = Buffer.allocUnsafe(0)
  }

  async commit (): Promise<void> {
    this.#claim('commit')
    this.#state = 'closed'
    try {
      await this.#finish()
    } finally {
      this.#release()
    }
  }

  /** Keeps what was written: the same as `commit` on S3, where only a finished object can be read or continued elsewhere. */
  async close (): Promise<void> {
    this.#claim('close')
    this.#state = 'closed'
    try {
      await this.#finish()
    } finally {
      this.#release()
    }
  }

  async cancel (): Promise<void> {
    this.#claim('cancel')
    this.#state = 'closed'
    this.#release()
    const driver = this.#driver
    if (this.#uploadId !== undefined) await driver.abortUpload(this.#key, this.#uploadId)
    try {
      await driver.client.send(new DeleteObjectCommand({ Bucket: driver.bucket, Key: this.#key }))
    } catch (error) {
      if (!isMissingKey(error)) throw mapError(error, this.#path, 'cancel')
    }
  }
}
