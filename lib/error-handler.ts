import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { RegistryError, isRegistryError, toEnvelope, type ErrorCode } from '../errors/index.js'
import { InvalidOffsetError, InvalidPathError, PathNotFoundError, StorageFullError, isDescriptorExhaustion } from './storage/errors.js'

const CODE_BY_STATUS: Record<number, ErrorCode> = {
  401: 'UNAUTHORIZED',
  403: 'DENIED',
  404: 'NAME_UNKNOWN',
  405: 'UNSUPPORTED',
  413: 'SIZE_INVALID',
  415: 'UNSUPPORTED',
  416: 'RANGE_INVALID',
  429: 'TOOMANYREQUESTS',
  503: 'UNAVAILABLE'
}

const SUCCESS_HEADERS = [
  'accept-ranges', 'cache-control', 'content-length', 'content-range', 'content-type', 'docker-content-digest',
  'docker-upload-uuid', 'etag', 'link', 'location', 'oci-filters-applied', 'oci-subject', 'oci-tag', 'range'
]

/** Seconds a client is asked to wait when the process is out of file descriptors: long enough for in-flight work to drain. */
const DESCRIPTOR_RETRY_AFTER_SECONDS = 1

const ABORT_CODES = new Set(['ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE', 'EPIPE'])

/** A client that went away mid-body: routine for a registry, not an error of ours. */
function isClientAbort (error: unknown): boolean {
  const { code, message } = error as { code?: unknown, message?: unknown }
  return (typeof code === 'string' && ABORT_CODES.has(code)) || message === 'aborted'
}

/** Turns anything thrown on a registry route into a RegistryError; undefined for an unexpected failure. */
export function toRegistryError (error: unknown): RegistryError | undefined {
  if (isRegistryError(error)) return error
  if (error instanceof StorageFullError) return new RegistryError('UNAVAILABLE', { status: 507, message: 'storage is full' })
  if (isDescriptorExhaustion(error)) {
    return new RegistryError('UNAVAILABLE', { message: 'the registry is out of file descriptors: retry shortly', headers: { 'Retry-After': String(DESCRIPTOR_RETRY_AFTER_SECONDS) } })
  }
  if (error instanceof InvalidPathError) return new RegistryError('NAME_INVALID', { message: 'invalid storage path' })
  if (error instanceof InvalidOffsetError) return new RegistryError('RANGE_INVALID')
  if (error instanceof PathNotFoundError) return undefined
  if (isClientAbort(error)) return new RegistryError('BLOB_UPLOAD_INVALID', { message: 'the client closed the request before its body ended' })
  const fastifyError = error as Partial<FastifyError>
  const status = fastifyError.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new RegistryError(CODE_BY_STATUS[status] ?? 'UNSUPPORTED', { status, message: fastifyError.message })
  }
  if (typeof status === 'number' && status === 503) return new RegistryError('UNAVAILABLE')
  return undefined
}

/** The one place errors become responses: the spec's JSON envelope, the code's status, its headers. */
export async function registryErrorHandler (error: unknown, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const log = request.registry?.log ?? request.log
  let mapped = toRegistryError(error)
  if (mapped === undefined) {
    log.error({ err: error }, 'unexpected error on a registry route')
    mapped = new RegistryError('UNKNOWN')
  } else if (mapped.status >= 500) {
    log.error({ err: error }, mapped.message)
  } else {
    log.debug({ code: mapped.code, status: mapped.status, detail: mapped.detail }, mapped.message)
  }
  if (reply.sent || reply.raw.headersSent) return reply
  // Headers the registry set for a success that did not happen must not leak into the error;
  // headers a host app set (request ids, CORS) stay.
  for (const name of SUCCESS_HEADERS) reply.removeHeader(name)
  return await reply.code(mapped.status).headers(mapped.headers).type('application/json; charset=utf-8').send(toEnvelope(mapped))
}
