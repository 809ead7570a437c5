import t from 'tap'
import { createRedisParts } from '../../lib/redis/create.js'
import { RedisUploadStateProvider } from '../../lib/upload-state/redis.js'
import { RedisLinkCache } from '../../lib/cache/redis-link-cache.js'
import { parseDigest } from '../../lib/digest.js'
import { redisAddr, testRedis } from '../helpers/redis.js'
import { sha256 } from '../helpers/registry.js'

const limits = { uploadMaxAge: 60_000 }
function quietLog (): { warn: () => void, info: (o: object, m: string) => void, infos: string[] } {
  const infos: string[] = []
  return { warn: () => {}, info: (_o, m) => { infos.push(m) }, infos }
}

t.test('nothing asked for, nothing connects', async (t) => {
  const none = createRedisParts({}, limits, quietLog())
  t.equal(none.connection, undefined)
  await none.close()
  const log = quietLog()
  const unused = createRedisParts({ redis: { addr: '127.0.0.1:1' }, cache: { links: 'storage' }, uploadState: { secret: 'x' } }, limits, log)
  t.equal(unused.connection, undefined, 'a redis option nothing uses does not connect')
  t.match(log.infos.join('\n'), /not connecting/)
  t.throws(() => createRedisParts({ cache: { links: 'redis' } }, limits, quietLog()), /redis option/, 'never a silent fallback')
  t.throws(() => createRedisParts({ uploadState: { redis: true } }, limits, quietLog()), /redis option/)
})

t.test('upload state and link cache share one connection; close ends it', async (t) => {
  const redis = await testRedis(t, 'create')
  const parts = createRedisParts({ redis: { addr: redisAddr(), keyPrefix: redis.keyPrefix }, uploadState: { redis: true }, cache: { links: 'redis' } }, limits, quietLog())
  t.teardown(parts.close)
  t.type(parts.uploadState, RedisUploadStateProvider)
  t.type(parts.linkCache, RedisLinkCache)
  const state = { name: 'a', uuid: 'u', offset: 1, startedAt: new Date() }
  const token = await parts.uploadState!.pack(state)
  t.strictSame(await parts.uploadState!.unpack(token), state)
  t.ok((await redis.client.pttl(`${redis.keyPrefix}upload-state:${token}`)) <= 60_000, 'expires at limits.uploadMaxAge')
  const digest = parseDigest(sha256(Buffer.from('x')))!
  t.strictSame(await parts.linkCache!.read('/a/link', async () => digest), digest)
  t.equal(await redis.client.get(`${redis.keyPrefix}link:{/a/link}:v`), digest.digest, 'under the configured prefix')
  await parts.close()
  t.equal(parts.connection!.client.status, 'end')
})

t.test('only what is asked for; an app-owned client stays open', async (t) => {
  const redis = await testRedis(t, 'create')
  const client = await redis.newClient()
  const onlyCache = createRedisParts({ redis: { client, keyPrefix: redis.keyPrefix }, cache: { links: 'redis' } }, limits, quietLog())
  t.equal(onlyCache.uploadState, undefined)
  t.type(onlyCache.linkCache, RedisLinkCache)
  await onlyCache.close()
  t.equal(client.status, 'ready', 'the app\'s client is the app\'s to close')
  const onlyState = createRedisParts({ redis: client, uploadState: { redis: true } }, limits, quietLog())
  t.equal(onlyState.linkCache, undefined)
  t.type(onlyState.uploadState, RedisUploadStateProvider)
  t.equal(onlyState.connection?.keyPrefix, 'fastify-oci-registry:')
  await onlyState.close()
})
