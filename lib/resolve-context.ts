import type { FastifyRequest } from 'fastify'
import { RegistryError } from '../errors/index.js'
import { matchRoute, type RouteDefinition } from '../routes/table.js'
import { UrlBuilder } from '../routes/url-builder.js'
import { Context } from './context.js'
import { parseDigest, type ParsedDigest } from './digest.js'
import { isValidName, isValidTag } from './reference.js'
import { UploadStore } from './store/uploads.js'
import type { App } from './app.js'

function requireDigest (value: string): ParsedDigest {
  const digest = parseDigest(value)
  if (digest === undefined) throw new RegistryError('DIGEST_INVALID', { message: `unsupported or malformed digest: ${value}`, detail: { digest: value } })
  return digest
}

function checkMethod (route: RouteDefinition, method: string): void {
  if (!(route.methods as readonly string[]).includes(method)) {
    throw new RegistryError('UNSUPPORTED', { message: `${method} is not supported on this route`, headers: { Allow: route.methods.join(', ') } })
  }
}

/**
 * Builds a request's Context from its path: matches the route table, checks
 * the method and validates the name, reference, digest and upload id before
 * anything touches storage.
 */
export function resolveContext (request: FastifyRequest, app: App, basePath: string): Context {
  // An absolute-form target (`GET http://host/v2/...`, RFC 9112 3.2.2) is routed by its path.
  const url = request.url.startsWith('/') ? request.url : request.url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '')
  const queryAt = url.indexOf('?')
  const path = queryAt === -1 ? url : url.slice(0, queryAt)
  const subpath = path === basePath.slice(0, -1) ? '' : path.startsWith(basePath) ? path.slice(basePath.length) : undefined
  const match = subpath === undefined ? undefined : matchRoute(subpath)
  if (match === undefined) {
    throw new RegistryError('NAME_UNKNOWN', { status: 404, message: 'no registry route matches this path' })
  }
  const { route, params } = match
  checkMethod(route, request.method)

  if (params.name !== undefined && !isValidName(params.name)) {
    throw new RegistryError('NAME_INVALID', { detail: { name: params.name.slice(0, 300) } })
  }
  let digest: ParsedDigest | undefined
  let tag: string | undefined
  if (params.digest !== undefined) digest = requireDigest(params.digest)
  if (params.reference !== undefined) {
    if (params.reference.includes(':')) {
      digest = requireDigest(params.reference)
    } else if (isValidTag(params.reference)) {
      tag = params.reference
    } else if (request.method === 'PUT') {
      throw new RegistryError('TAG_INVALID', { message: 'invalid tag', detail: { tag: params.reference.slice(0, 300) } })
    }
    // Otherwise neither tag nor digest is set: such a reference names no manifest, and GET, HEAD and
    // DELETE answer 404 for it (the conformance suite requires it); only a PUT is told the tag is invalid.
  }
  if (params.uuid !== undefined && !UploadStore.isValidId(params.uuid)) {
    throw new RegistryError('BLOB_UPLOAD_UNKNOWN', { detail: { uuid: params.uuid.slice(0, 300) } })
  }

  return new Context({
    route,
    name: params.name,
    reference: params.reference,
    digest,
    tag,
    uuid: params.uuid,
    contentType: typeof request.headers['content-type'] === 'string' ? request.headers['content-type'] : undefined,
    urls: () => new UrlBuilder({ headers: request.headers, protocol: request.protocol, host: request.host }, app.urlOptions),
    log: request.log
  })
}
