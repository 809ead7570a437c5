import type { FastifyRequest } from 'fastify'
import { RegistryError } from '../../errors/index.js'
import { queryValue } from './request-values.js'

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
  let start = 0
  if (page.last !== undefined) {
    const last = page.last
    // First index after `last`; a binary search keeps big lists cheap.
    let low = 0
    let high = sorted.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if (sorted[middle] <= last) low = middle + 1
      else high = middle
    }
    start = low
  }
  const size = page.n ?? defaultSize
  if (size === undefined) return { entries: sorted.slice(start), next: undefined }
  const entries = sorted.slice(start, start + size)
  const more = start + size < sorted.length && entries.length > 0
  return { entries, next: more ? entries[entries.length - 1] : undefined }
}
