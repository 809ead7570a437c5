import type { StorageDriver } from '../storage/driver.js'
import { exists, listNames } from './links.js'
import { paths } from './paths.js'

const MARKERS = new Set(['_layers', '_manifests'])

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
   * Every repository name, sorted. Walks only the repository directories,
   * never into `_layers`, `_manifests` or `_uploads`, so the cost grows
   * with the number of repositories, not blobs or tags.
   */
  async list (): Promise<string[]> {
    const names: string[] = []
    const pending: string[] = ['']
    while (pending.length > 0) {
      const prefix = pending.pop()!
      const children = await listNames(this.#driver, prefix === '' ? paths.repositoriesRoot : paths.repository(prefix))
      let isRepository = false
      for (const child of children) {
        if (MARKERS.has(child)) isRepository = true
        else if (!child.startsWith('_')) pending.push(prefix === '' ? child : `${prefix}/${child}`)
      }
      if (isRepository && prefix !== '') names.push(prefix)
    }
    return names.sort()
  }
}
