import type { FastifyRequest } from 'fastify'
import { RegistryError } from '../../errors/index.js'
import { queryValue } from './request-values.js'
import { firstAfter } from '../sorted-search.js'

export interface PageRequest {
  /** How many entries; undefined when the client did not say. */
  n: number | undefined
  /** Entries up to and including this one are skipped. */
  last: string | undefined
}

/** `n` and `last` from the query; `n` must be a whole number no larger than `max`. */
export function pageRequest (request: FastifyRequest, max: number): PageRequest {
  const rawN = queryValue(request, 'n')
  const last = queryValue(request, 'last')
  if (rawN === undefined || rawN === '') return { n: undefined, last }
  if (!/^\d{1,9}$/.test(rawN)) throw new RegistryError('PAGINATION_NUMBER_INVALID', { detail: { n: rawN.slice(0, 50) } })
  const n = Number(rawN)
  if (n > max) throw new RegistryError('PAGINATION_NUMBER_INVALID', { message: `n may be at most ${max}`, detail: { n, max } })
  return { n, last }
}

export interface Page<T> {
  entries: T[]
  /** The `last` of the next page, when more entries remain. */
  next: string | undefined
}

/** One page of a sorted list: the entries after `last`, at most `n` of them. */
export function paginate (sorted: string[], page: PageRequest, defaultSize: number | undefined): Page<string> {
  const start = page.last === undefined ? 0 : firstAfter(sorted, page.last)
  const size = page.n ?? defaultSize
  if (size === undefined) return { entries: sorted.slice(start), next: undefined }
  return pageOf(sorted.slice(start, start + size + 1), size)
}

/**
 * A page of `size` entries from the sorted entries after `last`, of which the
 * caller read `size + 1` (when there are that many): the extra one says
 * whether a next page exists. `next` is the page's last entry then (for
 * entries that are not names, the caller takes the name from it).
 */
export function pageOf<T = string> (following: T[], size: number): { entries: T[], next: T | undefined } {
  const entries = following.slice(0, size)
  const more = following.length > size && entries.length > 0
  return { entries, next: more ? entries[entries.length - 1] : undefined }
}
