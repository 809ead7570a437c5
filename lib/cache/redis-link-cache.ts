import type { Redis } from 'ioredis'
import { RegistryError } from '../../errors/index.js'
import { parseDigest, type ParsedDigest } from '../digest.js'
import type { LinkCache } from '../store/link-cache.js'
import { RedisScript } from '../redis/script.js'

/** How long a cached link lives without being read back from storage (1 hour). */
export const DEFAULT_LINK_TTL_MS = 60 * 60 * 1000
/**
 * How long a link's generation outlives its last change (1 day). A reader
 * whose storage read spans the generation's expiry and a later change
 * could store a stale value, so this must exceed any storage read by far.
 */
export const DEFAULT_GENERATION_TTL_MS = 24 * 60 * 60 * 1000
/** Longest wait for Redis in one operation, whatever the client's own timeouts (3 s). */
export const DEFAULT_OPERATION_TIMEOUT_MS = 3000

/** What the cache stores for "there is no link" (a digest never looks like this). */
const ABSENT = '-'

/** Stores the loaded value only if no change was recorded since the reader took the generation (`''`: none). */
const FILL = new RedisScript(`
local generation = redis.call('GET', KEYS[2])
if not generation then generation = '' end
if generation ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`)

/** A new generation and no value, at once: no reader that started earlier can store what it read. */
const INVALIDATE = new RedisScript(`
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return 1
`)

type Logger = { warn: (object: object, message: string) => void, info: (object: object, message: string) => void }

export interface RedisLinkCacheOptions {
  client: Redis
  /** Prepended to every key (the `redis` option's keyPrefix). */
  keyPrefix: string
  /** Told once when Redis becomes unreachable, and when it is back. */
  log?: Logger
  /** Milliseconds a cached link lives (default 1 hour). */
  ttl?: number
  /** Milliseconds a link's generation outlives its last change (default 1 day). */
  generationTtl?: number
  /** Longest wait for Redis in one read or change, in milliseconds (default 3 s). */
  operationTimeout?: number
}

/**
 * What link files name, cached in Redis and shared by every instance that
 * uses the same Redis server and key prefix. Cache-aside with a generation
 * per link: `changed` bumps the generation and drops the value in one
 * script; a reader that missed takes the generation together with the
 * (missing) value, reads storage, and stores what it read only if the
 * generation is still the one it took. So a change made through any
 * instance is seen by every instance on its next read, and a slow reader
 * never puts back a value older than a change.
 *
 * Keys: `<prefix>link:{<path>}:v` (the digest, or "-" for no link; expires
 * after `ttl`) and `<prefix>link:{<path>}:g` (the generation). Both share a
 * hash tag, so the scripts also run on a Redis Cluster node.
 *
 * When Redis cannot be reached, `read` loads from storage (correct, only
 * slower) and `changed` rejects with UNAVAILABLE (503): the change reached
 * storage, but other instances may still serve the old value from Redis, so
 * the write is not acknowledged and the client retries. The path is
 * remembered, bypasses the cache on this instance, and is invalidated as
 * soon as Redis answers again.
 */
export class RedisLinkCache implements LinkCache {
  readonly #client: Redis
  readonly #prefix: string
  readonly #log: Logger | undefined
  readonly #ttl: number
  readonly #generationTtl: number
  readonly #timeout: number
  /** Paths changed while Redis could not be told: not served from Redis until it has been. */
  readonly #pending = new Set<string>()
  #flushing: Promise<void> | undefined
  #down = false
  #closed = false
  readonly #onReady = (): void => { void this.#flushPending() }

  constructor (options: RedisLinkCacheOptions) {
    for (const key of ['ttl', 'generationTtl', 'operationTimeout'] as const) {
      const value = options[key]
      if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) throw new TypeError(`${key} must be a positive integer (milliseconds)`)
    }
    this.#client = options.client
    this.#prefix = options.keyPrefix
    this.#log = options.log
    this.#ttl = options.ttl ?? DEFAULT_LINK_TTL_MS
    this.#generationTtl = options.generationTtl ?? DEFAULT_GENERATION_TTL_MS
    this.#timeout = options.operationTimeout ?? DEFAULT_OPERATION_TIMEOUT_MS
    this.#client.on('ready', this.#onReady)
  }

  /** The Redis keys of the link at `path`: its cached value and its generation. */
  keys (path: string): { value: string, generation: string } {
    const base = `${this.#prefix}link:{${path}}`
    return { value: `${base}:v`, generation: `${base}:g` }
  }

  /** Paths whose change Redis has not been told of yet. */
  get pendingInvalidations (): number {
    return this.#pending.size
  }

  async read (path: string, load: () => Promise<ParsedDigest | undefined>): Promise<ParsedDigest | undefined> {
    if (this.#closed) return await load()
    const status = this.#client.status
    if (status !== 'ready') {
      // Still connecting for the first time is not an outage worth a warning.
      if (status !== 'wait' && status !== 'connecting' && status !== 'connect') this.#unreachable(new Error(`Redis connection is ${status}`))
      return await load()
    }
    if (this.#pending.size > 0) {
      void this.#flushPending()
      if (this.#pending.has(path)) return await load()
    }

    const keys = this.keys(path)
    let cached: string | null
    let generation: string | null
    try {
      // One atomic read: the generation is taken no later than the miss.
      [cached, generation] = await this.#bounded(this.#client.mget(keys.value, keys.generation))
    } catch (error) {
      this.#unreachable(error)
      return await load()
    }
    this.#reachable()
    if (cached !== null) {
      if (cached === ABSENT) return undefined
      const digest = parseDigest(cached)
      if (digest !== undefined) return digest
      // Not something we wrote: read storage and let the fill replace it.
    }

    const value = await load()
    try {
      await this.#bounded(FILL.run(this.#client, [keys.value, keys.generation], [generation ?? '', value?.digest ?? ABSENT, this.#ttl]))
    } catch (error) {
      this.#unreachable(error)
    }
    return value
  }

  async changed (path: string, _value: ParsedDigest | undefined): Promise<void> {
    if (this.#closed) return
    try {
      await this.#invalidate(path)
    } catch (error) {
      this.#pending.add(path)
      this.#unreachable(error)
      throw new RegistryError('UNAVAILABLE', { message: 'the change was stored, but the shared link cache could not be told of it; retry', cause: error })
    }
    this.#pending.delete(path)
    this.#reachable()
  }

  async close (): Promise<void> {
    this.#closed = true
    this.#client.off('ready', this.#onReady)
    await this.#flushing
  }

  async #invalidate (path: string): Promise<void> {
    const keys = this.keys(path)
    await this.#bounded(INVALIDATE.run(this.#client, [keys.value, keys.generation], [this.#generationTtl]))
  }

  /** Tells Redis of the changes it missed; stops at the first failure (the rest wait for the next attempt). */
  async #flushPending (): Promise<void> {
    if (this.#flushing !== undefined || this.#pending.size === 0) return await this.#flushing
    this.#flushing = (async () => {
      for (const path of [...this.#pending]) {
        try {
          await this.#invalidate(path)
        } catch (error) {
          this.#unreachable(error)
          return
        }
        this.#pending.delete(path)
      }
      this.#reachable()
    })().finally(() => { this.#flushing = undefined })
    await this.#flushing
  }

  /** `operation`, or a rejection once the operation timeout has passed (the command may still run). */
  async #bounded<T> (operation: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new Error(`Redis did not answer within ${this.#timeout} ms`)) }, this.#timeout)
    })
    try {
      return await Promise.race([operation, timeout])
    } finally {
      clearTimeout(timer)
      operation.catch(() => {}) // a late failure of an abandoned command is no one's business
    }
  }

  #unreachable (error: unknown): void {
    if (this.#down) return
    this.#down = true
    this.#log?.warn({ err: error }, 'fastify-oci-registry: Redis link cache unreachable; reading links from storage, refusing link changes until it is back')
  }

  #reachable (): void {
    if (!this.#down) return
    this.#down = false
    this.#log?.info({}, 'fastify-oci-registry: Redis link cache reachable again')
  }
}

