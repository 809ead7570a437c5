import { resolveLinkCacheKind, usesRedisUploadState, type RegistryOptions, type ResolvedLimits } from '../options.js'
import { RedisUploadStateProvider } from '../upload-state/redis.js'
import { RedisLinkCache } from '../cache/redis-link-cache.js'
import { createRedisConnection, type RedisConnection, type RedisLogger } from './client.js'

/** What the `redis` option gives the App: each part only when an option asks for it. */
export interface RedisParts {
  /** The connection, when something uses Redis. */
  connection?: RedisConnection
  /** For `uploadState: { redis: true }`. */
  uploadState?: RedisUploadStateProvider
  /** For `cache.links: 'redis'`. */
  linkCache?: RedisLinkCache
  /** Closes the link cache, then the connection (a client the app passed in stays open). */
  close: () => Promise<void>
}

/**
 * The Redis-backed parts the options ask for, sharing one connection. With
 * no `redis` option, or one nothing uses, nothing connects. Expects options
 * that passed validateOptions.
 */
export function createRedisParts (options: RegistryOptions, limits: Pick<ResolvedLimits, 'uploadMaxAge'>, log: RedisLogger): RedisParts {
  const wantsUploadState = usesRedisUploadState(options.uploadState)
  const wantsLinkCache = resolveLinkCacheKind(options) === 'redis'
  if (options.redis === undefined) {
    // validateOptions refuses these; never fall back silently to something else.
    if (wantsUploadState || wantsLinkCache) throw new Error('fastify-oci-registry: uploadState.redis and cache.links redis need the redis option')
    return { close: async () => {} }
  }
  if (!wantsUploadState && !wantsLinkCache) {
    log.info({}, 'fastify-oci-registry: a redis server is configured, but neither uploadState.redis nor cache.links redis uses it; not connecting')
    return { close: async () => {} }
  }
  const connection = createRedisConnection(options.redis, log)
  const { client, keyPrefix } = connection
  const uploadState = wantsUploadState ? new RedisUploadStateProvider({ client, keyPrefix, maxAge: limits.uploadMaxAge }) : undefined
  const linkCache = wantsLinkCache ? new RedisLinkCache({ client, keyPrefix, log }) : undefined
  return {
    connection,
    ...(uploadState === undefined ? {} : { uploadState }),
    ...(linkCache === undefined ? {} : { linkCache }),
    close: async () => {
      await linkCache?.close()
      await connection.close()
    }
  }
}
