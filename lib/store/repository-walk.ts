import type { StorageDriver } from '../storage/driver.js'
import { retryOnDescriptorExhaustion, storageSlots } from '../storage-concurrency.js'
import { listNames } from './links.js'
import { paths } from './paths.js'

/** Listings a walk may have started ahead of the one it needs, at most. */
const READ_AHEAD = 16

/** A directory under `repositories/` that could be a repository, with the names of its children. */
export interface RepositoryDirectory {
  name: string
  children: string[]
}

/** The children of one listed directory still to visit, in name order. */
interface Cursor {
  /** The directory's name followed by `/`; empty for `repositories/` itself. */
  prefix: string
  children: string[]
  index: number
  /** The full name of `children[index]`: no name left in this cursor sorts before it. */
  next: string
}

/**
 * Directories under `repositories/` in the lexical (`<`) order of their full
 * names, only those after `after` when given. `_`-prefixed children
 * (`_layers`, `_manifests`, `_uploads`) are never descended, and a directory
 * that vanishes mid-walk counts as empty. Lazy: each directory is listed when
 * it is next in order, so a consumer that stops early pays for what it took.
 *
 * Pre-order by child name is not lexical order: `a-c` and `a.b` sort between
 * `a` and `a/b` because `-` and `.` sort before `/`. So the walk keeps one
 * cursor per listed directory and always advances the one whose next name is
 * smallest; every name below a cursor's next child is at least that name.
 */
export async function * repositoryDirectories (driver: StorageDriver, after?: string): AsyncGenerator<RepositoryDirectory> {
  // Ordered by `next`, largest first, so the smallest pops off the end. Short: a
  // directory's cursor waits only while its parent's next children extend the
  // directory's name with `-` or `.` (`a-c` comes before `a/b`).
  const pending: Cursor[] = []
  const open = (prefix: string, children: string[]): void => {
    const kept = children.filter((child) => !child.startsWith('_') && !(after !== undefined && wholeSubtreeAtOrBefore(prefix + child, after)))
    if (kept.length > 0) insert(pending, { prefix, children: kept, index: 0, next: prefix + kept[0] })
  }
  // Listings started before their turn, by full name. A listing is one round trip to
  // storage, so a run of directories that are not repositories (abandoned uploads
  // under `_uploads` only, say) would be paid one round trip after another. After
  // such a run, the next few names of the same directory are listed at once: the
  // window grows with the run, up to READ_AHEAD, and closes at the next repository,
  // so a page of repositories lists exactly what it needs, and a consumer that stops
  // early wastes at most a window's listings.
  // Reading ahead takes only free slots of the process's storage fan-out bound
  // (lib/storage-concurrency.ts), so every walk together stays within it and never
  // makes other requests' storage calls wait.
  const ahead = new Map<string, Promise<string[]>>()
  let run = 0
  const list = async (name: string): Promise<string[]> => await retryOnDescriptorExhaustion(async () => await listNames(driver, paths.repository(name)))
  const listing = async (name: string): Promise<string[]> => {
    const started = ahead.get(name)
    if (started === undefined) return await list(name)
    ahead.delete(name)
    return await started
  }
  const readAhead = (cursor: Cursor): void => {
    const width = Math.min(run, READ_AHEAD)
    for (let index = cursor.index; index < cursor.children.length && ahead.size < width && storageSlots.inUse + storageSlots.waiting < storageSlots.size; index++) {
      const name = cursor.prefix + cursor.children[index]
      if (ahead.has(name)) continue
      const started = storageSlots.acquire().then(async (release) => {
        try {
          return await list(name)
        } finally {
          release()
        }
      })
      started.catch(() => {}) // a listing nobody takes must not be an unhandled rejection; a taken one rethrows
      ahead.set(name, started)
    }
  }
  open('', await listNames(driver, paths.repositoriesRoot))
  while (pending.length > 0) {
    const cursor = pending.pop()!
    const name = cursor.next
    cursor.index++
    if (cursor.index < cursor.children.length) {
      cursor.next = cursor.prefix + cursor.children[cursor.index]
      insert(pending, cursor)
      if (run > 0) readAhead(cursor)
    }
    const children = await listing(name)
    run = isRepository(children) ? 0 : run + 1
    open(`${name}/`, children)
    if (after === undefined || name > after) yield { name, children }
  }
}

/** A directory is a repository when it holds `_layers` or `_manifests` (distribution's rule); `_uploads` alone is not. */
export function isRepository (children: readonly string[]): boolean {
  return children.includes('_layers') || children.includes('_manifests')
}

/**
 * True when every name in the subtree rooted at `root` (that is `root` and
 * names starting with `root/`) is at or before `last`: `0` is the character
 * right after `/`, so `root0` is the first string past them all.
 */
function wholeSubtreeAtOrBefore (root: string, last: string): boolean {
  return last >= `${root}0`
}

function insert (pending: Cursor[], cursor: Cursor): void {
  let low = 0
  let high = pending.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if (pending[middle].next > cursor.next) low = middle + 1
    else high = middle
  }
  pending.splice(low, 0, cursor)
}

/** Visits every directory that could be a repository, with the names of its children. */
export async function walkRepositoryDirectories (driver: StorageDriver, visit: (name: string, children: string[]) => Promise<void>): Promise<void> {
  for await (const { name, children } of repositoryDirectories(driver)) await visit(name, children)
}
