import type { StorageDriver } from '../storage/driver.js'
import { deleteIfExists, listNames } from './links.js'
import { isPathNotFound } from '../storage/errors.js'
import { paths } from './paths.js'
import { walkRepositoryDirectories } from './repository-walk.js'

export interface PurgeOptions {
  /** Uploads started before this moment are removed. */
  olderThan: Date
  /** Report what would be removed without removing it. */
  dryRun?: boolean
}

export interface PurgedUpload {
  name: string
  uuid: string
  startedAt: Date
}

/**
 * Removes unfinished uploads older than a moment, across every repository,
 * the way distribution's upload purging does. An upload whose `startedat`
 * is missing or unreadable counts as started at the epoch: it is removed.
 * Walks only repository directories and their `_uploads`, never blobs.
 */
export async function purgeUploads (driver: StorageDriver, options: PurgeOptions): Promise<PurgedUpload[]> {
  const purged: PurgedUpload[] = []
  await walkRepositoryDirectories(driver, async (name, children) => {
    if (!children.includes('_uploads')) return
    for (const uuid of await listNames(driver, `${paths.repository(name)}/_uploads`)) {
      const startedAt = await readStartedAt(driver, name, uuid)
      if (startedAt.getTime() >= options.olderThan.getTime()) continue
      purged.push({ name, uuid, startedAt })
      if (options.dryRun !== true) await deleteIfExists(driver, paths.uploadDir(name, uuid))
    }
  })
  return purged
}

async function readStartedAt (driver: StorageDriver, name: string, uuid: string): Promise<Date> {
  try {
    const parsed = new Date((await driver.getContent(paths.uploadStartedAt(name, uuid))).toString('utf8').trim())
    return Number.isNaN(parsed.getTime()) ? new Date(0) : parsed
  } catch (error) {
    if (isPathNotFound(error)) return new Date(0)
    throw error
  }
}
