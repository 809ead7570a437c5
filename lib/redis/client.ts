import { Redis, type RedisOptions } from 'ioredis'
import { parseRedisAddress, resolveRedisOption, type RedisConfig, type RegistryOptions } from '../options.js'

/** go-redis's defaults, which distribution users know. */
export const DEFAULT_DIAL_TIMEOUT_MS = 5000
export const DEFAULT_COMMAND_TIMEOUT_MS = 3000
/** Longest pause between reconnection attempts. */
export const MAX_RECONNECT_DELAY_MS = 2000

/** What the connection logs through: Fastify's (pino) logger fits. */
export interface RedisLogger {
  warn: (object: object, message: string) => void
  info: (object: object, message: string) => void
}

/** The registry's Redis: a client and the prefix of every key the registry uses in it. */
export interface RedisConnection {
  readonly client: Redis
  readonly keyPrefix: string
  /** True when the registry created the client (and `close` ends it); false for an app-owned client. */
  readonly owned: boolean
  /** Ends a client the registry created; leaves an app-owned one alone. Idempotent. */
  close (): Promise<void>
}

/** Delay before reconnection attempt `times` (1, 2, ...): 50 ms doubling, at most MAX_RECONNECT_DELAY_MS. Never gives up. */
export function reconnectDelay (times: number): number {
  return Math.min(50 * 2 ** Math.min(times - 1, 16), MAX_RECONNECT_DELAY_MS)
}

/**
 * ioredis options for a `redis` configuration. Commands fail fast rather than
 * wait for a server that is away: each is bounded by the command timeout, and
 * queued commands are failed after one reconnection attempt; reconnection
 * itself goes on forever, backing off to MAX_RECONNECT_DELAY_MS.
 */
export function redisClientOptions (config: RedisConfig): RedisOptions {
  const { host, port } = parseRedisAddress(config.addr)
  return {
    host,
    port,
    ...(config.username === undefined ? {} : { username: config.username }),
    ...(config.password === undefined || config.password === '' ? {} : { password: config.password }),
    db: config.db ?? 0,
    connectTimeout: config.dialtimeout ?? DEFAULT_DIAL_TIMEOUT_MS,
    commandTimeout: Math.max(config.readtimeout ?? DEFAULT_COMMAND_TIMEOUT_MS, config.writetimeout ?? DEFAULT_COMMAND_TIMEOUT_MS),
    ...(config.tls?.enabled === true ? { tls: { servername: host } } : {}),
    maxRetriesPerRequest: 1,
    retryStrategy: reconnectDelay,
    // A failover can leave the connection on a read-only replica: reconnect, then retry the command.
    reconnectOnError: (error) => error.message.startsWith('READONLY') ? 2 : false,
    connectionName: 'fastify-oci-registry',
    lazyConnect: false
  }
}

/**
 * The registry's Redis from the `redis` option: a new client for a
 * configuration (connecting at once; its errors are logged, once per outage,
 * never thrown), or the app's own client as it is.
 */
export function createRedisConnection (option: NonNullable<RegistryOptions['redis']>, log: RedisLogger): RedisConnection {
  const resolved = resolveRedisOption(option)
  if (resolved.client !== undefined) {
    const client = resolved.client
    return { client, keyPrefix: resolved.keyPrefix, owned: false, close: async () => {} }
  }
  const client = new Redis(redisClientOptions(resolved.config))
  const where = resolved.config.addr
  let down = false
  client.on('error', (error: Error) => {
    if (down) return
    down = true
    log.warn({ err: error, redis: where }, 'fastify-oci-registry: Redis is unreachable; retrying')
  })
  client.on('ready', () => {
    if (down) log.info({ redis: where }, 'fastify-oci-registry: Redis is reachable again')
    down = false
  })
  let closing: Promise<void> | undefined
  return {
    client,
    keyPrefix: resolved.keyPrefix,
    owned: true,
    close: async () => {
      closing ??= closeClient(client)
      await closing
    }
  }
}

/** QUIT when connected (pending replies arrive first), else drop the connection and stop reconnecting; resolves once it has ended. */
async function closeClient (client: Redis): Promise<void> {
  if (client.status === 'end') return
  if (client.status === 'reconnecting') {
    // Between attempts there is no socket to close, so no 'end' follows: cancelling the next attempt is all there is.
    client.disconnect(false)
    return
  }
  const ended = new Promise<void>((resolve) => { client.once('end', () => { resolve() }) })
  if (client.status === 'ready') {
    try {
      await client.quit()
    } catch {
      client.disconnect(false) // the connection went away meanwhile
    }
  } else {
    client.disconnect(false)
  }
  let timer: NodeJS.Timeout | undefined
  await Promise.race([ended, new Promise<void>((resolve) => { timer = setTimeout(resolve, 1000) })])
  clearTimeout(timer)
}
