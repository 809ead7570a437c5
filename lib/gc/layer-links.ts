import type { StorageDriver } from '../storage/driver.js'
import { isPathNotFound } from '../storage/errors.js'
import type { ParsedDigest } from '../digest.js'
import { deleteIfExists, exists, writeLink } from '../store/links.js'
import { paths } from '../store/paths.js'
import type { LinkChanged } from './untagged.js'

/**
 * Removes a repository's `_layers` link to a blob that no longer exists,
 * unless the link is younger than `cutoff`. A push can store the blob again
 * and link it at any moment, so the blob is looked for again after the
 * link is gone, and the link is put back if it is there: a link to a blob
 * that exists is never left removed. Resolves true when the link was removed.
 */
export async function removeDanglingLayerLink (driver: StorageDriver, name: string, digest: ParsedDigest, cutoff: number, changed: LinkChanged): Promise<boolean> {
  const link = paths.layerLink(name, digest)
  if (await exists(driver, paths.blobData(digest))) return false
  try {
    if ((await driver.stat(link)).modTime.getTime() >= cutoff) return false
  } catch (error) {
    if (isPathNotFound(error)) return false
    throw error
  }
  // Only the link file: removing its directory could race a push writing a new link there.
  if (!await deleteIfExists(driver, link)) return false
  await changed(link, undefined)
  if (await exists(driver, paths.blobData(digest))) {
    await writeLink(driver, link, digest)
    await changed(link, digest)
    return false
  }
  return true
}
