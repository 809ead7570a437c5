import type { StorageDriver } from '../storage/driver.js'
import { isPathNotFound } from '../storage/errors.js'
import { parseDigest, type ParsedDigest } from '../digest.js'
import { firstAfter } from '../sorted-search.js'

/** Reads a link file (a digest string); undefined when missing or not a digest. */
export async function readLink (driver: StorageDriver, path: string): Promise<ParsedDigest | undefined> {
  try {
    return parseDigest((await driver.getContent(path)).toString('utf8').trim())
  } catch (error) {
    if (isPathNotFound(error)) return undefined
    throw error
  }
}

export async function writeLink (driver: StorageDriver, path: string, digest: ParsedDigest): Promise<void> {
  await driver.putContent(path, Buffer.from(digest.digest, 'utf8'))
}

/** Deletes a path, treating "already gone" as done. */
export async function deleteIfExists (driver: StorageDriver, path: string): Promise<boolean> {
  try {
    await driver.delete(path)
    return true
  } catch (error) {
    if (isPathNotFound(error)) return false
    throw error
  }
}

/** Direct children's last path components, sorted; empty when the directory is missing. */
export async function listNames (driver: StorageDriver, path: string): Promise<string[]> {
  try {
    return (await driver.list(path)).map((child) => child.slice(child.lastIndexOf('/') + 1)).sort()
  } catch (error) {
    if (isPathNotFound(error)) return []
    throw error
  }
}

/**
 * What a driver may offer to list one page of a big directory: the sorted
 * names of the children after `after` (exclusive), at most `limit`, holding
 * no more than that in memory (a streamed directory read that keeps the
 * `limit` smallest names). Not part of StorageDriver yet; used when present.
 */
interface PagedListing {
  listNamesAfter?: (path: string, after: string | undefined, limit: number) => Promise<string[]>
}

/**
 * Direct children's last path components after `after` (exclusive), sorted,
 * at most `limit`; empty when the directory is missing. One directory read:
 * no child is opened or stat-ed, so a page of 1,000 names from a directory of
 * 100,000 costs one listing and a binary search.
 */
export async function listNamesAfter (driver: StorageDriver, path: string, after: string | undefined, limit: number): Promise<string[]> {
  if (limit <= 0) return []
  const paged = (driver as StorageDriver & PagedListing).listNamesAfter
  if (typeof paged === 'function' && Number.isFinite(limit)) {
    try {
      return await paged.call(driver, path, after, limit)
    } catch (error) {
      if (isPathNotFound(error)) return []
      throw error
    }
  }
  const names = await listNames(driver, path)
  const start = after === undefined ? 0 : firstAfter(names, after)
  return start === 0 && limit >= names.length ? names : names.slice(start, start + Math.min(limit, names.length))
}

export async function exists (driver: StorageDriver, path: string): Promise<boolean> {
  try {
    await driver.stat(path)
    return true
  } catch (error) {
    if (isPathNotFound(error)) return false
    throw error
  }
}
