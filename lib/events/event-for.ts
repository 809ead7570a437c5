import { randomUUID } from 'node:crypto'
import { isIPv6 } from 'node:net'
import { hostname } from 'node:os'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { parseDigest } from '../digest.js'
import { normalizeMediaType } from '../manifest/media-types.js'
import type { Descriptor, ParsedManifest } from '../manifest/parse.js'
import { hasBody, queryValue } from '../http/request-values.js'
import type { Context } from '../context.js'
import type { BlobStore } from '../store/blobs.js'
import type { ManifestStore } from '../store/manifests.js'
import { BLOB_EVENT_MEDIA_TYPE, type EventAction, type EventReference, type EventTarget, type RegistryEvent } from './event.js'

/** Where what a response does not say (a pushed blob's size, a manifest's references) is looked up; the App is one. */
export interface EventLookups {
  blobs: Pick<BlobStore, 'stat'>
  manifests: Pick<ManifestStore, 'get'>
}

export interface EventForOptions {
  /** `source.instanceID`. */
  instanceID?: string
  /** `source.addr`; default this host's name and the port the request came in on. */
  sourceAddr?: string
  /** Add `target.references` to manifest push and pull events (needs `lookups`). */
  includeReferences?: boolean
  /**
   * Without lookups, a blob push or mount has no size, and a manifest push takes
   * its media type and size from the request's Content-Type and Content-Length.
   */
  lookups?: EventLookups
}

/**
 * The action a completed response amounts to, or undefined when it is no event:
 * manifest PUT 201 push, GET 200 pull, DELETE 202 delete; blob GET 200/206 pull,
 * DELETE 202 delete; upload PUT 201 push; upload POST 201 push (monolithic) or
 * mount (`?mount=&from=`). HEAD is never a pull, as in distribution.
 */
export function eventAction (request: FastifyRequest, reply: FastifyReply): EventAction | undefined {
  const context = request.registry
  if (context === null || context === undefined || context.name === undefined) return undefined
  const status = reply.statusCode
  const method = request.method
  switch (context.route.name) {
    case 'manifest':
      if (method === 'PUT') return status === 201 ? 'push' : undefined
      if (method === 'GET') return status === 200 && finished(reply) ? 'pull' : undefined
      if (method === 'DELETE') return status === 202 ? 'delete' : undefined
      return undefined
    case 'blob':
      // A 307 sends the client to the storage for the bytes: still a pull, as distribution counts it.
      if (method === 'GET') return (status === 200 || status === 206 || status === 307) && finished(reply) ? 'pull' : undefined
      if (method === 'DELETE') return status === 202 ? 'delete' : undefined
      return undefined
    case 'blob-upload-chunk':
      return method === 'PUT' && status === 201 ? 'push' : undefined
    case 'blob-upload':
      if (method !== 'POST' || status !== 201) return undefined
      return isMount(request) ? 'mount' : 'push'
    default:
      return undefined
  }
}

/**
 * The registry event a completed response amounts to (see `eventAction`), in
 * distribution's format; undefined when it is none. Made from the request's
 * Context (route, repository, reference, grant) and the response (status,
 * Docker-Content-Digest, Content-Type, Content-Length, Content-Range), looking
 * up only what those do not say. Never throws: a failed lookup leaves the
 * field out.
 */
export async function eventFor (request: FastifyRequest, reply: FastifyReply, options: EventForOptions = {}): Promise<RegistryEvent | undefined> {
  const action = eventAction(request, reply)
  if (action === undefined) return undefined
  const context = request.registry!
  try {
    const target = await targetOf(action, request, reply, context, options)
    if (target === undefined) return undefined
    return {
      id: randomUUID(),
      timestamp: new Date().toISOString(),
      action,
      target,
      request: {
        id: String(request.id),
        addr: clientAddress(request),
        host: request.host,
        method: request.method,
        useragent: headerText(request.headers['user-agent']) ?? ''
      },
      actor: context.grant?.user?.name === undefined ? {} : { name: context.grant.user.name },
      source: {
        addr: options.sourceAddr ?? sourceAddress(request),
        instanceID: options.instanceID
      }
    }
  } catch (error) {
    context.log.warn({ err: error }, 'fastify-oci-registry: could not describe a registry event')
    return undefined
  }
}

async function targetOf (action: EventAction, request: FastifyRequest, reply: FastifyReply, context: Context, options: EventForOptions): Promise<EventTarget | undefined> {
  const repository = context.repository
  if (action === 'delete') {
    if (context.route.name === 'manifest' && context.tag !== undefined) return { repository, tag: context.tag }
    return context.digest === undefined ? undefined : { repository, digest: context.digest.digest }
  }
  const digestText = responseHeader(reply, 'docker-content-digest') ?? context.digest?.digest
  const digest = digestText === undefined ? undefined : parseDigest(digestText)
  if (digest === undefined) return undefined

  if (context.route.name === 'manifest') {
    const target: EventTarget = { repository, digest: digest.digest }
    let mediaType: string | undefined
    let size: number | undefined
    if (action === 'pull') {
      mediaType = normalizeMediaType(responseHeader(reply, 'content-type'))
      size = toSize(responseHeader(reply, 'content-length'))
    } else {
      mediaType = normalizeMediaType(context.contentType)
      size = toSize(headerText(request.headers['content-length']))
    }
    // A push is described from what was stored (canonical media type, exact size); references come from there too.
    if (options.lookups !== undefined && (action === 'push' || options.includeReferences === true || mediaType === undefined || size === undefined)) {
      const stored = await lookup(context, async () => await options.lookups!.manifests.get(repository, digest))
      if (stored !== undefined) {
        mediaType = stored.parsed.mediaType
        size = stored.content.length
        if (options.includeReferences === true) target.references = referencesOf(stored.parsed)
      }
    }
    return describe(target, mediaType, size, context.urls.build('manifest', { name: repository, reference: digest.digest }), context.tag)
  }

  const target: EventTarget = { repository, digest: digest.digest }
  let size: number | undefined
  if (action === 'pull' && reply.statusCode !== 307) {
    size = totalOfRange(responseHeader(reply, 'content-range')) ?? toSize(responseHeader(reply, 'content-length'))
  } else if (action === 'pull') {
    if (options.lookups !== undefined) size = (await lookup(context, async () => await options.lookups!.blobs.stat(digest)))?.size
  } else {
    if (action === 'mount') target.fromRepository = queryValue(request, 'from')
    // A monolithic upload's body is the whole blob; a chunked upload's last request carries only its end.
    if (action === 'push' && context.route.name === 'blob-upload') size = toSize(headerText(request.headers['content-length']))
    if (size === undefined && options.lookups !== undefined) size = (await lookup(context, async () => await options.lookups!.blobs.stat(digest)))?.size
  }
  return describe(target, BLOB_EVENT_MEDIA_TYPE, size, context.urls.build('blob', { name: repository, digest: digest.digest }), undefined)
}

/** Fills the descriptor fields in distribution's order, leaving out what is unknown. */
function describe (target: EventTarget, mediaType: string | undefined, size: number | undefined, url: string, tag: string | undefined): EventTarget {
  const result: EventTarget = { mediaType, size, digest: target.digest, length: size, repository: target.repository }
  if (target.fromRepository !== undefined) result.fromRepository = target.fromRepository
  result.url = url
  if (tag !== undefined) result.tag = tag
  if (target.references !== undefined) result.references = target.references
  for (const key of ['mediaType', 'size', 'length'] as const) if (result[key] === undefined) delete result[key]
  return result
}

async function lookup<T> (context: Context, read: () => Promise<T | undefined>): Promise<T | undefined> {
  try {
    return await read()
  } catch (error) {
    context.log.debug({ err: error }, 'fastify-oci-registry: a registry event lookup failed; the field is left out')
    return undefined
  }
}

function referencesOf (parsed: ParsedManifest): EventReference[] {
  return [...parsed.blobs, ...(parsed.foreignLayers ?? []), ...parsed.manifests].map(reference)
}

function reference (descriptor: Descriptor): EventReference {
  const result: EventReference = { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size }
  if (descriptor.artifactType !== undefined) result.artifactType = descriptor.artifactType
  if (descriptor.annotations !== undefined) result.annotations = descriptor.annotations
  if (descriptor.urls !== undefined) result.urls = descriptor.urls
  return result
}

/** A cross-repository mount that took place: the POST named one, and did not fall back to a monolithic upload with a body. */
function isMount (request: FastifyRequest): boolean {
  if (queryValue(request, 'mount') === undefined || queryValue(request, 'from') === undefined) return false
  if (queryValue(request, 'digest') === undefined) return true
  try {
    return !hasBody(request)
  } catch {
    return false
  }
}

/**
 * False for a response that failed part way (a read error destroyed it): that is
 * no pull. (onResponse runs on `finish` or `error`; a download the client
 * abandoned emits neither.)
 */
function finished (reply: FastifyReply): boolean {
  return (reply.raw as { errored?: unknown }).errored == null
}

function responseHeader (reply: FastifyReply, name: string): string | undefined {
  const value = reply.getHeader(name)
  if (typeof value === 'number') return String(value)
  return headerText(value)
}

function headerText (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

function toSize (value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,15}$/.test(value.trim())) return undefined
  return Number(value)
}

/** The complete length of a `Content-Range: bytes a-b/total`. */
function totalOfRange (value: string | undefined): number | undefined {
  const match = value === undefined ? null : /\/(\d{1,15})\s*$/.exec(value)
  return match === null ? undefined : Number(match[1])
}

function withPort (address: string, port: number | undefined): string {
  if (port === undefined) return address
  return isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`
}

/** The client: `ip:port` when it connected directly; the forwarded address (trustProxy) otherwise. */
function clientAddress (request: FastifyRequest): string | undefined {
  const socket = request.raw.socket as { remoteAddress?: string, remotePort?: number } | undefined
  const ip = request.ip
  if (ip === undefined || ip === '') return undefined
  return ip === socket?.remoteAddress ? withPort(ip, socket.remotePort) : ip
}

let host: string | undefined

/** This instance, as distribution names it: host name and the port the request came in on. */
function sourceAddress (request: FastifyRequest): string {
  host ??= hostname()
  const port = (request.raw.socket as { localPort?: number } | undefined)?.localPort
  return port === undefined ? host : `${host}:${port}`
}
