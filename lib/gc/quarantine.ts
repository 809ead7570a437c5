import type { StorageDriver } from '../storage/driver.js'
import { isPathNotFound } from '../storage/errors.js'
import type { ParsedDigest } from '../digest.js'
import { deleteIfExists, exists } from '../store/links.js'
import { paths } from '../store/paths.js'

/**
 * Where a blob's data waits between being set aside and being deleted:
 * `blobs/<alg>/<2 hex>/<hex>/data.gc`, beside `data`. Every reader of a blob
 * (and distribution) looks only at `data`, so a blob set aside is gone for
 * them, yet it can still be put back unchanged.
 */
export function quarantinePath (digest: ParsedDigest): string {
  return `${paths.blobDir(digest)}/data.gc`
}

/** Moves a blob's data aside; false when there was none. */
export async function setAside (driver: StorageDriver, digest: ParsedDigest): Promise<boolean> {
  try {
    await driver.move(paths.blobData(digest), quarantinePath(digest))
    return true
  } catch (error) {
    if (isPathNotFound(error)) return false
    throw error
  }
}

/**
 * Puts a blob set aside back. When the blob was pushed again meanwhile the
 * copy set aside is dropped: content-addressed data is identical.
 */
export async function putBack (driver: StorageDriver, digest: ParsedDigest): Promise<void> {
  if (!await exists(driver, paths.blobData(digest))) {
    try {
      await driver.move(quarantinePath(digest), paths.blobData(digest))
      return
    } catch (error) {
      if (!isPathNotFound(error)) throw error
      return
    }
  }
  await deleteIfExists(driver, quarantinePath(digest))
}

/** Deletes a blob set aside; false when it was not there (put back by someone else). */
export async function discard (driver: StorageDriver, digest: ParsedDigest): Promise<boolean> {
  return await deleteIfExists(driver, quarantinePath(digest))
}
