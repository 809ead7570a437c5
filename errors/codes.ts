/**
 * The registry's error-code table: the OCI Distribution Spec's codes plus the
 * ones CNCF distribution adds. Client-safe: imports nothing from the server.
 */
export interface ErrorCodeDescriptor {
  /** The code as it appears in the JSON envelope. */
  readonly code: string
  /** The default, human-readable message. */
  readonly message: string
  /** The HTTP status this code is answered with unless an error overrides it. */
  readonly status: number
}

function code (code: string, status: number, message: string): ErrorCodeDescriptor {
  return Object.freeze({ code, status, message })
}

export const ErrorCodes = Object.freeze({
  BLOB_UNKNOWN: code('BLOB_UNKNOWN', 404, 'blob unknown to registry'),
  BLOB_UPLOAD_INVALID: code('BLOB_UPLOAD_INVALID', 400, 'blob upload invalid'),
  BLOB_UPLOAD_UNKNOWN: code('BLOB_UPLOAD_UNKNOWN', 404, 'blob upload unknown to registry'),
  DIGEST_INVALID: code('DIGEST_INVALID', 400, 'provided digest did not match uploaded content'),
  MANIFEST_BLOB_UNKNOWN: code('MANIFEST_BLOB_UNKNOWN', 400, 'manifest references a manifest or blob unknown to registry'),
  MANIFEST_INVALID: code('MANIFEST_INVALID', 400, 'manifest invalid'),
  MANIFEST_UNKNOWN: code('MANIFEST_UNKNOWN', 404, 'manifest unknown to registry'),
  NAME_INVALID: code('NAME_INVALID', 400, 'invalid repository name'),
  NAME_UNKNOWN: code('NAME_UNKNOWN', 404, 'repository name not known to registry'),
  SIZE_INVALID: code('SIZE_INVALID', 400, 'provided length did not match content length'),
  TAG_INVALID: code('TAG_INVALID', 400, 'manifest tag did not match URI'),
  UNAUTHORIZED: code('UNAUTHORIZED', 401, 'authentication required'),
  DENIED: code('DENIED', 403, 'requested access to the resource is denied'),
  UNSUPPORTED: code('UNSUPPORTED', 405, 'the operation is unsupported'),
  TOOMANYREQUESTS: code('TOOMANYREQUESTS', 429, 'too many requests'),
  RANGE_INVALID: code('RANGE_INVALID', 416, 'invalid content range'),
  PAGINATION_NUMBER_INVALID: code('PAGINATION_NUMBER_INVALID', 400, 'invalid number of results requested'),
  UNAVAILABLE: code('UNAVAILABLE', 503, 'service unavailable'),
  UNKNOWN: code('UNKNOWN', 500, 'unknown error')
})

export type ErrorCode = keyof typeof ErrorCodes
