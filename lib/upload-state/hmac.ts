import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { InvalidUploadStateError, type UploadState, type UploadStateProvider } from './provider.js'

// Raised by HmacUploadStateProvider.unpack on a token it did not sign; shared by every provider.
export { InvalidUploadStateError }

const MAC_LENGTH = 32

/**
 * HMAC-SHA256 upload state, wire-compatible with CNCF distribution:
 * `base64url(HMAC-SHA256(secret, json) || json)` with padding, JSON fields
 * `Name`, `UUID`, `Offset`, `StartedAt` (RFC 3339). A fleet mixing both
 * registries over one storage and secret continues each other's uploads.
 */
export class HmacUploadStateProvider implements UploadStateProvider {
  readonly #secret: Buffer

  constructor (secret: string | Buffer) {
    this.#secret = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret)
    if (this.#secret.length === 0) throw new TypeError('upload state secret must not be empty')
  }

  /** A provider with a random per-process secret: uploads survive only on this instance. */
  static random (): HmacUploadStateProvider {
    return new HmacUploadStateProvider(randomBytes(32))
  }

  pack (state: UploadState): string {
    const json = Buffer.from(JSON.stringify({
      Name: state.name,
      UUID: state.uuid,
      Offset: state.offset,
      StartedAt: state.startedAt.toISOString()
    }), 'utf8')
    return Buffer.concat([this.#mac(json), json]).toString('base64').replace(/\+/g, '-').replace(/\//g, '_')
  }

  unpack (token: string): UploadState {
    if (!/^[A-Za-z0-9_-]+={0,2}$/.test(token)) throw new InvalidUploadStateError('not base64url')
    const bytes = Buffer.from(token, 'base64url')
    if (bytes.length <= MAC_LENGTH) throw new InvalidUploadStateError('too short')
    const mac = bytes.subarray(0, MAC_LENGTH)
    const json = bytes.subarray(MAC_LENGTH)
    if (!timingSafeEqual(mac, this.#mac(json))) throw new InvalidUploadStateError('bad signature')
    let parsed: unknown
    try {
      parsed = JSON.parse(json.toString('utf8'))
    } catch {
      throw new InvalidUploadStateError('malformed payload')
    }
    if (parsed === null || typeof parsed !== 'object') throw new InvalidUploadStateError('malformed payload')
    const { Name, UUID, Offset, StartedAt } = parsed as Record<string, unknown>
    const startedAt = typeof StartedAt === 'string' ? new Date(StartedAt) : new Date(Number.NaN)
    if (typeof Name !== 'string' || typeof UUID !== 'string' || typeof Offset !== 'number' ||
        !Number.isSafeInteger(Offset) || Offset < 0 || Number.isNaN(startedAt.getTime())) {
      throw new InvalidUploadStateError('malformed payload')
    }
    return { name: Name, uuid: UUID, offset: Offset, startedAt }
  }

  #mac (payload: Buffer): Buffer {
    return createHmac('sha256', this.#secret).update(payload).digest()
  }
}
