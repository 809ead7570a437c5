import type { StorageDriver } from '../storage/driver.js'
import { listNames } from './links.js'
import { paths } from './paths.js'

/**
 * Visits every directory under `repositories/` that could be a repository,
 * with the names of its children. Descends only into children that are not
 * `_`-prefixed, so `_layers`, `_manifests` and `_uploads` are never walked.
 */
export async function walkRepositoryDirectories (driver: StorageDriver, visit: (name: string, children: string[]) => Promise<void>): Promise<void> {
  const pending: string[] = ['']
  while (pending.length > 0) {
    const prefix = pending.pop()!
    const children = await listNames(driver, prefix === '' ? paths.repositoriesRoot : paths.repository(prefix))
    if (prefix !== '') await visit(prefix, children)
    for (const child of children) {
      if (!child.startsWith('_')) pending.push(prefix === '' ? child : `${prefix}/${child}`)
    }
  }
}
