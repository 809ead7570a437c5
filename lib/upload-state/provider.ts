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
 * `unpack` rejects a forged or corrupt token by throwing.
 */
export interface UploadStateProvider {
  pack (state: UploadState): string
  unpack (token: string): UploadState
}
