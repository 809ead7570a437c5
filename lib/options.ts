import { isIPv6 } from 'node:net'
import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { StorageDriver } from './storage/driver.js'
import type { AccessController } from './auth/access-controller.js'
import type { UploadStateProvider } from './upload-state/provider.js'
import type { Redis } from 'ioredis'
import type { FastifyRequest } from 'fastify'
import type { Registry as PrometheusRegistry } from 'prom-client'
import { RegistryConfigError } from './config-error.js'
import { validateAuthOptions, type AuthOptions } from './auth/auth-options.js'
import { resolveS3Options, S3OptionError, type S3DriverOptions } from './storage/s3-options.js'
import { RegistryHandle } from './operations/handle.js'
import { validateNotificationsOptions, type NotificationsOptions } from './notifications/options.js'

export { RegistryConfigError }

/** `storage.s3`: distribution's `storage.s3` keys (see lib/storage/s3-options.ts); sizes in bytes. */
export const S3StorageConfigSchema = Type.Object({
  region: Type.Optional(Type.String()),
  regionendpoint: Type.Optional(Type.String()),
  bucket: Type.String({ minLength: 1 }),
  accesskey: Type.Optional(Type.String()),
  secretkey: Type.Optional(Type.String()),
  rootdirectory: Type.Optional(Type.String()),
  forcepathstyle: Type.Optional(Type.Boolean()),
  secure: Type.Optional(Type.Boolean()),
  skipverify: Type.Optional(Type.Boolean()),
  chunksize: Type.Optional(Type.Integer()),
  minpartsize: Type.Optional(Type.Integer()),
  multipartcopythresholdsize: Type.Optional(Type.Integer()),
  multipartcopychunksize: Type.Optional(Type.Integer()),
  multipartcopymaxconcurrency: Type.Optional(Type.Integer())
}, { additionalProperties: false })

export const StorageConfigSchema = Type.Union([
  Type.Object({ filesystem: Type.Object({ rootDirectory: Type.String({ minLength: 1 }) }, { additionalProperties: false }) }, { additionalProperties: false }),
  Type.Object({ inmemory: Type.Object({}, { additionalProperties: false }) }, { additionalProperties: false }),
  Type.Object({ s3: S3StorageConfigSchema }, { additionalProperties: false })
])
export type StorageConfig = Static<typeof StorageConfigSchema>

const PositiveInteger = Type.Integer({ minimum: 1 })

/** Longest timer Node keeps (setTimeout's limit), in milliseconds. */
const MAX_TIMER_MS = 2 ** 31 - 1
const Milliseconds = Type.Integer({ minimum: 1, maximum: MAX_TIMER_MS })

export const DEFAULT_REDIS_KEY_PREFIX = 'fastify-oci-registry:'

/**
 * `redis`: the server the scale-out features share (upload state, link cache).
 * Names as in distribution's `redis` section; timeouts in milliseconds.
 */
export const RedisConfigSchema = Type.Object({
  /** `host:port`, `[ipv6]:port`, or `host` (port 6379). */
  addr: Type.String({ minLength: 1 }),
  username: Type.Optional(Type.String({ minLength: 1 })),
  password: Type.Optional(Type.String()),
  /** Logical database number (SELECT). */
  db: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Milliseconds to establish the connection (default 5000). */
  dialtimeout: Type.Optional(Milliseconds),
  /**
   * Milliseconds a command may take, sending (writetimeout) and answering
   * (readtimeout): a command fails after the larger of the two (default 3000).
   */
  readtimeout: Type.Optional(Milliseconds),
  writetimeout: Type.Optional(Milliseconds),
  tls: Type.Optional(Type.Object({ enabled: Type.Optional(Type.Boolean()) }, { additionalProperties: false })),
  /** Prepended to every key this registry uses (default "fastify-oci-registry:"); instances sharing data share it. */
  keyPrefix: Type.Optional(Type.String())
}, { additionalProperties: false })
export type RedisConfig = Static<typeof RedisConfigSchema>

/** What the link cache keeps: `storage` (checked against storage on every read), `redis` (shared), `none`. */
export const LinkCacheKindSchema = Type.Union([Type.Literal('storage'), Type.Literal('redis'), Type.Literal('none')])
export type LinkCacheKind = Static<typeof LinkCacheKindSchema>
export const DEFAULT_LINK_CACHE: LinkCacheKind = 'storage'

const HOUR_MS = 60 * 60 * 1000

/**
 * `maintenance`: distribution's `storage.maintenance` section, times in
 * milliseconds. Upload purging is on by default, as in distribution.
 */
export const MaintenanceOptionsSchema = Type.Object({
  uploadPurging: Type.Optional(Type.Object({
    /** Default true. */
    enabled: Type.Optional(Type.Boolean()),
    /** Unfinished uploads started longer ago than this are removed (default 168 hours). */
    age: Type.Optional(PositiveInteger),
    /** Time between the end of one run and the start of the next (default 24 hours). */
    interval: Type.Optional(Milliseconds),
    /** Log what would be removed, remove nothing (default false). */
    dryRun: Type.Optional(Type.Boolean()),
    /** Time from start-up (Fastify's ready) to the first run (default 1 minute). */
    delay: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_TIMER_MS }))
  }, { additionalProperties: false })),
  /** Writes (POST, PUT, PATCH, DELETE) refused with 405 UNSUPPORTED; reads served; upload purging off. */
  readOnly: Type.Optional(Type.Object({ enabled: Type.Optional(Type.Boolean()) }, { additionalProperties: false }))
}, { additionalProperties: false })
export type MaintenanceOptions = Static<typeof MaintenanceOptionsSchema>

export interface ResolvedUploadPurging {
  enabled: boolean
  age: number
  interval: number
  dryRun: boolean
  delay: number
}

export const DEFAULT_UPLOAD_PURGING: Readonly<ResolvedUploadPurging> = Object.freeze({
  enabled: true,
  age: 168 * HOUR_MS,
  interval: 24 * HOUR_MS,
  dryRun: false,
  delay: 60_000
})

export function resolveUploadPurging (maintenance: MaintenanceOptions | undefined): ResolvedUploadPurging {
  const purging = maintenance?.uploadPurging
  return {
    enabled: purging?.enabled ?? DEFAULT_UPLOAD_PURGING.enabled,
    age: purging?.age ?? DEFAULT_UPLOAD_PURGING.age,
    interval: purging?.interval ?? DEFAULT_UPLOAD_PURGING.interval,
    dryRun: purging?.dryRun ?? DEFAULT_UPLOAD_PURGING.dryRun,
    delay: purging?.delay ?? DEFAULT_UPLOAD_PURGING.delay
  }
}

/** `rateLimit`, less its function (`keyGenerator`). */
export const RateLimitDataSchema = Type.Object({
  max: PositiveInteger,
  timeWindow: Type.Optional(Milliseconds),
  keyBy: Type.Optional(Type.Union([Type.Literal('ip'), Type.Literal('user')])),
  allowList: Type.Optional(Type.Array(Type.String())),
  cache: Type.Optional(PositiveInteger)
}, { additionalProperties: false })

/**
 * `rateLimit`: per-client request limits (@fastify/rate-limit, inside the
 * registry's own context). Over the limit: 429 TOOMANYREQUESTS with Retry-After.
 */
export interface RateLimitOptions {
  /** Requests one client may make per window. */
  max: number
  /** The window, in milliseconds (default 1 minute). */
  timeWindow?: number
  /**
   * `ip` (default): the limiter runs before access control, keyed by the client
   * address (IPv6 by /64), so it also slows credential guessing. `user`: it runs
   * after access control, keyed by the authenticated user (anonymous requests by
   * address); `request.registry.grant` is set for `keyGenerator`.
   */
  keyBy?: 'ip' | 'user'
  /** Replaces the key `keyBy` gives; runs at the point `keyBy` chooses. */
  keyGenerator?: (request: FastifyRequest) => string | number | Promise<string | number>
  /** Keys never limited. */
  allowList?: string[]
  /** Clients remembered at once (least recently seen forgotten first; default 5000). */
  cache?: number
}

export const MetricsDataSchema = Type.Object({
  enabled: Type.Optional(Type.Boolean()),
  /** Prepended to every metric name (default `registry_`). */
  prefix: Type.Optional(Type.String({ pattern: '^(?:[a-zA-Z_:][a-zA-Z0-9_:]*)?$' })),
  /** Also collect prom-client's process and Node.js metrics into the registry (default false). */
  collectDefaultMetrics: Type.Optional(Type.Boolean())
}, { additionalProperties: false })

/** `metrics`: Prometheus metrics with prom-client; `true` for the defaults. */
export interface MetricsOptions {
  /** Default true when the object is given. */
  enabled?: boolean
  /** The prom-client Registry to put the metrics in; default: one of the registry's own. */
  register?: PrometheusRegistry
  /** Prepended to every metric name (default `registry_`); two registries sharing a `register` need different ones. */
  prefix?: string
  /** Also collect prom-client's process and Node.js metrics (default false). */
  collectDefaultMetrics?: boolean
}

export interface ResolvedMetrics {
  register: PrometheusRegistry | undefined
  prefix: string
  collectDefaultMetrics: boolean
}

export const DEFAULT_METRICS_PREFIX = 'registry_'

/** The metrics to collect, or undefined when off. */
export function resolveMetrics (metrics: RegistryOptions['metrics']): ResolvedMetrics | undefined {
  if (metrics === undefined || metrics === false) return undefined
  if (metrics === true) return { register: undefined, prefix: DEFAULT_METRICS_PREFIX, collectDefaultMetrics: false }
  if (metrics.enabled === false) return undefined
  return { register: metrics.register, prefix: metrics.prefix ?? DEFAULT_METRICS_PREFIX, collectDefaultMetrics: metrics.collectDefaultMetrics === true }
}

/** The plain-data part of the options, validated with TypeBox at registration. */
export const RegistryDataOptionsSchema = Type.Object({
  maintenance: Type.Optional(MaintenanceOptionsSchema),
  delete: Type.Optional(Type.Object({ enabled: Type.Optional(Type.Boolean()) }, { additionalProperties: false })),
  redirect: Type.Optional(Type.Object({ disable: Type.Optional(Type.Boolean()) }, { additionalProperties: false })),
  http: Type.Optional(Type.Object({
    /** Absolute base URL used in `Location` headers, for example `https://registry.example.com`. */
    host: Type.Optional(Type.String({ pattern: '^https?://[^/?#]+/?$' })),
    /** Answer with relative `Location` URLs instead of absolute ones. */
    relativeURLs: Type.Optional(Type.Boolean())
  }, { additionalProperties: false })),
  limits: Type.Optional(Type.Object({
    /** Largest manifest body accepted, in bytes (default 4 MiB). */
    manifestBodySize: Type.Optional(PositiveInteger),
    /** Largest blob body accepted in one request, in bytes; unset means no cap. */
    blobBodySize: Type.Optional(PositiveInteger),
    /** Largest `n` on tags list (default 1000). */
    tagsPageSize: Type.Optional(PositiveInteger),
    /** Largest `n` on the catalog (default 1000). */
    catalogPageSize: Type.Optional(PositiveInteger),
    /** Age in milliseconds after which an unfinished upload is refused on resume (default 7 days). */
    uploadMaxAge: Type.Optional(PositiveInteger),
    /** Upload requests (monolithic POST, PATCH, PUT with a body) one instance receives at once; more get 429 (default: no cap). */
    concurrentUploads: Type.Optional(PositiveInteger),
    /** Milliseconds a request body may stall before the connection is dropped (default 2 minutes). */
    bodyIdleTimeout: Type.Optional(PositiveInteger),
    /**
     * Least bytes per second a request body must average over each
     * `bodyMinRateWindow`, counting only time spent waiting for the client;
     * slower bodies are cut with BLOB_UPLOAD_INVALID, keeping what arrived
     * (default 1024; 0 turns the check off).
     */
    bodyMinRate: Type.Optional(Type.Integer({ minimum: 0 })),
    /** Milliseconds `bodyMinRate` is averaged over (default 30 s). */
    bodyMinRateWindow: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TIMER_MS }))
  }, { additionalProperties: false })),
  cache: Type.Optional(Type.Object({
    /** Where what link files name (tags, revisions, layers) is cached (default `storage`; `redis` needs the `redis` option). */
    links: Type.Optional(LinkCacheKindSchema)
  }, { additionalProperties: false }))
})

/** The options of `app.register(registry, options)`. */
export interface RegistryOptions {
  /**
   * A storage driver instance, or the configuration of a built-in one.
   * Default: `{ filesystem: { rootDirectory: './registry-data' } }`.
   */
  storage?: StorageDriver | StorageConfig
  /** Blob and manifest deletion; off by default, as in CNCF distribution. */
  delete?: { enabled?: boolean }
  /**
   * Blob GETs answer 307 to a URL the storage signs (S3), so the bytes do not pass
   * through the registry, as in CNCF distribution; only with a driver that can sign
   * (`redirectURL`). `disable: true` streams them instead, for clients that cannot
   * reach the storage. HEAD is always answered by the registry.
   */
  redirect?: { disable?: boolean }
  /**
   * How upload state is carried between requests: a provider, the shared
   * secret of the default HMAC provider, or `{ redis: true }` to keep it in
   * the `redis` server (the token is then only a random id). Without one, a
   * random per-process secret is used and a warning is logged.
   */
  uploadState?: UploadStateProvider | { secret: string } | { redis: true }
  /**
   * The Redis server shared by instances: its address and settings (see
   * RedisConfigSchema), or a connected ioredis client the embedding app owns
   * (it is not closed by the registry), as `{ client, keyPrefix? }` or the
   * client itself. Used by `uploadState: { redis: true }` and `cache.links: 'redis'`.
   */
  redis?: RedisConfig | RedisClientOption | Redis
  /** Caches. */
  cache?: { links?: LinkCacheKind }
  /** Upload purging and read-only mode, as distribution's `storage.maintenance`. */
  maintenance?: MaintenanceOptions
  /** Per-client request limits; off when unset. */
  rateLimit?: RateLimitOptions
  /** Prometheus metrics; off when unset. Serve them with `registryMetrics` (and `handle`) or from your own `register`. */
  metrics?: boolean | MetricsOptions
  /**
   * Gives the host the registry's App once it is registered, for
   * `registryHealth` and `registryMetrics` placed where the host wants them.
   * One handle per registry.
   */
  handle?: RegistryHandle
  /**
   * Webhook notifications in distribution's format: `endpoints` (each with its
   * own queue, retries and ignore rules) and `events.includereferences`. Off
   * when unset. In-process listeners use `app.events` (through a `handle`).
   */
  notifications?: NotificationsOptions
  /** Decides who may do what. Default: open (every request is let in). Not together with `auth`. */
  accessController?: AccessController
  /**
   * A built-in access controller: `{ silly }`, `{ htpasswd }` or `{ token }`,
   * plus `anonymousPull` to let pulls in without credentials. Loaded at
   * registration; any problem stops registration.
   */
  auth?: AuthOptions
  http?: { host?: string, relativeURLs?: boolean }
  limits?: {
    manifestBodySize?: number
    blobBodySize?: number
    tagsPageSize?: number
    catalogPageSize?: number
    uploadMaxAge?: number
    concurrentUploads?: number
    bodyIdleTimeout?: number
    bodyMinRate?: number
    bodyMinRateWindow?: number
  }
}

/** A ready ioredis client from the embedding app, and the prefix of the registry's keys in it. */
export interface RedisClientOption {
  client: Redis
  /** Default "fastify-oci-registry:". */
  keyPrefix?: string
}

export interface ResolvedLimits {
  manifestBodySize: number
  blobBodySize: number | undefined
  tagsPageSize: number
  catalogPageSize: number
  uploadMaxAge: number
  concurrentUploads: number | undefined
  bodyIdleTimeout: number
  /** Bytes per second; 0 is off. */
  bodyMinRate: number
  bodyMinRateWindow: number
}

export const DEFAULT_LIMITS: Readonly<ResolvedLimits> = Object.freeze({
  manifestBodySize: 4 * 1024 * 1024,
  blobBodySize: undefined,
  tagsPageSize: 1000,
  catalogPageSize: 1000,
  // distribution purges uploads older than 168h by default; resuming one that old is refused alike.
  uploadMaxAge: 7 * 24 * 60 * 60 * 1000,
  concurrentUploads: undefined,
  bodyIdleTimeout: 2 * 60 * 1000,
  // 1 KiB/s over 30 s: a drip (1 byte every 30 s) is cut within half a minute, while a
  // link of 64 kbit/s shared by docker's 3 parallel layer pushes (about 2.6 KiB/s each) passes.
  bodyMinRate: 1024,
  bodyMinRateWindow: 30 * 1000
})

export const DEFAULT_ROOT_DIRECTORY = './registry-data'

const DRIVER_METHODS = ['getContent', 'putContent', 'reader', 'writer', 'stat', 'list', 'move', 'delete', 'walk'] as const

function isStorageDriver (value: unknown): value is StorageDriver {
  return typeof value === 'object' && value !== null &&
    DRIVER_METHODS.every((method) => typeof (value as Record<string, unknown>)[method] === 'function')
}

function hasMethods (value: unknown, methods: string[]): boolean {
  return typeof value === 'object' && value !== null &&
    methods.every((method) => typeof (value as Record<string, unknown>)[method] === 'function')
}

function describeFirstError (schema: Parameters<typeof Value.Errors>[0], value: unknown, root?: string): never {
  const first = Value.Errors(schema, value).First()
  const path = first === undefined ? '' : first.path.replace(/^\//, '').replace(/\//g, '.')
  const option = root === undefined ? path : path === '' ? root : `${root}.${path}`
  throw new RegistryConfigError(option === '' ? 'options' : option, first === undefined ? 'is invalid' : `is invalid: ${first.message}`)
}

/** The commands the registry's Redis users call; enough to tell a client from a configuration. */
const REDIS_CLIENT_METHODS = ['get', 'set', 'mget', 'eval', 'evalsha', 'quit', 'disconnect', 'on']

/** True for an ioredis client (or one shaped like it). */
export function isRedisClient (value: unknown): value is Redis {
  return hasMethods(value, REDIS_CLIENT_METHODS)
}

/**
 * `redis` as one of its three shapes: a configuration to connect with, or an
 * app-owned client; both with the key prefix to use.
 */
export function resolveRedisOption (redis: NonNullable<RegistryOptions['redis']>):
  { config: RedisConfig, client?: undefined, keyPrefix: string } | { config?: undefined, client: Redis, keyPrefix: string } {
  if (isRedisClient(redis)) return { client: redis, keyPrefix: DEFAULT_REDIS_KEY_PREFIX }
  if ('client' in redis) return { client: redis.client, keyPrefix: redis.keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX }
  return { config: redis, keyPrefix: redis.keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX }
}

/** Where the link cache lives. */
export function resolveLinkCacheKind (options: Pick<RegistryOptions, 'cache'>): LinkCacheKind {
  return options.cache?.links ?? DEFAULT_LINK_CACHE
}

/** True when upload state is kept in Redis (`uploadState: { redis: true }`). */
export function usesRedisUploadState (option: RegistryOptions['uploadState']): option is { redis: true } {
  return typeof option === 'object' && option !== null && (option as { redis?: unknown }).redis === true
}

function validateRedis (redis: unknown): void {
  if (isRedisClient(redis)) return
  if (typeof redis !== 'object' || redis === null || Array.isArray(redis)) {
    throw new RegistryConfigError('redis', 'must be { addr, ... }, { client, keyPrefix? } or an ioredis client')
  }
  if (Object.hasOwn(redis, 'client')) {
    const { client, keyPrefix, ...rest } = redis as Record<string, unknown>
    if (!isRedisClient(client)) throw new RegistryConfigError('redis.client', 'must be an ioredis client')
    if (keyPrefix !== undefined && typeof keyPrefix !== 'string') throw new RegistryConfigError('redis.keyPrefix', 'must be a string')
    const extra = Object.keys(rest)[0]
    if (extra !== undefined) throw new RegistryConfigError(`redis.${extra}`, 'cannot be combined with redis.client: configure the client itself')
    return
  }
  if (!Value.Check(RedisConfigSchema, redis)) describeFirstError(RedisConfigSchema, redis, 'redis')
  const problem = redisAddressProblem((redis as RedisConfig).addr)
  if (problem !== undefined) throw new RegistryConfigError('redis.addr', problem)
}

/**
 * Parses `redis.addr`: `host:port`, `[ipv6]:port`, or a bare `host` or
 * IPv6 address (port 6379). Throws a plain Error describing the problem.
 */
export function parseRedisAddress (addr: string): { host: string, port: number } {
  let host: string
  let port = '6379'
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(addr)
  if (bracketed !== null) {
    host = bracketed[1]
    if (bracketed[2] !== undefined) port = bracketed[2]
    if (!isIPv6(host)) throw new Error(`must put only an IPv6 address in brackets, got ${JSON.stringify(host)}`)
  } else if (addr.split(':').length > 2) {
    host = addr // a bare IPv6 address
    if (!isIPv6(host)) throw new Error('must put an IPv6 address in brackets with its port, as in [::1]:6379')
  } else {
    const colon = addr.lastIndexOf(':')
    host = colon === -1 ? addr : addr.slice(0, colon)
    if (colon !== -1) port = addr.slice(colon + 1)
  }
  if (host === '') throw new Error('must name a host, as in redis.example.com:6379')
  if (!/^[A-Za-z0-9._:%-]+$/.test(host)) throw new Error(`has an invalid host ${JSON.stringify(host)}`)
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) throw new Error(`has an invalid port ${JSON.stringify(port)} (1 to 65535)`)
  return { host, port: Number(port) }
}

function redisAddressProblem (addr: string): string | undefined {
  try {
    parseRedisAddress(addr)
    return undefined
  } catch (error) {
    return `${(error as Error).message}, got ${JSON.stringify(addr)}`
  }
}

function isS3Config (value: unknown): value is { s3: unknown } {
  return typeof value === 'object' && value !== null && Object.keys(value).length === 1 && Object.hasOwn(value, 's3')
}

/** The S3 driver's own checks, without loading the driver: errors name `storage.s3.<key>`. */
function validateS3Config (s3: unknown): void {
  try {
    resolveS3Options(s3 as S3DriverOptions)
  } catch (error) {
    if (!(error instanceof S3OptionError)) throw error
    throw new RegistryConfigError(error.option === 'options' ? 'storage.s3' : `storage.s3.${error.option}`, error.problem)
  }
}

/**
 * Checks every option at registration. Throws RegistryConfigError naming the
 * first bad option: a registry with a mistaken configuration never starts.
 */
export function validateOptions (options: unknown): RegistryOptions {
  if (options === undefined || options === null) return {}
  if (typeof options !== 'object' || Array.isArray(options)) throw new RegistryConfigError('options', 'must be an object')
  const { storage, uploadState, accessController, auth, redis, rateLimit, metrics, handle, notifications, ...data } = options as Record<string, unknown>

  const known = new Set(['delete', 'redirect', 'http', 'limits', 'cache', 'maintenance', 'prefix', 'logLevel'])
  for (const key of Object.keys(data)) {
    if (!known.has(key)) throw new RegistryConfigError(key, 'is not a known option')
  }
  const { prefix: _prefix, logLevel: _logLevel, ...dataOptions } = data
  if (!Value.Check(RegistryDataOptionsSchema, dataOptions)) describeFirstError(RegistryDataOptionsSchema, dataOptions)

  if (storage !== undefined && !isStorageDriver(storage)) {
    if (isS3Config(storage)) validateS3Config(storage.s3)
    if (!Value.Check(StorageConfigSchema, storage)) {
      throw new RegistryConfigError('storage', 'must be a StorageDriver or { filesystem: { rootDirectory } } or { inmemory: {} } or { s3: { bucket, region, ... } }')
    }
  }
  if (redis !== undefined) validateRedis(redis)
  if (uploadState !== undefined && !hasMethods(uploadState, ['pack', 'unpack'])) {
    const shape = 'must be an UploadStateProvider, { secret: <non-empty string> } or { redis: true }'
    if (typeof uploadState !== 'object' || uploadState === null || Array.isArray(uploadState)) throw new RegistryConfigError('uploadState', shape)
    const keys = Object.keys(uploadState)
    if (keys.includes('secret') && keys.includes('redis')) throw new RegistryConfigError('uploadState', 'sets both secret and redis; choose one')
    if (keys.includes('redis')) {
      if ((uploadState as { redis: unknown }).redis !== true) throw new RegistryConfigError('uploadState.redis', 'must be true')
      if (redis === undefined) throw new RegistryConfigError('uploadState.redis', 'needs the redis option: the Redis server to keep upload state in')
    } else {
      const secret = (uploadState as { secret?: unknown }).secret
      if (typeof secret !== 'string' || secret.length === 0) throw new RegistryConfigError('uploadState', shape)
    }
    const extra = keys.find((key) => key !== 'secret' && key !== 'redis')
    if (extra !== undefined) throw new RegistryConfigError(`uploadState.${extra}`, 'is not a known option')
  }
  if ((dataOptions as RegistryOptions).cache?.links === 'redis' && redis === undefined) {
    throw new RegistryConfigError('cache.links', 'is redis, which needs the redis option: the Redis server to cache in')
  }
  if (accessController !== undefined && !hasMethods(accessController, ['authorized'])) {
    throw new RegistryConfigError('accessController', 'must implement authorized(request, access)')
  }
  if (auth !== undefined) {
    // Two sources of truth for who gets in would leave one of them silently unused.
    if (accessController !== undefined) throw new RegistryConfigError('auth', 'cannot be combined with accessController; configure one of them')
    validateAuthOptions(auth)
  }
  validateOperations(rateLimit, metrics, handle)
  if (notifications !== undefined) validateNotificationsOptions(notifications)
  return options as RegistryOptions
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** `rateLimit`, `metrics` and `handle`: the options that hold functions or instances. */
function validateOperations (rateLimit: unknown, metrics: unknown, handle: unknown): void {
  if (rateLimit !== undefined) {
    if (!isObject(rateLimit)) throw new RegistryConfigError('rateLimit', 'must be { max, timeWindow?, keyBy?, keyGenerator?, allowList? }')
    const { keyGenerator, ...data } = rateLimit
    if (keyGenerator !== undefined && typeof keyGenerator !== 'function') throw new RegistryConfigError('rateLimit.keyGenerator', 'must be a function of the request')
    if (!Value.Check(RateLimitDataSchema, data)) describeFirstError(RateLimitDataSchema, data, 'rateLimit')
  }
  if (metrics !== undefined && typeof metrics !== 'boolean') {
    if (!isObject(metrics)) throw new RegistryConfigError('metrics', 'must be true, false or { register?, prefix?, collectDefaultMetrics? }')
    const { register, ...data } = metrics
    if (register !== undefined && !hasMethods(register, ['registerMetric', 'metrics', 'removeSingleMetric', 'getSingleMetric'])) {
      throw new RegistryConfigError('metrics.register', 'must be a prom-client Registry')
    }
    if (!Value.Check(MetricsDataSchema, data)) describeFirstError(MetricsDataSchema, data, 'metrics')
  }
  if (handle !== undefined) {
    if (!(handle instanceof RegistryHandle)) throw new RegistryConfigError('handle', 'must be a RegistryHandle')
    if (handle.attached) throw new RegistryConfigError('handle', 'already belongs to a registry that is registered; give each registry its own handle')
  }
}

export function resolveLimits (limits: RegistryOptions['limits']): ResolvedLimits {
  return {
    manifestBodySize: limits?.manifestBodySize ?? DEFAULT_LIMITS.manifestBodySize,
    blobBodySize: limits?.blobBodySize ?? DEFAULT_LIMITS.blobBodySize,
    tagsPageSize: limits?.tagsPageSize ?? DEFAULT_LIMITS.tagsPageSize,
    catalogPageSize: limits?.catalogPageSize ?? DEFAULT_LIMITS.catalogPageSize,
    uploadMaxAge: limits?.uploadMaxAge ?? DEFAULT_LIMITS.uploadMaxAge,
    concurrentUploads: limits?.concurrentUploads ?? DEFAULT_LIMITS.concurrentUploads,
    bodyIdleTimeout: limits?.bodyIdleTimeout ?? DEFAULT_LIMITS.bodyIdleTimeout,
    bodyMinRate: limits?.bodyMinRate ?? DEFAULT_LIMITS.bodyMinRate,
    bodyMinRateWindow: limits?.bodyMinRateWindow ?? DEFAULT_LIMITS.bodyMinRateWindow
  }
}
