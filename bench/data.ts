import { createHash, randomBytes, randomFillSync, type Hash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'

export const MiB = 1024 * 1024

/** Appended to every pushed body so each push is a blob no server has seen (no dedup short-cut). */
export const SUFFIX_BYTES = 32

/** A region of the random file; `hash` holds the sha256 state after its bytes, to be copied. */
export interface Region {
  start: number
  length: number
  hash: Hash
}

/** One blob to push: a region of the file plus a unique suffix; `digest` is known before sending. */
export interface BlobBody {
  path: string
  start: number
  /** Bytes taken from the file. */
  fileLength: number
  suffix: Buffer
  /** fileLength + suffix.length */
  size: number
  digest: string
  hex: string
}

export interface RandomData {
  path: string
  size: number
  /** The first `blobMiB` MiB: the monolithic, chunked and GET rows. */
  blob: Region
  /** The first `bigMiB` MiB: the RSS rows. */
  big: Region
  /** `concurrent` consecutive regions of `concurrentMiB` MiB: the concurrent-push row. */
  pieces: Region[]
  /** The first `s3MiB` MiB, when asked for: the S3 push and GET rows. */
  s3?: Region
}

/**
 * Writes `max(blobMiB, bigMiB, concurrent × concurrentMiB, s3MiB)` MiB of random bytes
 * to `path` once, hashing as it goes so no digest needs a second read: the
 * prefix hashes are copied at their boundaries, each piece has its own hash.
 */
export async function generateRandomFile (path: string, sizes: { blobMiB: number, bigMiB: number, concurrent: number, concurrentMiB: number, s3MiB?: number }): Promise<RandomData> {
  const totalMiB = Math.max(sizes.blobMiB, sizes.bigMiB, sizes.concurrent * sizes.concurrentMiB, sizes.s3MiB ?? 0)
  const prefix = createHash('sha256')
  let blob: Region | undefined
  let big: Region | undefined
  let s3: Region | undefined
  const pieces: Region[] = []
  for (let i = 0; i < sizes.concurrent; i++) pieces.push({ start: i * sizes.concurrentMiB * MiB, length: sizes.concurrentMiB * MiB, hash: createHash('sha256') })
  const handle = await open(path, 'w')
  try {
    const block = Buffer.allocUnsafe(MiB)
    for (let mib = 0; mib < totalMiB; mib++) {
      randomFillSync(block)
      prefix.update(block)
      const piece = pieces[Math.floor(mib / sizes.concurrentMiB)]
      if (piece !== undefined) piece.hash.update(block)
      let written = 0
      while (written < block.length) written += (await handle.write(block, written, block.length - written, mib * MiB + written)).bytesWritten
      if (mib + 1 === sizes.blobMiB) blob = { start: 0, length: sizes.blobMiB * MiB, hash: prefix.copy() }
      if (mib + 1 === sizes.bigMiB) big = { start: 0, length: sizes.bigMiB * MiB, hash: prefix.copy() }
      if (mib + 1 === sizes.s3MiB) s3 = { start: 0, length: sizes.s3MiB * MiB, hash: prefix.copy() }
    }
    // Written back now, not in the background during the first measurements.
    await handle.sync()
  } finally {
    await handle.close()
  }
  if (blob === undefined || big === undefined) throw new Error('sizes must be at least 1 MiB')
  return { path, size: totalMiB * MiB, blob, big, pieces, ...(s3 === undefined ? {} : { s3 }) }
}

/** A fresh, never-seen blob made of the region and a random suffix. */
export function freshBlob (path: string, region: Region): BlobBody {
  const suffix = randomBytes(SUFFIX_BYTES)
  const hex = region.hash.copy().update(suffix).digest('hex')
  return { path, start: region.start, fileLength: region.length, suffix, size: region.length + suffix.length, digest: `sha256:${hex}`, hex }
}

const READ_CHUNK = MiB

/**
 * Bytes [from, to) of the blob, streamed from disk with the suffix at its end.
 * An async iterable, which undici streams as a request body.
 */
export async function * blobBytes (body: BlobBody, from = 0, to = body.size): AsyncGenerator<Buffer> {
  const fileEnd = Math.min(to, body.fileLength)
  if (from < fileEnd) {
    const stream = createReadStream(body.path, { start: body.start + from, end: body.start + fileEnd - 1, highWaterMark: READ_CHUNK })
    for await (const chunk of stream) yield chunk as Buffer
  }
  const suffixFrom = Math.max(from, body.fileLength) - body.fileLength
  const suffixTo = to - body.fileLength
  if (suffixTo > suffixFrom) yield body.suffix.subarray(suffixFrom, suffixTo)
}
