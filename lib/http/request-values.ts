import type { FastifyRequest } from 'fastify'
import { RegistryError } from '../../errors/index.js'
import { DEFAULT_LIMITS } from '../options.js'

/** The first value of a query parameter, or undefined. */
export function queryValue (request: FastifyRequest, key: string): string | undefined {
  const value = (request.query as Record<string, unknown> | undefined)?.[key]
  if (Array.isArray(value)) return typeof value[0] === 'string' ? value[0] : undefined
  return typeof value === 'string' ? value : undefined
}

/** Every value of a repeated query parameter (`?tag=a&tag=b`). */
export function queryValues (request: FastifyRequest, key: string): string[] {
  const value = (request.query as Record<string, unknown> | undefined)?.[key]
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === 'string')
  return typeof value === 'string' ? [value] : []
}

/** A header's single value. */
export function headerValue (request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name]
  return Array.isArray(value) ? value[0] : value
}

/** `Content-Length` as a number; undefined when absent; SIZE_INVALID when malformed. */
export function contentLength (request: FastifyRequest): number | undefined {
  const raw = headerValue(request, 'content-length')
  if (raw === undefined) return undefined
  if (!/^\d{1,15}$/.test(raw.trim())) throw new RegistryError('SIZE_INVALID', { message: `malformed Content-Length: ${JSON.stringify(raw)}` })
  return Number(raw)
}

/** Whether the request carries a body (a non-zero Content-Length or chunked transfer encoding). */
export function hasBody (request: FastifyRequest): boolean {
  const length = contentLength(request)
  if (length !== undefined) return length > 0
  return headerValue(request, 'transfer-encoding') !== undefined
}

/**
 * What guards a request body: the plugin's resolved limits fit. Unset
 * fields take the defaults (DEFAULT_LIMITS).
 */
export interface BodyLimits {
  bodyIdleTimeout?: number
  bodyMinRate?: number
  bodyMinRateWindow?: number
}

/**
 * The request body as a stream of bytes, read as it arrives, guarded two ways:
 *
 * - A body that stalls for the idle timeout is cut off: the connection is
 *   dropped (a client that stopped sending cannot read an answer either).
 * - A body that averages under `bodyMinRate` bytes per second over a
 *   `bodyMinRateWindow` (a drip that resets the idle timer with every byte)
 *   is cut with BLOB_UPLOAD_INVALID and `Connection: close`: the client is
 *   still there and reads why. Only time spent waiting for the client counts,
 *   so a slow storage write never makes a client look slow.
 *
 * Either way the bytes already stored stay for a resumed upload. `limits` is
 * the plugin's limits, or just an idle timeout (the minimum rate then takes
 * its default); undefined guards nothing.
 */
export async function * bodyStream (request: FastifyRequest, limits?: number | BodyLimits): AsyncGenerator<Uint8Array> {
  const source = request.raw
  if (limits === undefined) {
    yield * source
    return
  }
  const idleTimeout = typeof limits === 'number' ? limits : limits.bodyIdleTimeout ?? DEFAULT_LIMITS.bodyIdleTimeout
  const minRate = typeof limits === 'number' ? DEFAULT_LIMITS.bodyMinRate : limits.bodyMinRate ?? DEFAULT_LIMITS.bodyMinRate
  const window = typeof limits === 'number' ? DEFAULT_LIMITS.bodyMinRateWindow : limits.bodyMinRateWindow ?? DEFAULT_LIMITS.bodyMinRateWindow
  const stall = (): void => { source.destroy(new RegistryError('BLOB_UPLOAD_INVALID', { message: `request body stalled for ${idleTimeout} ms` })) }
  const idle = setTimeout(stall, idleTimeout)
  if (minRate === 0) {
    try {
      for await (const chunk of source) {
        idle.refresh()
        yield chunk as Uint8Array
      }
    } finally {
      clearTimeout(idle)
    }
    return
  }

  // Bytes needed per window, and what the current window has seen: the time
  // spent waiting for the client (closed waits, plus the open one) and the
  // bytes that came. One timer per window, not one per chunk.
  const needed = Math.ceil(minRate * window / 1000)
  let waited = 0
  let bytes = 0
  let waiting = false
  let waitStart = 0
  let tooSlowCut = false
  let cut: ((error: RegistryError) => void) | undefined
  const tooSlow = (): RegistryError => new RegistryError('BLOB_UPLOAD_INVALID', {
    message: `request body too slow: ${bytes} bytes in ${Math.round(window / 1000)} s, under the minimum of ${minRate} bytes/s (limits.bodyMinRate)`,
    headers: { Connection: 'close' },
    detail: { received: bytes, window, minRate }
  })
  const endOfWindow = (): void => {
    const now = Date.now()
    const total = waited + (waiting ? now - waitStart : 0)
    // The consumer was busy for part of it: that time is not the client's.
    if (total < window) {
      rateTimer = setTimeout(endOfWindow, window - total)
      return
    }
    if (bytes < needed) {
      tooSlowCut = true
      cut?.(tooSlow())
      return
    }
    waited = 0
    bytes = 0
    waitStart = now
    rateTimer = setTimeout(endOfWindow, window)
  }
  let rateTimer = setTimeout(endOfWindow, window)

  const iterator = source[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>
  let ended = false
  try {
    while (true) {
      waitStart = Date.now()
      waiting = true
      // A promise per wait, not a race against one long-lived promise, which would keep a reaction per chunk.
      const next = await new Promise<IteratorResult<Uint8Array>>((resolve, reject) => {
        cut = reject
        iterator.next().then(resolve, reject)
      })
      waiting = false
      waited += Date.now() - waitStart
      if (next.done === true) {
        ended = true
        return
      }
      bytes += next.value.length
      if (waited >= window) {
        if (bytes < needed) {
          tooSlowCut = true
          throw tooSlow()
        }
        waited = 0
        bytes = 0
      }
      idle.refresh()
      yield next.value
    }
  } finally {
    clearTimeout(idle)
    clearTimeout(rateTimer)
    if (tooSlowCut) {
      // Not destroyed: the socket must carry the answer. Reading stops; the
      // server discards the rest and closes the connection after answering.
      source.pause()
    } else if (!ended) {
      // As a for-await over the source would: stop it when the consumer stops early.
      await iterator.return?.()
    }
  }
}
