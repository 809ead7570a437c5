import type { StorageDriver } from '../storage/driver.js'
import { listNames } from '../store/links.js'
import { paths } from '../store/paths.js'

/**
 * Every repository name in storage, sorted: a directory under
 * `repositories/` holding `_layers` or `_manifests`. Directories whose name
 * starts with `_` are never descended into, so a repository's own
 * `_layers`, `_manifests` and `_uploads` are not walked.
 */
export async function listRepositories (driver: StorageDriver): Promise<string[]> {
  const names: string[] = []
  const pending: string[] = ['']
  while (pending.length > 0) {
    const prefix = pending.pop()!
    const children = await listNames(driver, prefix === '' ? paths.repositoriesRoot : paths.repository(prefix))
    if (prefix !== '' && (children.includes('_layers') || children.includes('_manifests'))) names.push(prefix)
    for (const child of children) {
      if (!child.startsWith('_')) pending.push(prefix === '' ? child : `${prefix}/${child}`)
    }
  }
  return names.sort()
}
