import type { StorageDriver } from '../storage/driver.js'
import { exists } from './links.js'
import { paths } from './paths.js'
import { repositoryDirectories } from './repository-walk.js'

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
   * Repository names in lexical order: those after `after` when given, at most
   * `limit` of them. The cost grows with the names returned (and the size of
   * the directories on the way to `after`), not with every repository.
   */
  async list (after?: string, limit = Infinity): Promise<string[]> {
    const names: string[] = []
    if (limit <= 0) return names
    for await (const { name, children } of repositoryDirectories(this.#driver, after)) {
      if (!children.includes('_layers') && !children.includes('_manifests')) continue
      names.push(name)
      if (names.length >= limit) break
    }
    return names
  }
}
