import type { StorageDriver } from '../storage/driver.js'
import { exists } from './links.js'
import { paths } from './paths.js'
import { walkRepositoryDirectories } from './repository-walk.js'

/** Repositories: directories under `repositories/` holding `_layers` or `_manifests`. */
export class RepositoryStore {
  readonly #driver: StorageDriver

  constructor (driver: StorageDriver) {
    this.#driver = driver
  }

  async exists (name: string): Promise<boolean> {
    return await exists(this.#driver, paths.repository(name))
  }

  /**
   * Every repository name, sorted. The cost grows with the number of
   * repositories, not blobs or tags.
   */
  async list (): Promise<string[]> {
    const names: string[] = []
    await walkRepositoryDirectories(this.#driver, async (name, children) => {
      if (children.includes('_layers') || children.includes('_manifests')) names.push(name)
    })
    return names.sort()
  }
}
