import type { StorageDriver } from '../storage/driver.js'
import { isPathNotFound } from '../storage/errors.js'
import { createDigester } from '../digest.js'
import { paths } from '../store/paths.js'
import { inventoryBlobs, type StoredBlob } from './blob-inventory.js'

/** A blob whose stored bytes do not hash to its name. */
export interface CorruptBlob {
  digest: string
  size: number
  /** The digest its bytes do have. */
  actual: string
  /** Whether `repair` moved it aside. */
  setAside: boolean
}

export interface VerifySummary {
  blobs: number
  bytes: number
  corrupt: CorruptBlob[]
}

export interface VerifyOptions {
  /** Move each corrupt blob's data to `data.corrupt` beside it, so it is no longer served. Default false. */
  repair?: boolean
  /** Called after each blob is read. */
  onBlob?: (blob: StoredBlob, intact: boolean) => void
}

/** Where a corrupt blob's data is kept for a look; nothing reads or collects that name. */
export function corruptPath (blob: StoredBlob): string {
  return `${paths.blobDir(blob.digest)}/data.corrupt`
}

/**
 * Reads every blob in storage and checks its bytes against its digest, one at
 * a time, streaming. Garbage collection never reads content (it would cost a
 * read of the whole store); this is the command that does. A blob removed or
 * replaced while it is read is skipped: a commit replaces a corrupt copy with
 * verified bytes, and those are not to be moved aside.
 */
export async function verifyBlobs (driver: StorageDriver, options: VerifyOptions = {}): Promise<VerifySummary> {
  const summary: VerifySummary = { blobs: 0, bytes: 0, corrupt: [] }
  const { blobs } = await inventoryBlobs(driver)
  for (const blob of blobs.values()) {
    const path = paths.blobData(blob.digest)
    const before = driver.version?.(path)
    const actual = await hashOf(driver, path, blob.digest.algorithm)
    if (actual === undefined) continue
    summary.blobs++
    summary.bytes += blob.size
    const intact = actual === blob.digest.hex
    options.onBlob?.(blob, intact)
    if (intact) continue
    const unchanged = before === undefined || driver.version?.(path) === before
    const setAside = options.repair === true && unchanged && await moveAside(driver, blob)
    summary.corrupt.push({ digest: blob.digest.digest, size: blob.size, actual: `${blob.digest.algorithm}:${actual}`, setAside })
  }
  return summary
}

async function hashOf (driver: StorageDriver, path: string, algorithm: Parameters<typeof createDigester>[0]): Promise<string | undefined> {
  const hash = createDigester(algorithm)
  try {
    for await (const chunk of await driver.reader(path)) hash.update(chunk as Buffer)
  } catch (error) {
    if (isPathNotFound(error)) return undefined
    throw error
  }
  return hash.digest('hex')
}

async function moveAside (driver: StorageDriver, blob: StoredBlob): Promise<boolean> {
  try {
    await driver.move(paths.blobData(blob.digest), corruptPath(blob))
    return true
  } catch (error) {
    if (isPathNotFound(error)) return false
    throw error
  }
}
