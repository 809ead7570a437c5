import type { StorageDriver } from '../storage/driver.js'
import { listNames } from './links.js'
import { paths } from './paths.js'

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
  open('', await listNames(driver, paths.repositoriesRoot))
  while (pending.length > 0) {
    const cursor = pending.pop()!
    const name = cursor.next
    cursor.index++
    if (cursor.index < cursor.children.length) {
      cursor.next = cursor.prefix + cursor.children[cursor.index]
      insert(pending, cursor)
    }
    const children = await listNames(driver, paths.repository(name))
    open(`${name}/`, children)
    if (after === undefined || name > after) yield { name, children }
  }
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
