import t from 'tap'
import { Redis } from 'ioredis'
import { createRedisConnection, reconnectDelay, redisClientOptions, MAX_RECONNECT_DELAY_MS } from '../../lib/redis/client.js'
import { redisAddr, testRedis } from '../helpers/redis.js'
import { freePort } from '../helpers/standalone-process.js'

function recordingLog (): { warn: (o: object, m: string) => void, info: (o: object, m: string) => void, warnings: string[], infos: string[] } {
  const warnings: string[] = []
  const infos: string[] = []
  return { warn: (_o, m) => { warnings.push(m) }, info: (_o, m) => { infos.push(m) }, warnings, infos }
}

t.test('redisClientOptions: distribution\'s names to ioredis\'s', async (t) => {
  const options = redisClientOptions({ addr: 'redis.example.com:6380', username: 'u', password: 'p', db: 4, dialtimeout: 100, readtimeout: 200, writetimeout: 300, tls: { enabled: true } })
  t.match(options, { host: 'redis.example.com', port: 6380, username: 'u', password: 'p', db: 4, connectTimeout: 100, commandTimeout: 300, tls: { servername: 'redis.example.com' }, maxRetriesPerRequest: 1, lazyConnect: false })
  const defaults = redisClientOptions({ addr: '[::1]', password: '' })
  t.match(defaults, { host: '::1', port: 6379, db: 0, connectTimeout: 5000, commandTimeout: 3000 })
  t.notOk('password' in defaults, 'an empty password is no password')
  t.notOk('username' in defaults)
  t.notOk('tls' in defaults, 'plain TCP unless tls.enabled')
  t.notOk('tls' in redisClientOptions({ addr: 'a', tls: { enabled: false } }))
  t.equal(redisClientOptions({ addr: 'a', readtimeout: 50 }).commandTimeout, 3000, 'the larger of read and write (write defaulting to 3 s)')
  t.equal(typeof defaults.reconnectOnError, 'function')
  t.equal(defaults.reconnectOnError?.(new Error('READONLY You can\'t write against a read only replica.')), 2, 'a failover to a replica reconnects and retries')
  t.equal(defaults.reconnectOnError?.(new Error('ERR other')), false)
})

t.test('reconnectDelay backs off and stays bounded, never gives up', async (t) => {
  t.equal(reconnectDelay(1), 50)
  t.equal(reconnectDelay(2), 100)
  t.equal(reconnectDelay(100), MAX_RECONNECT_DELAY_MS)
  t.equal(reconnectDelay(1e9), MAX_RECONNECT_DELAY_MS)
})

t.test('a connection from a configuration: works, and close ends it', async (t) => {
  const redis = await testRedis(t, 'client')
  const log = recordingLog()
  const connection = createRedisConnection({ addr: redisAddr(), keyPrefix: redis.keyPrefix }, log)
  t.teardown(async () => await connection.close())
  t.equal(connection.owned, true)
  t.equal(connection.keyPrefix, redis.keyPrefix)
  await connection.client.set(`${redis.keyPrefix}k`, 'v')
  t.equal(await redis.client.get(`${redis.keyPrefix}k`), 'v', 'the same server')
  t.equal(await connection.client.client('GETNAME'), 'fastify-oci-registry', 'named in CLIENT LIST')
  await connection.close()
  await connection.close()
  t.equal(connection.client.status, 'end', 'closed, idempotently')
  t.same(log.warnings, [])
  const defaults = createRedisConnection({ addr: redisAddr() }, log)
  t.equal(defaults.keyPrefix, 'fastify-oci-registry:', 'the default prefix')
  await defaults.close()
})

t.test('an app-owned client is used as it is and never closed', async (t) => {
  const redis = await testRedis(t, 'client')
  const client = await redis.newClient()
  const bare = createRedisConnection(client, recordingLog())
  t.equal(bare.client, client)
  t.equal(bare.owned, false)
  t.equal(bare.keyPrefix, 'fastify-oci-registry:')
  await bare.close()
  t.equal(client.status, 'ready', 'still connected after close')
  const wrapped = createRedisConnection({ client, keyPrefix: 'app:' }, recordingLog())
  t.equal(wrapped.client, client)
  t.equal(wrapped.keyPrefix, 'app:')
  await wrapped.close()
  t.equal(await client.ping(), 'PONG')
})

t.test('an unreachable server: logged once, never thrown; commands fail fast; close is prompt', async (t) => {
  const port = await freePort()
  const log = recordingLog()
  const unhandled: unknown[] = []
  const onUnhandled = (error: unknown): void => { unhandled.push(error) }
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => { process.off('unhandledRejection', onUnhandled) })
  const connection = createRedisConnection({ addr: `127.0.0.1:${port}`, dialtimeout: 200, readtimeout: 300 }, log)
  await new Promise((resolve) => setTimeout(resolve, 600))
  t.equal(log.warnings.length, 1, `one warning for the outage, not one per retry (${log.warnings.length})`)
  const started = Date.now()
  await t.rejects(connection.client.get('x'))
  t.ok(Date.now() - started < 2000, `a command fails within its bounds (${Date.now() - started} ms)`)
  const closing = Date.now()
  await connection.close()
  t.ok(Date.now() - closing < 1000, 'close does not wait for a server that is away')
  let attempts = 0
  connection.client.on('connecting', () => { attempts++ })
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(attempts, 0, 'no more connection attempts after close')
  t.same(unhandled, [])
})

t.test('back after an outage: logged', async (t) => {
  // A second client that we stop and start by pausing its connection: CLIENT KILL drops it server-side.
  const redis = await testRedis(t, 'client')
  const log = recordingLog()
  const connection = createRedisConnection({ addr: redisAddr() }, log)
  t.teardown(async () => await connection.close())
  await connection.client.ping()
  const id = await connection.client.client('ID')
  await redis.client.client('KILL', 'ID', String(id))
  await new Promise<void>((resolve) => { connection.client.once('ready', () => { resolve() }) })
  t.equal(await connection.client.ping(), 'PONG', 'reconnected by itself')
  t.ok(log.warnings.length <= 1)
  if (log.warnings.length === 1) t.equal(log.infos.length, 1, 'and said so')
})

t.test('ioredis is the client type the options name', async (t) => {
  const client = new Redis({ lazyConnect: true })
  t.teardown(() => { client.disconnect() })
  t.equal(createRedisConnection(client, recordingLog()).client, client)
})
