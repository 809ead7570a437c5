import t from 'tap'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { Redis } from 'ioredis'
import { RedisLinkCache } from '../../lib/cache/redis-link-cache.js'
import { parseDigest, type ParsedDigest } from '../../lib/digest.js'
import { RegistryError } from '../../errors/index.js'
import { REDIS_URL, testRedis } from '../helpers/redis.js'
import { sha256 } from '../helpers/registry.js'
import { freePort } from '../helpers/standalone-process.js'

const OLD = parseDigest(sha256(Buffer.from('old')))!
const NEW = parseDigest(sha256(Buffer.from('new')))!
const PATH = '/docker/registry/v2/repositories/library/ubuntu/_manifests/tags/latest/current/link'

/** A load() that counts its calls and answers what `value` holds at the time. */
function storage (initial: ParsedDigest | undefined): { load: () => Promise<ParsedDigest | undefined>, calls: () => number, set: (value: ParsedDigest | undefined) => void } {
  let value = initial
  let calls = 0
  return {
    load: async () => { calls++; return value },
    calls: () => calls,
    set: (next) => { value = next }
  }
}

function deferred<T> (): { promise: Promise<T>, resolve: (value: T) => void } {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((res) => { resolve = res })
  return { promise, resolve }
}

/** A log that records what it was told. */
function recordingLog (): { warn: (o: object, m: string) => void, info: (o: object, m: string) => void, warnings: string[], infos: string[] } {
  const warnings: string[] = []
  const infos: string[] = []
  return { warn: (_o, m) => { warnings.push(m) }, info: (_o, m) => { infos.push(m) }, warnings, infos }
}

/** A TCP proxy to the test Redis that can be cut and restored, standing in for a network partition. */
async function partitionableProxy (): Promise<{ port: number, cut: () => Promise<void>, restore: () => Promise<void>, close: () => Promise<void> }> {
  const target = new URL(REDIS_URL)
  const port = await freePort()
  const sockets = new Set<Socket>()
  let server: Server | undefined
  const listen = async (): Promise<void> => {
    server = createServer((client) => {
      const upstream = connect({ host: target.hostname, port: Number(target.port || 6379) })
      sockets.add(client)
      sockets.add(upstream)
      client.pipe(upstream).pipe(client)
      const end = (): void => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream) }
      client.on('error', end).on('close', end)
      upstream.on('error', end).on('close', end)
    })
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve))
  }
  const cut = async (): Promise<void> => {
    const closing = server === undefined ? Promise.resolve() : new Promise<void>((resolve) => server!.close(() => { resolve() }))
    server = undefined
    for (const socket of sockets) socket.destroy()
    sockets.clear()
    await closing
  }
  await listen()
  return { port, cut, restore: listen, close: cut }
}

async function until (condition: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

t.test('a miss loads and fills; a hit does not load', async (t) => {
  const redis = await testRedis(t, 'link-cache')
  const cache = new RedisLinkCache({ client: redis.client, keyPrefix: redis.keyPrefix })
  t.teardown(async () => await cache.close())
  const store = storage(OLD)
  t.strictSame(await cache.read(PATH, store.load), OLD, 'miss: the stored value')
  t.equal(store.calls(), 1)
  const keys = cache.keys(PATH)
  t.ok(keys.value.startsWith(redis.keyPrefix) && keys.generation.startsWith(redis.keyPrefix), 'keys under the prefix')
  t.equal(await redis.client.get(keys.value), OLD.digest, 'Redis holds the digest string')
  const ttl = await redis.client.pttl(keys.value)
  t.ok(ttl > 3_500_000 && ttl <= 3_600_000, `cached for an hour (${ttl} ms)`)

  store.set(NEW) // behind the cache's back: no changed()
  for (let i = 0; i < 3; i++) t.strictSame(await cache.read(PATH, store.load), OLD, 'hit')
  t.equal(store.calls(), 1, 'hits do not read storage')
})

t.test('"no link" is cached too', async (t) => {
  const redis = await testRedis(t, 'link-cache')
  const cache = new RedisLinkCache({ client: redis.client, keyPrefix: redis.keyPrefix, ttl: 60_000 })
  const store = storage(undefined)
  t.equal(await cache.read(PATH, store.load), undefined)
  t.equal(await cache.read(PATH, store.load), undefined)
  t.equal(store.calls(), 1, 'the absence came from the cache')
  t.equal(await redis.client.get(cache.keys(PATH).value), '-', 'stored as a marker no digest looks like')
  const ttl = await redis.client.pttl(cache.keys(PATH).value)
  t.ok(ttl > 0 && ttl <= 60_000, 'the configured ttl')
})

t.test('a change through one instance is seen by another on its next read', async (t) => {
  const redis = await testRedis(t, 'link-cache')
  const a = new RedisLinkCache({ client: redis.client, keyPrefix: redis.keyPrefix })
  const b = new RedisLinkCache({ client: await redis.newClient(), keyPrefix: redis.keyPrefix })
  const store = storage(OLD)
  t.strictSame(await a.read(PATH, store.load), OLD)
  t.strictSame(await b.read(PATH, store.load), OLD)
  t.equal(store.calls(), 1, 'B was served what A cached')

  store.set(NEW)
  await a.changed(PATH, NEW)
  t.equal(await redis.client.get(a.keys(PATH).value), null, 'changed drops the value, it does not write the new one')
  t.equal(await redis.client.get(a.keys(PATH).generation), '1', 'and starts a new generation')
  const generationTtl = await redis.client.pttl(a.keys(PATH).generation)
  t.ok(generationTtl > 0 && generationTtl <= 24 * 60 * 60 * 1000, 'the generation expires too')
  t.strictSame(await b.read(PATH, store.load), NEW, 'B sees the change on its next read')
  t.strictSame(await a.read(PATH, store.load), NEW)
  t.equal(store.calls(), 2, 'one storage read refilled the cache for both')

  store.set(undefined)
  await b.changed(PATH, undefined)
  t.equal(await a.read(PATH, store.load), undefined, 'a removal is seen too')
  t.equal(await b.read(PATH, store.load), undefined)
  t.equal(store.calls(), 3)

  const other = new RedisLinkCache({ client: redis.client, keyPrefix: `${redis.keyPrefix}other:` })
  const elsewhere = storage(OLD)
  t.strictSame(await other.read(PATH, elsewhere.load), OLD, 'another key prefix is another cache')
})

t.test('a slow reader never stores a value older than a change (stale write-back race)', async (t) => {
  const redis = await testRedis(t, 'link-cache')
  const reader = new RedisLinkCache({ client: redis.client, keyPrefix: redis.keyPrefix })
  const writer = new RedisLinkCache({ client: await redis.newClient(), keyPrefix: redis.keyPrefix })

  // The reader misses, takes the generation, and reads storage: OLD. Before its answer is stored,
  // the writer replaces the link in storage and tells the cache.
  const slowLoad = deferred<ParsedDigest | undefined>()
  let loading = false
  const reading = reader.read(PATH, async () => { loading = true; return await slowLoad.promise })
  await until(() => loading, 'the reader is loading')
  await writer.changed(PATH, NEW)
  slowLoad.resolve(OLD)
  t.strictSame(await reading, OLD, 'the slow reader answers what it read')
  t.equal(await redis.client.get(reader.keys(PATH).value), null, 'but did not store it')

  const store = storage(NEW)
  t.strictSame(await reader.read(PATH, store.load), NEW, 'the next read loads the new value')
  t.strictSame(await writer.read(PATH, store.load), NEW)
  t.equal(store.calls(), 1)

  // The same race when the link had never been changed before (no generation yet).
  const path2 = `${PATH}-2`
  const slow2 = deferred<ParsedDigest | undefined>()
  let loading2 = false
  const reading2 = reader.read(path2, async () => { loading2 = true; return await slow2.promise })
  await until(() => loading2, 'the second reader is loading')
  await writer.changed(path2, undefined)
  slow2.resolve(OLD)
  await reading2
  t.equal(await redis.client.get(reader.keys(path2).value), null, 'no generation before, one after: not stored')

  // Two readers racing a change from both sides: only one that took the generation after the change stores.
  const path3 = `${PATH}-3`
  const before = deferred<ParsedDigest | undefined>()
  let loading3 = false
  const early = reader.read(path3, async () => { loading3 = true; return await before.promise })
  await until(() => loading3, 'the early reader is loading')
  await writer.changed(path3, NEW)
  t.strictSame(await writer.read(path3, async () => NEW), NEW, 'a reader after the change fills the cache')
  before.resolve(OLD)
  await early
  t.equal(await redis.client.get(reader.keys(path3).value), NEW.digest, 'the early reader did not overwrite it')
})

t.test('what storage says is not cached when load fails; junk in Redis is replaced', async (t) => {
  const redis = await testRedis(t, 'link-cache')
  const cache = new RedisLinkCache({ client: redis.client, keyPrefix: redis.keyPrefix })
  await t.rejects(cache.read(PATH, async () => { throw new Error('storage failed') }), /storage failed/)
  t.equal(await redis.client.get(cache.keys(PATH).value), null)

  await redis.client.set(cache.keys(PATH).value, 'not a digest')
  const store = storage(OLD)
  t.strictSame(await cache.read(PATH, store.load), OLD, 'a value the cache did not write is a miss')
  t.equal(await redis.client.get(cache.keys(PATH).value), OLD.digest, 'and is replaced')
  t.throws(() => new RedisLinkCache({ client: redis.client, keyPrefix: '', ttl: 0 }), TypeError)
})

t.test('Redis unreachable from the start: reads fall back to storage, changes are refused', async (t) => {
  const port = await freePort()
  const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, connectTimeout: 500, commandTimeout: 500, retryStrategy: () => 50 })
  client.on('error', () => {})
  t.teardown(() => { client.disconnect() })
  const log = recordingLog()
  const cache = new RedisLinkCache({ client, keyPrefix: 'x:', log, operationTimeout: 1000 })
  await until(() => client.status === 'reconnecting', 'the client gave up its first connection')
  const store = storage(OLD)
  for (let i = 0; i < 5; i++) t.strictSame(await cache.read(PATH, store.load), OLD)
  t.equal(store.calls(), 5, 'every read from storage')
  const refused = cache.changed(PATH, NEW)
  await t.rejects(refused, RegistryError)
  await t.rejects(refused, { code: 'UNAVAILABLE', status: 503 }, 'the write is not acknowledged: 503, retry')
  t.equal(cache.pendingInvalidations, 1, 'remembered, to tell Redis when it is back')
  t.equal(log.warnings.length, 1, 'warned once')
  await cache.close()
  t.strictSame(await cache.read(PATH, store.load), OLD, 'after close: storage')
  await cache.changed(PATH, NEW)
  t.pass('after close, changes are not refused')
})

t.test('a partition: changes refused meanwhile are told to Redis once it is back', async (t) => {
  const redis = await testRedis(t, 'link-cache')
  const proxy = await partitionableProxy()
  t.teardown(proxy.close)
  const viaProxy = new Redis({ host: '127.0.0.1', port: proxy.port, maxRetriesPerRequest: 1, connectTimeout: 500, commandTimeout: 500, retryStrategy: () => 50 })
  viaProxy.on('error', () => {})
  t.teardown(() => { viaProxy.disconnect() })
  await viaProxy.ping()
  const log = recordingLog()
  const a = new RedisLinkCache({ client: viaProxy, keyPrefix: redis.keyPrefix, log, operationTimeout: 1000 })
  const b = new RedisLinkCache({ client: redis.client, keyPrefix: redis.keyPrefix })
  t.teardown(async () => await a.close())

  const store = storage(OLD)
  t.strictSame(await a.read(PATH, store.load), OLD)
  t.strictSame(await b.read(PATH, store.load), OLD)
  t.equal(store.calls(), 1)

  await proxy.cut()
  await until(() => viaProxy.status !== 'ready', 'A noticed the partition')
  store.set(NEW)
  await t.rejects(a.changed(PATH, NEW), { code: 'UNAVAILABLE' }, 'A cannot tell Redis: the push is not acknowledged')
  t.strictSame(await a.read(PATH, store.load), NEW, 'A itself reads storage meanwhile')
  t.strictSame(await b.read(PATH, store.load), OLD, 'B still has the old value: the window a 503 leaves')
  t.equal(log.warnings.length, 1, 'A warned once')

  await proxy.restore()
  await until(() => a.pendingInvalidations === 0, 'A told Redis of the change it missed')
  t.strictSame(await b.read(PATH, store.load), NEW, 'B sees the change once Redis has heard of it')
  t.ok(log.infos.length >= 1, 'A logged that Redis is back')
  t.strictSame(await a.read(PATH, store.load), NEW)
})
