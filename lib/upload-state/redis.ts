import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import { RegistryError } from '../../errors/index.js'
import { InvalidUploadStateError, type UploadState, type UploadStateProvider } from './provider.js'

/** Random bytes in a token: 144 bits, 24 base64url characters. */
const TOKEN_BYTES = 18
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{24}$/
/** Shortest life of a stored state, even for an upload already past its age (the route refuses it then). */
const MIN_TTL_MS = 1000

export interface RedisUploadStateOptions {
  client: Redis
  /** Prepended to every key (the `redis` option's keyPrefix). */
  keyPrefix: string
  /** Milliseconds after an upload's start when its states expire: `limits.uploadMaxAge`. */
  maxAge: number
  /** Clock, for tests. */
  now?: () => number
}

/**
 * Upload state kept in Redis: the `_state` token is only a random id, the
 * state it names lives at `<keyPrefix>upload-state:<id>` until the upload's
 * maximum age has passed. Every issued token keeps its own state, as an HMAC
 * token carries its own: a client coming back with an old token gets that
 * token's stale offset, which the upload routes compare with what storage
 * holds (416), exactly as with HMAC tokens. Instances sharing the Redis
 * server and key prefix continue each other's uploads.
 *
 * Cost: one small key (~150 bytes) per upload request answered with a
 * Location, kept up to the upload maximum age.
 */
export class RedisUploadStateProvider implements UploadStateProvider {
  readonly #client: Redis
  readonly #prefix: string
  readonly #maxAge: number
  readonly #now: () => number

  constructor (options: RedisUploadStateOptions) {
    if (!Number.isSafeInteger(options.maxAge) || options.maxAge < 1) throw new TypeError('maxAge must be a positive integer (milliseconds)')
    this.#client = options.client
    this.#prefix = options.keyPrefix
    this.#maxAge = options.maxAge
    this.#now = options.now ?? Date.now
  }

  /** The Redis key of a token's state. */
  key (token: string): string {
    return `${this.#prefix}upload-state:${token}`
  }

  async pack (state: UploadState): Promise<string> {
    const value = JSON.stringify({ name: state.name, uuid: state.uuid, offset: state.offset, startedAt: state.startedAt.toISOString() })
    const ttl = Math.max(MIN_TTL_MS, Math.ceil(state.startedAt.getTime() + this.#maxAge - this.#now()))
    for (;;) {
      const token = randomBytes(TOKEN_BYTES).toString('base64url')
      let stored: unknown
      try {
        stored = await this.#client.set(this.key(token), value, 'PX', ttl, 'NX')
      } catch (error) {
        throw unavailable(error)
      }
      // NX: a token is never reused, not even after a 1-in-2^144 collision.
      if (stored === 'OK') return token
    }
  }

  async unpack (token: string): Promise<UploadState> {
    if (!TOKEN_PATTERN.test(token)) throw new InvalidUploadStateError('not an upload state token')
    let stored: string | null
    try {
      stored = await this.#client.get(this.key(token))
    } catch (error) {
      throw unavailable(error)
    }
    if (stored === null) throw new InvalidUploadStateError('unknown or expired token')
    return parseState(stored)
  }
}

function parseState (stored: string): UploadState {
  let parsed: unknown
  try {
    parsed = JSON.parse(stored)
  } catch {
    throw new InvalidUploadStateError('malformed stored state')
  }
  if (parsed === null || typeof parsed !== 'object') throw new InvalidUploadStateError('malformed stored state')
  const { name, uuid, offset, startedAt } = parsed as Record<string, unknown>
  const started = typeof startedAt === 'string' ? new Date(startedAt) : new Date(Number.NaN)
  if (typeof name !== 'string' || typeof uuid !== 'string' || typeof offset !== 'number' ||
      !Number.isSafeInteger(offset) || offset < 0 || Number.isNaN(started.getTime())) {
    throw new InvalidUploadStateError('malformed stored state')
  }
  return { name, uuid, offset, startedAt: started }
}

/** Redis could not be asked: not the client's fault, and worth a retry (503). */
function unavailable (error: unknown): RegistryError {
  return new RegistryError('UNAVAILABLE', { message: 'upload state store is unavailable', cause: error })
}
