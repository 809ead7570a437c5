import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { RedisUploadStateProvider } from '../../lib/upload-state/redis.js'
import { InvalidUploadStateError, type UploadState } from '../../lib/upload-state/provider.js'
import { RegistryError } from '../../errors/index.js'
import { testRedis } from '../helpers/redis.js'
import { buildRegistry, errorCode, pathOf, sha256, tempDir } from '../helpers/registry.js'
import { freePort } from '../helpers/standalone-process.js'

const DAY = 24 * 60 * 60 * 1000
const STATE: UploadState = { name: 'library/ubuntu', uuid: '6a1ed5b0-7a2a-4b7e-9d3c-0e1f2a3b4c5d', offset: 1234, startedAt: new Date('2026-11-27T12:00:00.123Z') }
const octet = { 'content-type': 'application/octet-stream' }

async function rejectsInvalid (t: Test, promise: Promise<unknown>, what: string): Promise<void> {
  await t.rejects(promise, InvalidUploadStateError, what)
}

t.test('pack and unpack round-trip; the token is only a random id', async (t) => {
  const redis = await testRedis(t, 'upload-state')
  const provider = new RedisUploadStateProvider({ client: redis.client, keyPrefix: redis.keyPrefix, maxAge: 7 * DAY, now: () => STATE.startedAt.getTime() })
  const token = await provider.pack(STATE)
  t.match(token, /^[A-Za-z0-9_-]{24}$/, '24 base64url characters (144 random bits)')
  t.strictSame(await provider.unpack(token), STATE)
  t.notOk(token.includes(STATE.uuid) || Buffer.from(token, 'base64url').toString('latin1').includes('ubuntu'), 'the token carries no state')
  t.ok(await redis.client.exists(provider.key(token)), 'the state lives under the key prefix')
  t.ok(provider.key(token).startsWith(redis.keyPrefix))

  const tokens = new Set<string>()
  for (let i = 0; i < 200; i++) tokens.add(await provider.pack(STATE))
  t.equal(tokens.size, 200, 'every pack issues a new token')

  for (const state of [{ ...STATE, offset: 0 }, { ...STATE, offset: Number.MAX_SAFE_INTEGER }, { ...STATE, name: 'a"b\\c\u0001ü' }]) {
    t.strictSame(await provider.unpack(await provider.pack(state)), state)
  }
})

t.test('an old token keeps its old offset, so a replay is seen as stale', async (t) => {
  const redis = await testRedis(t, 'upload-state')
  const provider = new RedisUploadStateProvider({ client: redis.client, keyPrefix: redis.keyPrefix, maxAge: DAY })
  const startedAt = new Date()
  const first = await provider.pack({ ...STATE, offset: 0, startedAt })
  const second = await provider.pack({ ...STATE, offset: 5, startedAt })
  t.equal((await provider.unpack(first)).offset, 0, 'the first token still says 0')
  t.equal((await provider.unpack(second)).offset, 5)
})

t.test('unknown, malformed and corrupt tokens are invalid, like a forged HMAC token', async (t) => {
  const redis = await testRedis(t, 'upload-state')
  const provider = new RedisUploadStateProvider({ client: redis.client, keyPrefix: redis.keyPrefix, maxAge: DAY })
  await rejectsInvalid(t, provider.unpack('AAAAAAAAAAAAAAAAAAAAAAAA'), 'unknown id')
  for (const token of ['', 'short', 'A'.repeat(23), 'A'.repeat(25), `${'A'.repeat(23)}=`, `${'A'.repeat(23)}/`, `${'A'.repeat(23)}+`, '../../../../etc/passwd/xx', `${'A'.repeat(22)}\n`]) {
    await rejectsInvalid(t, provider.unpack(token), `malformed ${JSON.stringify(token)}`)
  }
  const token = await provider.pack({ ...STATE, startedAt: new Date() })
  for (const stored of ['not json', 'null', '[]', '{"name":"a","uuid":"u","offset":-1,"startedAt":"2026-11-27T12:00:00Z"}',
    '{"name":"a","uuid":"u","offset":1.5,"startedAt":"2026-11-27T12:00:00Z"}', '{"name":"a","uuid":"u","offset":1,"startedAt":"yesterday"}',
    '{"name":1,"uuid":"u","offset":1,"startedAt":"2026-11-27T12:00:00Z"}', '{"uuid":"u","offset":1,"startedAt":"2026-11-27T12:00:00Z"}']) {
    await redis.client.set(provider.key(token), stored)
    await rejectsInvalid(t, provider.unpack(token), `stored ${stored}`)
  }
  const other = new RedisUploadStateProvider({ client: redis.client, keyPrefix: `${redis.keyPrefix}other:`, maxAge: DAY })
  await rejectsInvalid(t, other.unpack(await provider.pack({ ...STATE, startedAt: new Date() })), 'another key prefix does not know it')
})

t.test('state expires at the upload maximum age', async (t) => {
  const redis = await testRedis(t, 'upload-state')
  const now = Date.now()
  const provider = new RedisUploadStateProvider({ client: redis.client, keyPrefix: redis.keyPrefix, maxAge: 10 * 60 * 1000, now: () => now })
  const fresh = await provider.pack({ ...STATE, startedAt: new Date(now) })
  const ttl = await redis.client.pttl(provider.key(fresh))
  t.ok(ttl > 10 * 60 * 1000 - 5000 && ttl <= 10 * 60 * 1000, `a new upload's state lives the maximum age (${ttl} ms)`)
  const halfway = await provider.pack({ ...STATE, startedAt: new Date(now - 5 * 60 * 1000) })
  const left = await redis.client.pttl(provider.key(halfway))
  t.ok(left > 5 * 60 * 1000 - 5000 && left <= 5 * 60 * 1000, `a chunk halfway through lives what is left of it (${left} ms)`)
  const old = await provider.pack({ ...STATE, startedAt: new Date(now - DAY) })
  const brief = await redis.client.pttl(provider.key(old))
  t.ok(brief > 0 && brief <= 1000, `an upload past its age gets a brief life, the route refuses it anyway (${brief} ms)`)

  const short = new RedisUploadStateProvider({ client: redis.client, keyPrefix: redis.keyPrefix, maxAge: 1200 })
  const token = await short.pack({ ...STATE, startedAt: new Date() })
  t.equal((await short.unpack(token)).offset, STATE.offset, 'known before its age')
  await sleep(1500)
  await rejectsInvalid(t, short.unpack(token), 'unknown after it')

  t.throws(() => new RedisUploadStateProvider({ client: redis.client, keyPrefix: '', maxAge: 0 }), TypeError)
})

t.test('two providers on one Redis see each other\'s state; other prefixes do not', async (t) => {
  const redis = await testRedis(t, 'upload-state')
  const a = new RedisUploadStateProvider({ client: redis.client, keyPrefix: redis.keyPrefix, maxAge: DAY })
  const b = new RedisUploadStateProvider({ client: await redis.newClient(), keyPrefix: redis.keyPrefix, maxAge: DAY })
  const state = { ...STATE, startedAt: new Date() }
  t.strictSame(await b.unpack(await a.pack(state)), state, 'A packs, B unpacks')
  t.strictSame(await a.unpack(await b.pack({ ...state, offset: 99 })), { ...state, offset: 99 }, 'and back')
})

t.test('Redis unreachable: UNAVAILABLE (retry), not an invalid token', async (t) => {
  const port = await freePort()
  const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, connectTimeout: 500, commandTimeout: 500, retryStrategy: () => 100 })
  client.on('error', () => {})
  t.teardown(() => { client.disconnect() })
  const provider = new RedisUploadStateProvider({ client, keyPrefix: 'x:', maxAge: DAY })
  const packed = provider.pack({ ...STATE, startedAt: new Date() })
  await t.rejects(packed, RegistryError)
  await t.rejects(packed, { code: 'UNAVAILABLE', status: 503 })
  const unpacked = provider.unpack('AAAAAAAAAAAAAAAAAAAAAAAA')
  await t.rejects(unpacked, { code: 'UNAVAILABLE', status: 503 })
  await unpacked.catch((error: unknown) => { t.notOk(error instanceof InvalidUploadStateError) })
})

t.test('over HTTP: uploads across two registry instances sharing storage and Redis', async (t) => {
  const redis = await testRedis(t, 'upload-state-http')
  const dir = await tempDir()
  t.teardown(dir.cleanup)
  const instance = async (client: Redis): Promise<Awaited<ReturnType<typeof buildRegistry>>> => {
    const app = await buildRegistry({
      storage: { filesystem: { rootDirectory: dir.path } },
      uploadState: new RedisUploadStateProvider({ client, keyPrefix: redis.keyPrefix, maxAge: DAY })
    })
    t.teardown(async () => await app.close())
    return app
  }
  const a = await instance(redis.client)
  const b = await instance(await redis.newClient())

  const start = await a.inject({ method: 'POST', url: '/v2/repo/blobs/uploads/' })
  t.equal(start.statusCode, 202)
  const first = pathOf(start.headers.location)
  const state = new URL(first, 'http://x').searchParams.get('_state') ?? ''
  t.match(state, /^[A-Za-z0-9_-]{24}$/, 'the Location carries a random id')

  const chunk1 = await b.inject({ method: 'PATCH', url: first, payload: Buffer.from('hello '), headers: { ...octet, 'content-range': '0-5' } })
  t.equal(chunk1.statusCode, 202, 'instance B continues A\'s upload')
  t.equal(chunk1.headers.range, '0-5')
  const second = pathOf(chunk1.headers.location)
  t.not(second, first, 'a new token for the new offset')

  const replay = await a.inject({ method: 'PATCH', url: first, payload: Buffer.from('world'), headers: octet })
  t.equal(replay.statusCode, 416, 'the first token replayed: stale offset')
  t.equal(replay.headers.range, '0-5')

  const status = await a.inject({ method: 'GET', url: second })
  t.equal(status.statusCode, 204)
  t.equal(status.headers.range, '0-5')

  const unknown = await a.inject({ method: 'PATCH', url: `${new URL(second, 'http://x').pathname}?_state=AAAAAAAAAAAAAAAAAAAAAAAA`, payload: Buffer.from('x'), headers: octet })
  t.equal(unknown.statusCode, 400)
  t.equal(errorCode(unknown.body), 'BLOB_UPLOAD_INVALID', 'an id Redis does not know')

  const digest = sha256(Buffer.from('hello world'))
  const done = await a.inject({ method: 'PUT', url: `${second}&digest=${digest}`, payload: Buffer.from('world'), headers: octet })
  t.equal(done.statusCode, 201)
  t.equal(done.headers['docker-content-digest'], digest)
  const blob = await b.inject({ method: 'GET', url: `/v2/repo/blobs/${digest}` })
  t.equal(blob.body, 'hello world')
})
