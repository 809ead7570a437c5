import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import {
  DEFAULT_LIMITS,
  DEFAULT_REDIS_KEY_PREFIX,
  DEFAULT_ROOT_DIRECTORY,
  DEFAULT_UPLOAD_PURGING,
  isRedisClient,
  parseRedisAddress,
  RegistryConfigError,
  resolveLimits,
  resolveLinkCacheKind,
  resolveMetrics,
  resolveRedisOption,
  resolveUploadPurging,
  usesRedisUploadState,
  validateOptions,
  type RegistryOptions
} from '../lib/options.js'
import { InMemoryDriver } from '../lib/storage/inmemory.js'
import { Registry } from 'prom-client'
import { RegistryHandle } from '../lib/operations/handle.js'
import { OpenAccessController } from '../lib/auth/access-controller.js'
import { HmacUploadStateProvider } from '../lib/upload-state/hmac.js'

const MiB = 1024 * 1024

/** A plain object with every StorageDriver method. */
function driverShaped (): Record<string, () => never> {
  const fail = (): never => { throw new Error('not called') }
  return Object.fromEntries(['getContent', 'putContent', 'reader', 'writer', 'stat', 'list', 'move', 'delete', 'walk'].map((m) => [m, fail]))
}

/**
 * Asserts validateOptions refuses `options` with a RegistryConfigError naming
 * `option`. Options checked by the data schema are currently reported with an
 * `options.` prefix (see the report); this accepts the path with or without it
 * so the assertion still pins the option's own path.
 */
function refuses (t: Test, options: unknown, option: string, what = JSON.stringify(options)): void {
  try {
    validateOptions(options)
    t.fail(`${what}: should be refused`)
  } catch (error) {
    t.ok(error instanceof RegistryConfigError, `${what}: RegistryConfigError`)
    const e = error as RegistryConfigError
    t.equal(e.name, 'RegistryConfigError')
    t.equal(e.option, option, `${what}: names ${option} (got ${e.option})`)
    t.ok(e.message.includes(`"${e.option}"`), `${what}: the message names the option`)
    t.match(e.message, /^fastify-oci-registry: /, `${what}: the message says who complains`)
  }
}

t.test('RegistryConfigError', async (t) => {
  const e = new RegistryConfigError('limits.tagsPageSize', 'must be positive')
  t.ok(e instanceof Error)
  t.equal(e.option, 'limits.tagsPageSize')
  t.equal(e.message, 'fastify-oci-registry: option "limits.tagsPageSize" must be positive')
  t.equal(e.name, 'RegistryConfigError')
})

t.test('validateOptions: nothing given', async (t) => {
  t.strictSame(validateOptions(undefined), {})
  t.strictSame(validateOptions(null), {})
  t.strictSame(validateOptions({}), {})
})

t.test('validateOptions: not an object', async (t) => {
  for (const value of ['x', 1, true, () => ({}), Symbol('x')]) {
    refuses(t, value, 'options', String(typeof value))
  }
})

t.test('validateOptions: a full valid object passes unchanged', async (t) => {
  const full: RegistryOptions = {
    storage: { filesystem: { rootDirectory: '/var/lib/registry' } },
    delete: { enabled: true },
    uploadState: { secret: 's3cret' },
    accessController: { authorized: async () => ({ access: [] }) },
    http: { host: 'https://registry.example.com', relativeURLs: false },
    limits: { manifestBodySize: 8 * MiB, blobBodySize: 1024 * MiB, tagsPageSize: 100, catalogPageSize: 50 }
  }
  t.equal(validateOptions(full), full, 'returns the same object')
  t.strictSame(validateOptions(structuredClone({ ...full, accessController: undefined })), { ...full, accessController: undefined })
  t.doesNotThrow(() => validateOptions({ storage: { inmemory: {} } }), 'in-memory storage config')
  t.doesNotThrow(() => validateOptions({ http: { host: 'http://localhost:5000' } }))
  t.doesNotThrow(() => validateOptions({ http: { host: 'https://reg.example/' } }), 'trailing slash allowed')
  t.doesNotThrow(() => validateOptions({ http: { host: 'https://[::1]:5000' } }), 'IPv6')
  t.doesNotThrow(() => validateOptions({ http: { relativeURLs: true } }))
  t.doesNotThrow(() => validateOptions({ delete: {} }))
  t.doesNotThrow(() => validateOptions({ delete: { enabled: false } }))
  t.doesNotThrow(() => validateOptions({ limits: {} }))
  t.doesNotThrow(() => validateOptions({ limits: { manifestBodySize: 1, blobBodySize: 1, tagsPageSize: 1, catalogPageSize: 1 } }), 'minimum 1')
  t.doesNotThrow(() => validateOptions({ prefix: '/registry', logLevel: 'warn' }), 'Fastify register options are let through')
})

t.test('validateOptions: injected parts', async (t) => {
  const driver = driverShaped()
  t.equal(validateOptions({ storage: driver }).storage, driver, 'a driver-shaped object is accepted')
  const real = new InMemoryDriver()
  t.equal(validateOptions({ storage: real }).storage, real, 'a driver class instance (prototype methods) is accepted')
  const provider = new HmacUploadStateProvider('x')
  t.equal(validateOptions({ uploadState: provider }).uploadState, provider, 'an UploadStateProvider')
  const custom = { pack: () => 'x', unpack: () => ({ name: 'a', uuid: 'u', offset: 0, startedAt: new Date() }) }
  t.equal(validateOptions({ uploadState: custom }).uploadState, custom, 'a provider-shaped object')
  const controller = new OpenAccessController()
  t.equal(validateOptions({ accessController: controller }).accessController, controller)
})

t.test('validateOptions: limits', async (t) => {
  for (const key of ['manifestBodySize', 'blobBodySize', 'tagsPageSize', 'catalogPageSize']) {
    for (const value of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '10', null, true, [1], {}]) {
      refuses(t, { limits: { [key]: value } }, `limits.${key}`, `limits.${key} = ${String(value)}`)
    }
  }
  for (const value of [-1, 1.5, '1024', null]) refuses(t, { limits: { bodyMinRate: value } }, 'limits.bodyMinRate', `limits.bodyMinRate = ${String(value)}`)
  for (const value of [0, -1, 2 ** 31, '30000']) refuses(t, { limits: { bodyMinRateWindow: value } }, 'limits.bodyMinRateWindow', `limits.bodyMinRateWindow = ${String(value)}`)
  t.doesNotThrow(() => validateOptions({ limits: { bodyMinRate: 0, bodyMinRateWindow: 1 } }), 'a rate of 0 is off')
  refuses(t, { limits: { bogus: 1 } }, 'limits.bogus', 'unknown limit')
  refuses(t, { limits: 5 }, 'limits')
  refuses(t, { limits: null }, 'limits')
  refuses(t, { limits: [] }, 'limits')
  // the first bad option is named, even with good ones around it
  refuses(t, { limits: { manifestBodySize: MiB, tagsPageSize: 0 } }, 'limits.tagsPageSize')
})

t.test('validateOptions: http', async (t) => {
  for (const host of ['ftp://x', 'http://x/path', 'https://x/a/', 'http://x?y', 'http://x#y', 'x.example', '//x.example', 'http://', 'https:///', '', 'HTTP://x/p']) {
    refuses(t, { http: { host } }, 'http.host', `http.host = ${JSON.stringify(host)}`)
  }
  refuses(t, { http: { host: 1 } }, 'http.host')
  refuses(t, { http: { relativeURLs: 'yes' } }, 'http.relativeURLs')
  refuses(t, { http: { relativeURLs: 1 } }, 'http.relativeURLs')
  refuses(t, { http: { bogus: true } }, 'http.bogus')
  refuses(t, { http: 'https://x' }, 'http')
})

t.test('validateOptions: delete', async (t) => {
  refuses(t, { delete: { enabled: 'true' } }, 'delete.enabled')
  refuses(t, { delete: { enabled: 1 } }, 'delete.enabled')
  refuses(t, { delete: { enabled: null } }, 'delete.enabled')
  refuses(t, { delete: { enable: true } }, 'delete.enable', 'misspelt key')
  refuses(t, { delete: true }, 'delete')
})

t.test('validateOptions: unknown top-level keys', async (t) => {
  refuses(t, { bogus: 1 }, 'bogus')
  refuses(t, { Storage: { inmemory: {} } }, 'Storage', 'case matters')
  refuses(t, { limit: { manifestBodySize: 1 } }, 'limit', 'misspelt limits')
  refuses(t, { secret: 'x' }, 'secret')
  refuses(t, { http: {}, relativeURLs: true }, 'relativeURLs', 'a nested option at the top level')
})

t.test('validateOptions: storage', async (t) => {
  const bad: Array<[unknown, string]> = [
    [null, 'null'],
    ['filesystem', 'a string'],
    [1, 'a number'],
    [{}, 'empty object'],
    [{ gcs: { bucket: 'x' } }, 'unknown driver'],
    [{ filesystem: {} }, 'filesystem without rootDirectory'],
    [{ filesystem: { rootDirectory: '' } }, 'empty rootDirectory'],
    [{ filesystem: { rootDirectory: 1 } }, 'rootDirectory a number'],
    [{ filesystem: { rootDirectory: '/x', extra: 1 } }, 'filesystem with an extra key'],
    [{ filesystem: '/x' }, 'filesystem a string'],
    [{ inmemory: { size: 1 } }, 'inmemory with a key'],
    [{ inmemory: true }, 'inmemory a boolean'],
    [{ filesystem: { rootDirectory: '/x' }, inmemory: {} }, 'two drivers'],
    [{ ...driverShaped(), walk: undefined }, 'a driver missing walk'],
    [{ ...driverShaped(), getContent: 'x' }, 'a driver whose getContent is not a function']
  ]
  for (const [storage, what] of bad) refuses(t, { storage }, 'storage', what)
})

t.test('validateOptions: storage.s3', async (t) => {
  t.doesNotThrow(() => validateOptions({ storage: { s3: { bucket: 'b', region: 'eu-west-1' } } }))
  t.doesNotThrow(() => validateOptions({ storage: { s3: { bucket: 'b', regionendpoint: 'http://127.0.0.1:7050', forcepathstyle: true, accesskey: 'k', secretkey: 's', chunksize: 5 * MiB } } }))
  const bad: Array<[unknown, string, string]> = [
    [{ s3: 'bucket' }, 'storage.s3', 's3 a string'],
    [{ s3: { region: 'r' } }, 'storage.s3.bucket', 'no bucket'],
    [{ s3: { bucket: 'b' } }, 'storage.s3.region', 'no region and no endpoint'],
    [{ s3: { bucket: 'b', region: 'r', chunksize: MiB } }, 'storage.s3.chunksize', 'chunks under 5 MiB'],
    [{ s3: { bucket: 'b', region: 'r', minpartsize: MiB, chunksize: MiB / 2 } }, 'storage.s3.chunksize', 'chunks under minpartsize'],
    [{ s3: { bucket: 'b', region: 'r', chunksize: '10MB' } }, 'storage.s3.chunksize', 'chunksize a string'],
    [{ s3: { bucket: 'b', region: 'r', forcepathstyle: 'yes' } }, 'storage.s3.forcepathstyle', 'forcepathstyle a string'],
    [{ s3: { bucket: 'b', region: 'r', accesskey: 'k' } }, 'storage.s3.secretkey', 'an access key without its secret'],
    [{ s3: { bucket: 'b', region: 'r', encrypt: true } }, 'storage.s3.encrypt', 'an unknown key'],
    [{ s3: { bucket: 'b', region: 'r' }, inmemory: {} }, 'storage', 's3 and another driver']
  ]
  for (const [storage, option, what] of bad) refuses(t, { storage }, option, what)
})

t.test('validateOptions: uploadState', async (t) => {
  const bad: Array<[unknown, string]> = [
    [{ secret: '' }, 'empty secret'],
    [{}, 'no secret'],
    [{ secret: 1 }, 'numeric secret'],
    [{ secret: Buffer.from('x') }, 'Buffer secret'],
    [null, 'null'],
    ['secret', 'a bare string'],
    [{ pack: () => '' }, 'pack without unpack'],
    [{ unpack: () => ({}) }, 'unpack without pack'],
    [{ pack: 'x', unpack: 'y' }, 'pack and unpack not functions']
  ]
  for (const [uploadState, what] of bad) refuses(t, { uploadState }, 'uploadState', what)
})

t.test('validateOptions: accessController', async (t) => {
  const bad: Array<[unknown, string]> = [
    [{}, 'no authorized'],
    [{ authorized: true }, 'authorized not a function'],
    [null, 'null'],
    ['open', 'a string'],
    [() => ({}), 'a bare function']
  ]
  for (const [accessController, what] of bad) refuses(t, { accessController }, 'accessController', what)
})

t.test('resolveLimits', async (t) => {
  const defaults = { manifestBodySize: 4 * MiB, blobBodySize: undefined, tagsPageSize: 1000, catalogPageSize: 1000, uploadMaxAge: 7 * 24 * 3600 * 1000, concurrentUploads: undefined, bodyIdleTimeout: 120_000, bodyMinRate: 1024, bodyMinRateWindow: 30_000 }
  t.strictSame(resolveLimits(undefined), defaults, 'defaults')
  t.strictSame(resolveLimits({}), defaults, 'empty limits')
  t.equal(resolveLimits(undefined).manifestBodySize, 4194304, 'manifest limit is 4 MiB')
  t.ok('blobBodySize' in resolveLimits(undefined), 'blobBodySize present, undefined')
  t.strictSame(resolveLimits({ manifestBodySize: 10 }), { ...defaults, manifestBodySize: 10 })
  t.strictSame(resolveLimits({ blobBodySize: 20 }), { ...defaults, blobBodySize: 20 })
  t.strictSame(resolveLimits({ tagsPageSize: 5 }), { ...defaults, tagsPageSize: 5 })
  t.strictSame(resolveLimits({ catalogPageSize: 7 }), { ...defaults, catalogPageSize: 7 })
  t.strictSame(resolveLimits({ manifestBodySize: 1, blobBodySize: 2, tagsPageSize: 3, catalogPageSize: 4, uploadMaxAge: 5, concurrentUploads: 6, bodyIdleTimeout: 7, bodyMinRate: 8, bodyMinRateWindow: 9 }),
    { manifestBodySize: 1, blobBodySize: 2, tagsPageSize: 3, catalogPageSize: 4, uploadMaxAge: 5, concurrentUploads: 6, bodyIdleTimeout: 7, bodyMinRate: 8, bodyMinRateWindow: 9 })
  t.equal(resolveLimits({ bodyMinRate: 0 }).bodyMinRate, 0, '0 turns the minimum rate off, not the default')
  t.strictSame(DEFAULT_LIMITS, defaults)
  t.ok(Object.isFrozen(DEFAULT_LIMITS))
  const resolved = resolveLimits(undefined)
  resolved.manifestBodySize = 1
  t.equal(resolveLimits(undefined).manifestBodySize, 4 * MiB, 'each call returns a fresh object')
  t.equal(DEFAULT_ROOT_DIRECTORY, './registry-data')
})

/** An ioredis client that never connects (lazyConnect), for option checks. */
function idleRedis (t: Test): Redis {
  const client = new Redis({ lazyConnect: true })
  t.teardown(() => { client.disconnect() })
  return client
}

t.test('validateOptions: redis as a configuration', async (t) => {
  const full = {
    addr: 'redis.example.com:6380',
    username: 'registry',
    password: 's3cret',
    db: 3,
    dialtimeout: 1000,
    readtimeout: 2000,
    writetimeout: 3000,
    tls: { enabled: true },
    keyPrefix: 'reg-a:'
  }
  t.equal(validateOptions({ redis: full }).redis, full)
  for (const addr of ['localhost', 'localhost:6379', '10.0.0.1:7000', '[::1]:6379', '[::1]', '::1', 'redis-0.redis.svc.cluster.local:6379']) {
    t.doesNotThrow(() => validateOptions({ redis: { addr } }), addr)
  }
  t.doesNotThrow(() => validateOptions({ redis: { addr: 'a', password: '', keyPrefix: '', tls: {} } }), 'empty password and prefix, tls without enabled')

  const bad: Array<[unknown, string, string]> = [
    [null, 'redis', 'null'],
    ['localhost:6379', 'redis', 'a bare string'],
    [[], 'redis', 'a list'],
    [{}, 'redis.addr', 'no addr'],
    [{ addr: '' }, 'redis.addr', 'empty addr'],
    [{ addr: 6379 }, 'redis.addr', 'numeric addr'],
    [{ addr: 'host:0' }, 'redis.addr', 'port 0'],
    [{ addr: 'host:65536' }, 'redis.addr', 'port too large'],
    [{ addr: 'host:' }, 'redis.addr', 'empty port'],
    [{ addr: ':6379' }, 'redis.addr', 'no host'],
    [{ addr: 'a b:1' }, 'redis.addr', 'a space in the host'],
    [{ addr: 'redis://host:6379' }, 'redis.addr', 'a URL'],
    [{ addr: 'a', db: -1 }, 'redis.db', 'negative db'],
    [{ addr: 'a', db: 1.5 }, 'redis.db', 'fractional db'],
    [{ addr: 'a', db: '1' }, 'redis.db', 'db a string'],
    [{ addr: 'a', dialtimeout: 0 }, 'redis.dialtimeout', 'zero timeout'],
    [{ addr: 'a', readtimeout: '1s' }, 'redis.readtimeout', 'a Go duration where milliseconds are expected'],
    [{ addr: 'a', writetimeout: 2 ** 31 }, 'redis.writetimeout', 'beyond a timer'],
    [{ addr: 'a', username: '' }, 'redis.username', 'empty username'],
    [{ addr: 'a', password: 1 }, 'redis.password', 'numeric password'],
    [{ addr: 'a', tls: true }, 'redis.tls', 'tls a boolean'],
    [{ addr: 'a', tls: { enabled: 'yes' } }, 'redis.tls.enabled', 'tls.enabled a string'],
    [{ addr: 'a', tls: { certificate: '/c.pem' } }, 'redis.tls.certificate', 'an unknown tls key'],
    [{ addr: 'a', keyPrefix: 1 }, 'redis.keyPrefix', 'numeric prefix'],
    [{ addr: 'a', pool: { maxidle: 1 } }, 'redis.pool', 'an unknown key']
  ]
  for (const [redis, option, what] of bad) refuses(t, { redis }, option, what)
})

t.test('validateOptions: redis as an app-owned client', async (t) => {
  const client = idleRedis(t)
  t.ok(isRedisClient(client))
  t.equal(validateOptions({ redis: client }).redis, client, 'the client itself')
  const wrapped = { client, keyPrefix: 'app:' }
  t.equal(validateOptions({ redis: wrapped }).redis, wrapped, '{ client, keyPrefix }')
  t.doesNotThrow(() => validateOptions({ redis: { client } }), '{ client }')
  refuses(t, { redis: { client: {} } }, 'redis.client', 'not a client')
  refuses(t, { redis: { client: null } }, 'redis.client', 'null client')
  refuses(t, { redis: { client, keyPrefix: 1 } }, 'redis.keyPrefix')
  refuses(t, { redis: { client, addr: 'localhost' } }, 'redis.addr', 'a client and an address')
  t.notOk(isRedisClient({ get: () => null }), 'a few methods do not make a client')
})

t.test('resolveRedisOption: one shape for the three', async (t) => {
  const client = idleRedis(t)
  t.strictSame(resolveRedisOption({ addr: 'a' }), { config: { addr: 'a' }, keyPrefix: DEFAULT_REDIS_KEY_PREFIX })
  t.strictSame(resolveRedisOption({ addr: 'a', keyPrefix: 'x:' }), { config: { addr: 'a', keyPrefix: 'x:' }, keyPrefix: 'x:' })
  t.strictSame(resolveRedisOption({ addr: 'a', keyPrefix: '' }).keyPrefix, '', 'an empty prefix is kept')
  const bare = resolveRedisOption(client)
  t.equal(bare.client, client)
  t.equal(bare.keyPrefix, 'fastify-oci-registry:')
  const wrapped = resolveRedisOption({ client, keyPrefix: 'app:' })
  t.equal(wrapped.client, client)
  t.equal(wrapped.keyPrefix, 'app:')
})

t.test('parseRedisAddress', async (t) => {
  t.strictSame(parseRedisAddress('localhost'), { host: 'localhost', port: 6379 })
  t.strictSame(parseRedisAddress('localhost:7000'), { host: 'localhost', port: 7000 })
  t.strictSame(parseRedisAddress('[::1]:7000'), { host: '::1', port: 7000 })
  t.strictSame(parseRedisAddress('[::1]'), { host: '::1', port: 6379 })
  t.strictSame(parseRedisAddress('fe80::1'), { host: 'fe80::1', port: 6379 })
  for (const addr of ['', ':1', 'h:', 'h:x', 'h:70000', '[]:1', 'a/b:1', 'a:1:2', '[host]:1', '[::1]:']) t.throws(() => parseRedisAddress(addr), addr)
})

t.test('validateOptions: cache.links', async (t) => {
  for (const links of ['storage', 'none'] as const) {
    t.equal(validateOptions({ cache: { links } }).cache?.links, links)
    t.equal(resolveLinkCacheKind({ cache: { links } }), links)
  }
  t.doesNotThrow(() => validateOptions({ cache: {} }))
  t.equal(resolveLinkCacheKind({}), 'storage', 'storage by default')
  t.equal(resolveLinkCacheKind({ cache: {} }), 'storage')
  t.equal(validateOptions({ cache: { links: 'redis' }, redis: { addr: 'localhost' } }).cache?.links, 'redis')
  t.equal(validateOptions({ cache: { links: 'redis' }, redis: idleRedis(t) }).cache?.links, 'redis', 'with an app-owned client')
  refuses(t, { cache: { links: 'redis' } }, 'cache.links', 'redis without the redis option')
  for (const links of ['memory', 'Redis', '', true, null, 1]) refuses(t, { cache: { links } }, 'cache.links', `links = ${JSON.stringify(links)}`)
  refuses(t, { cache: { blobs: 'redis' } }, 'cache.blobs', 'an unknown cache')
  refuses(t, { cache: 'redis' }, 'cache')
})

t.test('validateOptions: uploadState in Redis', async (t) => {
  const options = { uploadState: { redis: true }, redis: { addr: 'localhost' } } as const
  t.equal(validateOptions(options).uploadState, options.uploadState)
  t.ok(usesRedisUploadState(options.uploadState))
  t.notOk(usesRedisUploadState({ secret: 'x' }))
  t.notOk(usesRedisUploadState(undefined))
  t.notOk(usesRedisUploadState(new HmacUploadStateProvider('x')))
  t.doesNotThrow(() => validateOptions({ uploadState: { redis: true }, redis: idleRedis(t) }), 'with an app-owned client')
  refuses(t, { uploadState: { redis: true } }, 'uploadState.redis', 'without the redis option')
  refuses(t, { uploadState: { redis: false }, redis: { addr: 'a' } }, 'uploadState.redis', 'false')
  refuses(t, { uploadState: { redis: 'yes' }, redis: { addr: 'a' } }, 'uploadState.redis', 'a string')
  refuses(t, { uploadState: { redis: true, secret: 'x' }, redis: { addr: 'a' } }, 'uploadState', 'both')
  refuses(t, { uploadState: { redis: true, ttl: 5 }, redis: { addr: 'a' } }, 'uploadState.ttl', 'an unknown key')
  refuses(t, { uploadState: { secret: 'x', extra: 1 } }, 'uploadState.extra', 'an unknown key beside the secret')
  refuses(t, { uploadState: [] }, 'uploadState', 'a list')
})

t.test('validateOptions: maintenance (upload purging, read-only)', async (t) => {
  t.doesNotThrow(() => validateOptions({ maintenance: {} }))
  t.doesNotThrow(() => validateOptions({ maintenance: { uploadPurging: { enabled: false, age: 1, interval: 1, dryRun: true, delay: 0 }, readOnly: { enabled: true } } }))
  t.doesNotThrow(() => validateOptions({ maintenance: { uploadPurging: { age: 10 * 365 * 24 * 3600_000 } } }), 'an age longer than any timer')
  for (const key of ['age', 'interval']) {
    for (const value of [0, -1, 1.5, '1h', null, true]) {
      refuses(t, { maintenance: { uploadPurging: { [key]: value } } }, `maintenance.uploadPurging.${key}`, `${key} = ${String(value)}`)
    }
  }
  refuses(t, { maintenance: { uploadPurging: { interval: 2 ** 31 } } }, 'maintenance.uploadPurging.interval', 'past the longest timer')
  refuses(t, { maintenance: { uploadPurging: { delay: -1 } } }, 'maintenance.uploadPurging.delay')
  refuses(t, { maintenance: { uploadPurging: { enabled: 'yes' } } }, 'maintenance.uploadPurging.enabled')
  refuses(t, { maintenance: { uploadPurging: { dryrun: true } } }, 'maintenance.uploadPurging.dryrun', 'misspelt key')
  refuses(t, { maintenance: { readOnly: { enabled: 1 } } }, 'maintenance.readOnly.enabled')
  refuses(t, { maintenance: { readOnly: true } }, 'maintenance.readOnly')
  refuses(t, { maintenance: { readonly: { enabled: true } } }, 'maintenance.readonly', 'a misspelt read-only never goes unnoticed')
  refuses(t, { maintenance: 'readonly' }, 'maintenance')

  t.same(resolveUploadPurging(undefined), DEFAULT_UPLOAD_PURGING)
  t.same(resolveUploadPurging({ uploadPurging: { dryRun: true, interval: 5 } }), { ...DEFAULT_UPLOAD_PURGING, dryRun: true, interval: 5 })
  t.match(DEFAULT_UPLOAD_PURGING, { enabled: true, age: 168 * 3600_000, interval: 24 * 3600_000, dryRun: false }, 'distribution\'s defaults')
})

t.test('validateOptions: rateLimit', async (t) => {
  t.doesNotThrow(() => validateOptions({ rateLimit: { max: 1 } }))
  t.doesNotThrow(() => validateOptions({ rateLimit: { max: 100, timeWindow: 1000, keyBy: 'user', allowList: ['10.0.0.1'], cache: 10, keyGenerator: () => 'k' } }))
  refuses(t, { rateLimit: {} }, 'rateLimit.max', 'max is required')
  for (const max of [0, -1, 1.5, '10', null]) refuses(t, { rateLimit: { max } }, 'rateLimit.max', `max = ${String(max)}`)
  refuses(t, { rateLimit: { max: 1, timeWindow: 0 } }, 'rateLimit.timeWindow')
  refuses(t, { rateLimit: { max: 1, timeWindow: '1 minute' } }, 'rateLimit.timeWindow')
  refuses(t, { rateLimit: { max: 1, keyBy: 'token' } }, 'rateLimit.keyBy')
  refuses(t, { rateLimit: { max: 1, keyGenerator: 'ip' } }, 'rateLimit.keyGenerator')
  refuses(t, { rateLimit: { max: 1, allowList: '10.0.0.1' } }, 'rateLimit.allowList')
  refuses(t, { rateLimit: { max: 1, ban: 3 } }, 'rateLimit.ban', 'unknown key')
  refuses(t, { rateLimit: 100 }, 'rateLimit')
  refuses(t, { rateLimit: true }, 'rateLimit')
})

t.test('validateOptions: metrics', async (t) => {
  t.doesNotThrow(() => validateOptions({ metrics: true }))
  t.doesNotThrow(() => validateOptions({ metrics: false }))
  t.doesNotThrow(() => validateOptions({ metrics: { register: new Registry(), prefix: 'oci_', collectDefaultMetrics: true, enabled: true } }))
  t.doesNotThrow(() => validateOptions({ metrics: { prefix: '' } }), 'no prefix at all')
  for (const prefix of ['1x', 'a-b', 'a b', 'ü']) refuses(t, { metrics: { prefix } }, 'metrics.prefix', `prefix ${prefix}`)
  refuses(t, { metrics: { register: {} } }, 'metrics.register')
  refuses(t, { metrics: { register: 'default' } }, 'metrics.register')
  refuses(t, { metrics: { collectDefaultMetrics: 'yes' } }, 'metrics.collectDefaultMetrics')
  refuses(t, { metrics: { path: '/metrics' } }, 'metrics.path', 'the route is the host\'s to place')
  refuses(t, { metrics: 'on' }, 'metrics')

  t.equal(resolveMetrics(undefined), undefined)
  t.equal(resolveMetrics(false), undefined)
  t.equal(resolveMetrics({ enabled: false, prefix: 'x_' }), undefined)
  t.same(resolveMetrics(true), { register: undefined, prefix: 'registry_', collectDefaultMetrics: false })
  const register = new Registry()
  t.same(resolveMetrics({ register, prefix: 'x_', collectDefaultMetrics: true }), { register, prefix: 'x_', collectDefaultMetrics: true })
})

t.test('validateOptions: handle', async (t) => {
  const handle = new RegistryHandle()
  t.equal(validateOptions({ handle }).handle, handle)
  refuses(t, { handle: {} }, 'handle')
  refuses(t, { handle: { app: {} } }, 'handle')
  handle.attach({} as never)
  refuses(t, { handle }, 'handle', 'a handle already in use')
})

t.test('redirect: only { disable: boolean }', async (t) => {
  t.same(validateOptions({ redirect: { disable: true } }), { redirect: { disable: true } })
  for (const redirect of [{ disable: 'yes' }, { enabled: true }, true]) {
    t.throws(() => validateOptions({ redirect }), RegistryConfigError, JSON.stringify(redirect))
  }
})
