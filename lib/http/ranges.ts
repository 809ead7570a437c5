import { RegistryError } from '../../errors/index.js'

export interface ByteRange {
  start: number
  /** Inclusive. */
  end: number
}

const CONTENT_RANGE = /^(?:bytes[ =])?(\d{1,15})-(\d{1,15})(?:\/(?:\d{1,15}|\*))?$/

/**
 * An upload chunk's `Content-Range: <start>-<end>` (inclusive, as the spec and
 * distribution use it; the RFC form `bytes <start>-<end>/<total>` is accepted too).
 * Malformed or inverted ranges are RANGE_INVALID (416).
 */
export function parseContentRange (header: string): ByteRange {
  const match = CONTENT_RANGE.exec(header.trim())
  if (match === null) throw new RegistryError('RANGE_INVALID', { message: `malformed Content-Range: ${JSON.stringify(header)}` })
  const start = Number(match[1])
  const end = Number(match[2])
  if (end < start) throw new RegistryError('RANGE_INVALID', { message: `Content-Range ends before it starts: ${header}` })
  return { start, end }
}

/**
 * A request's `Range: bytes=...` against a blob of `size` bytes. Undefined
 * means "serve the whole blob" (no header, or a form we answer in full, such
 * as several ranges); an unsatisfiable range is RANGE_INVALID (416).
 */
export function parseRange (header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined
  const match = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim())
  if (match === null) return undefined
  const [, first, last] = match
  let range: ByteRange
  if (first === '' && last === '') return undefined
  if (first === '') {
    const suffix = Number(last)
    if (suffix === 0) throw unsatisfiable(size)
    range = { start: Math.max(size - suffix, 0), end: size - 1 }
  } else {
    const start = Number(first)
    const end = last === '' ? size - 1 : Math.min(Number(last), size - 1)
    if (last !== '' && Number(last) < start) return undefined
    range = { start, end }
  }
  if (range.start >= size || size === 0) throw unsatisfiable(size)
  return range
}

function unsatisfiable (size: number): RegistryError {
  return new RegistryError('RANGE_INVALID', { message: 'requested range not satisfiable', headers: { 'Content-Range': `bytes */${size}` } })
}
