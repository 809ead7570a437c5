/** What an upload's `_state` token carries between requests. */
export interface UploadState {
  /** Repository name. */
  name: string
  /** Upload id. */
  uuid: string
  /** Bytes received so far. */
  offset: number
  /** When the upload started. */
  startedAt: Date
}

/**
 * Packs upload state into the opaque token that travels in an upload's
 * `Location` as `_state`, and verifies it when the client comes back.
 * `unpack` rejects a forged, corrupt, unknown or expired token by throwing
 * InvalidUploadStateError (the client is answered BLOB_UPLOAD_INVALID); any
 * other error means the provider could not decide (for example its store is
 * unreachable). Either method may answer synchronously or with a promise:
 * callers await both.
 */
export interface UploadStateProvider {
  pack (state: UploadState): Promise<string> | string
  unpack (token: string): Promise<UploadState> | UploadState
}

/** Raised by {@link UploadStateProvider.unpack} on a token it did not issue or no longer knows. */
export class InvalidUploadStateError extends Error {
  constructor (reason: string) {
    super(`invalid upload state: ${reason}`)
    this.name = 'InvalidUploadStateError'
  }
}
