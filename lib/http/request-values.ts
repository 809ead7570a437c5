import type { FastifyRequest } from 'fastify'
import { RegistryError } from '../../errors/index.js'

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
 * The request body as a stream of bytes, read as it arrives. A body that
 * stalls for `idleTimeout` milliseconds is cut off: the connection is
 * dropped (a client that stopped sending cannot read an answer either) and
 * the bytes already stored stay for a resumed upload.
 */
export async function * bodyStream (request: FastifyRequest, idleTimeout?: number): AsyncGenerator<Uint8Array> {
  const source = request.raw
  if (idleTimeout === undefined) {
    yield * source
    return
  }
  const stall = (): void => { source.destroy(new RegistryError('BLOB_UPLOAD_INVALID', { message: `request body stalled for ${idleTimeout} ms` })) }
  const timer = setTimeout(stall, idleTimeout)
  try {
    for await (const chunk of source) {
      timer.refresh()
      yield chunk as Uint8Array
    }
  } finally {
    clearTimeout(timer)
  }
}
