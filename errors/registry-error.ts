import { ErrorCodes, type ErrorCode } from './codes.js'

export interface RegistryErrorOptions {
  /** Replaces the code's default message. */
  message?: string
  /** Machine-readable detail for the envelope's `detail` field. */
  detail?: unknown
  /** Overrides the code's default status (for example 413 for SIZE_INVALID on an oversized body). */
  status?: number
  /** Extra response headers, for example `WWW-Authenticate` or `Range`. */
  headers?: Record<string, string>
  cause?: unknown
}

/** The one error type handlers throw; the plugin maps it to the spec's JSON envelope. */
export class RegistryError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly detail: unknown
  readonly headers: Record<string, string>

  constructor (code: ErrorCode, options: RegistryErrorOptions = {}) {
    const descriptor = ErrorCodes[code]
    super(options.message ?? descriptor.message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'RegistryError'
    this.code = code
    this.status = options.status ?? descriptor.status
    this.detail = options.detail
    this.headers = options.headers ?? {}
  }
}

export function isRegistryError (value: unknown): value is RegistryError {
  return value instanceof RegistryError
}
