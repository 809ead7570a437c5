import type { ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { matchRoute } from '../../routes/table.js'
import type { RegistryMetrics } from './metrics.js'

/** Label for requests no route of the table matches. */
export const UNMATCHED_ROUTE = 'unmatched'

/**
 * The route name of a request: from its Context, or, when the Context could
 * not be built (a bad name, digest or method), from the route table again.
 */
export function routeLabel (request: FastifyRequest, basePath: string): string {
  if (request.registry !== null) return request.registry.route.name
  const url = request.url.startsWith('/') ? request.url : request.url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '')
  const queryAt = url.indexOf('?')
  const path = queryAt === -1 ? url : url.slice(0, queryAt)
  const subpath = path === basePath.slice(0, -1) ? '' : path.startsWith(basePath) ? path.slice(basePath.length) : undefined
  return (subpath === undefined ? undefined : matchRoute(subpath)?.route.name) ?? UNMATCHED_ROUTE
}

function byteLength (chunk: unknown, encoding?: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? encoding as BufferEncoding : 'utf8')
  if (chunk instanceof Uint8Array) return chunk.byteLength
  return 0
}

/**
 * Counts a request body's bytes as they arrive, read or not, without reading
 * it: what is buffered already, then every chunk pushed into the stream.
 */
function countBody (body: Readable, add: (bytes: number) => void): void {
  if (body.readableLength > 0) add(body.readableLength)
  const push = body.push
  body.push = function (chunk: unknown, encoding?: BufferEncoding): boolean {
    const bytes = byteLength(chunk, encoding)
    if (bytes > 0) add(bytes)
    return push.call(this, chunk, encoding)
  }
}

/** Counts the body bytes a response writes while its status is a success: `write` and `end` both. */
function countResponse (response: ServerResponse, add: (bytes: number) => void): void {
  const write = response.write
  const end = response.end
  const count = (chunk: unknown, encoding: unknown): void => {
    if (response.statusCode !== 200 && response.statusCode !== 206) return
    const bytes = byteLength(chunk, encoding)
    if (bytes > 0) add(bytes)
  }
  response.write = function (this: ServerResponse, ...args: unknown[]): boolean {
    count(args[0], args[1])
    return (write as (...args: unknown[]) => boolean).apply(this, args)
  } as ServerResponse['write']
  response.end = function (this: ServerResponse, ...args: unknown[]): ServerResponse {
    if (typeof args[0] !== 'function') count(args[0], args[1])
    return (end as (...args: unknown[]) => ServerResponse).apply(this, args)
  } as ServerResponse['end']
}

function receivesBlob (request: FastifyRequest): boolean {
  const route = request.registry?.route.name
  if (route === 'blob-upload') return request.method === 'POST'
  return route === 'blob-upload-chunk' && (request.method === 'PATCH' || request.method === 'PUT')
}

/**
 * Records every response of the registry's routes (count and latency by route
 * name, method and status) and the bytes of blob bodies in and out. Added to
 * the registry's own context, so the host's routes are not counted.
 */
export function recordRequestMetrics (instance: FastifyInstance, metrics: RegistryMetrics, basePath: string): void {
  const received = (bytes: number): void => { metrics.bytesReceived.inc(bytes) }
  const sent = (bytes: number): void => { metrics.bytesSent.inc(bytes) }

  // After access control: only requests the handler will serve carry blob bodies.
  instance.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
    if (receivesBlob(request)) countBody(request.raw, received)
    else if (request.registry?.route.name === 'blob' && request.method === 'GET') countResponse(reply.raw, sent)
  })

  instance.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    const route = routeLabel(request, basePath)
    metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) })
    metrics.requestDuration.observe({ route, method: request.method }, reply.elapsedTime / 1000)
  })
}
