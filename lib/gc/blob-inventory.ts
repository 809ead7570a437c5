import type { StorageDriver } from '../storage/driver.js'
import { isPathNotFound } from '../storage/errors.js'
import { parseDigest, type ParsedDigest } from '../digest.js'
import { paths } from '../store/paths.js'

export interface StoredBlob {
  digest: ParsedDigest
  size: number
  /** When its data was written (milliseconds since the epoch). */
  modTime: number
}

export interface BlobInventory {
  /** Blobs whose `data` exists, by digest string. */
  blobs: Map<string, StoredBlob>
  /** Blobs with data set aside (`data.gc`) by a collection that did not finish. */
  setAside: ParsedDigest[]
}

/**
 * Every blob under `blobs/<alg>/<2 hex>/<hex>/`. Directories of another
 * algorithm, or whose names do not match their digest, are not ours to judge
 * and are left out (so never deleted).
 */
export async function inventoryBlobs (driver: StorageDriver, onBlob: (blob: StoredBlob) => void = () => {}): Promise<BlobInventory> {
  const inventory: BlobInventory = { blobs: new Map(), setAside: [] }
  const root = paths.blobsRoot
  try {
    for await (const info of driver.walk(root)) {
      if (info.isDir) continue
      const parts = info.path.slice(root.length + 1).split('/')
      if (parts.length !== 4 || (parts[3] !== 'data' && parts[3] !== 'data.gc')) continue
      const digest = parseDigest(`${parts[0]}:${parts[2]}`)
      if (digest === undefined || digest.hex.slice(0, 2) !== parts[1]) continue
      if (parts[3] === 'data.gc') {
        inventory.setAside.push(digest)
        continue
      }
      const blob = { digest, size: info.size, modTime: info.modTime.getTime() }
      inventory.blobs.set(digest.digest, blob)
      onBlob(blob)
    }
  } catch (error) {
    if (!isPathNotFound(error)) throw error
  }
  return inventory
}
