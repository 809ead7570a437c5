import type { StorageDriver } from '../storage/driver.js'
import { isPathNotFound } from '../storage/errors.js'
import { parseDigest, type ParsedDigest } from '../digest.js'

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

export async function exists (driver: StorageDriver, path: string): Promise<boolean> {
  try {
    await driver.stat(path)
    return true
  } catch (error) {
    if (isPathNotFound(error)) return false
    throw error
  }
}
