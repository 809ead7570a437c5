import { stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { StorageDriver } from '../storage/driver.js'
import { FilesystemDriver } from '../storage/filesystem.js'
import { DEFAULT_ROOT_DIRECTORY, RegistryConfigError, type RegistryOptions } from '../options.js'

export interface CollectableStorage {
  driver: StorageDriver
  /** For messages: `filesystem /var/lib/registry`, `s3 bucket b`. */
  description: string
  /** Releases the driver's connections. */
  close: () => void
}

/**
 * The storage driver the registry options name, for a collection. A
 * filesystem root must already exist (a typo must not look like an empty
 * registry), and in-memory storage is refused: there is nothing to collect
 * in another process's memory.
 */
export async function collectableStorage (storage: RegistryOptions['storage']): Promise<CollectableStorage> {
  if (storage !== undefined && 'getContent' in storage) return { driver: storage, description: `${storage.name} driver`, close: () => {} }
  if (storage === undefined || 'filesystem' in storage) {
    const rootDirectory = storage === undefined ? DEFAULT_ROOT_DIRECTORY : storage.filesystem.rootDirectory
    const option = storage === undefined ? 'storage' : 'storage.filesystem.rootdirectory'
    let isDirectory: boolean
    try {
      isDirectory = (await stat(rootDirectory)).isDirectory()
    } catch (error) {
      throw new RegistryConfigError(option, `names ${resolve(rootDirectory)}, which cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); nothing to collect`)
    }
    if (!isDirectory) throw new RegistryConfigError(option, `names ${resolve(rootDirectory)}, which is not a directory`)
    return { driver: new FilesystemDriver({ rootDirectory }), description: `filesystem ${resolve(rootDirectory)}`, close: () => {} }
  }
  if ('s3' in storage) {
    const { S3Driver } = await import('../storage/s3.js')
    const driver = new S3Driver(storage.s3)
    return { driver, description: `s3 bucket ${storage.s3.bucket}`, close: () => { driver.destroy() } }
  }
  throw new RegistryConfigError('storage', 'is inmemory: another process\'s memory cannot be collected')
}
