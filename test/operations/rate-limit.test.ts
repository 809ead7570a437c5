import t from 'tap'
import Fastify from 'fastify'
import fastifyRateLimit from '@fastify/rate-limit'
import { registry } from '../../lib/index.js'
import { SillyAccessController } from '../../lib/auth/silly.js'
import { buildRegistry, errorCode, randomBlob } from '../helpers/registry.js'

t.test('over the limit: 429 TOOMANYREQUESTS with Retry-After; other clients unaffected', async (t) => {
  const app = await buildRegistry({ rateLimit: { max: 3, timeWindow: 60_000 } })
  t.teardown(async () => await app.close())
  const from = async (remoteAddress: string, url = '/v2/'): Promise<Awaited<ReturnType<typeof app.inject>>> => await app.inject({ method: 'GET', url, remoteAddress })

  for (let i = 0; i < 3; i++) {
    const ok = await from('10.0.0.1')
    t.equal(ok.statusCode, 200)
    t.equal(ok.headers['x-ratelimit-limit'], '3')
    t.equal(ok.headers['x-ratelimit-remaining'], String(2 - i))
  }
  const limited = await from('10.0.0.1')
  t.equal(limited.statusCode, 429)
  t.equal(errorCode(limited.body), 'TOOMANYREQUESTS')
  const retryAfter = Number(limited.headers['retry-after'])
  t.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After in seconds (${retryAfter})`)
  t.match(limited.json(), { errors: [{ code: 'TOOMANYREQUESTS', message: /at most 3 per 1 min/, detail: { limit: 3, window: 60, retryAfter } }] })
  t.equal(limited.headers['docker-distribution-api-version'], 'registry/2.0')
  t.match(limited.headers['content-type'], /^application\/json/)

  t.equal((await from('10.0.0.1', '/v2/nothing/here')).statusCode, 429, 'every route counts, matched or not')
  t.equal((await from('10.0.0.2')).statusCode, 200, 'another client is not affected')
  t.equal((await from('10.0.0.2')).statusCode, 200)

  const upload = await app.inject({ method: 'POST', url: '/v2/r/blobs/uploads/?digest=sha256:' + '0'.repeat(64), payload: Buffer.alloc(100), remoteAddress: '10.0.0.1' })
  t.equal(upload.statusCode, 429, 'refused before the body is read')
  t.equal(upload.headers.connection, 'close', 'a body on the way closes the connection instead of being drained')
})

t.test('the host\'s routes are not limited; a rate limiter of the host\'s does not change the registry\'s', async (t) => {
  const app = Fastify()
  app.get('/host', async () => ({ ok: true }))
  await app.register(registry, { storage: { inmemory: {} }, uploadState: { secret: 's' }, rateLimit: { max: 1 } })
  await app.ready()
  t.teardown(async () => await app.close())
  for (let i = 0; i < 5; i++) t.equal((await app.inject({ method: 'GET', url: '/host' })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/v2/' })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/v2/' })).statusCode, 429)
  t.equal((await app.inject({ method: 'GET', url: '/host' })).headers['x-ratelimit-limit'], undefined)

  // A host with a rate limiter of its own: the registry's settings still rule its routes.
  const limited = Fastify()
  await limited.register(fastifyRateLimit, { max: 100 })
  limited.get('/host', async () => ({ ok: true }))
  await limited.register(registry, { storage: { inmemory: {} }, uploadState: { secret: 's' }, rateLimit: { max: 1 } })
  await limited.ready()
  t.teardown(async () => await limited.close())
  t.equal((await limited.inject({ method: 'GET', url: '/host' })).headers['x-ratelimit-limit'], '100')
  t.equal((await limited.inject({ method: 'GET', url: '/v2/' })).headers['x-ratelimit-limit'], '1')
  const refused = await limited.inject({ method: 'GET', url: '/v2/' })
  t.equal(refused.statusCode, 429)
  t.equal(errorCode(refused.body), 'TOOMANYREQUESTS')
})

t.test('keyBy user: one limit per authenticated user, counted after access control', async (t) => {
  const app = await buildRegistry({
    accessController: new SillyAccessController({ realm: 'r', service: 's' }),
    rateLimit: { max: 2, keyBy: 'user' }
  })
  t.teardown(async () => await app.close())
  const anonymous = await app.inject({ method: 'GET', url: '/v2/' })
  t.equal(anonymous.statusCode, 401)
  t.equal(anonymous.headers['x-ratelimit-limit'], undefined, 'refused by access control before the limiter')
  // The silly controller grants every credential as the user "silly".
  t.equal((await app.inject({ method: 'GET', url: '/v2/', headers: { authorization: 'Bearer a' }, remoteAddress: '10.0.0.9' })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/v2/', headers: { authorization: 'Bearer b' }, remoteAddress: '10.0.0.10' })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/v2/', headers: { authorization: 'Bearer c' }, remoteAddress: '10.0.0.11' })).statusCode, 429, 'one user, whatever the address')

  const anonymousPull = await buildRegistry({ auth: { silly: { realm: 'r', service: 's' }, anonymousPull: true }, rateLimit: { max: 1, keyBy: 'user' } })
  t.teardown(async () => await anonymousPull.close())
  const pull = async (remoteAddress: string): Promise<number> => (await anonymousPull.inject({ method: 'GET', url: '/v2/r/tags/list', remoteAddress })).statusCode
  t.equal(await pull('10.0.0.1'), 404)
  t.equal(await pull('10.0.0.1'), 429, 'anonymous requests are keyed by address')
  t.equal(await pull('10.0.0.2'), 404)

  const byHeader = await buildRegistry({
    accessController: { authorized: async (request) => ({ user: { name: String(request.headers['x-user']) }, access: [] }) },
    rateLimit: { max: 1, keyBy: 'user' }
  })
  t.teardown(async () => await byHeader.close())
  const as = async (user: string): Promise<number> => (await byHeader.inject({ method: 'GET', url: '/v2/', headers: { 'x-user': user }, remoteAddress: '10.0.0.1' })).statusCode
  t.equal(await as('alice'), 200)
  t.equal(await as('alice'), 429)
  t.equal(await as('bob'), 200, 'another user from the same address has their own limit')
})

t.test('a custom keyGenerator and an allow list', async (t) => {
  const app = await buildRegistry({
    rateLimit: { max: 1, keyGenerator: (request) => String(request.headers['x-tenant'] ?? 'none'), allowList: ['ci'] }
  })
  t.teardown(async () => await app.close())
  const as = async (tenant: string): Promise<number> => (await app.inject({ method: 'GET', url: '/v2/', headers: { 'x-tenant': tenant } })).statusCode
  t.equal(await as('a'), 200)
  t.equal(await as('a'), 429)
  t.equal(await as('b'), 200)
  for (let i = 0; i < 3; i++) t.equal(await as('ci'), 200, 'allow-listed')
})

t.test('the window ends and the client is served again', async (t) => {
  const app = await buildRegistry({ rateLimit: { max: 1, timeWindow: 200 } })
  t.teardown(async () => await app.close())
  const blob = randomBlob(10)
  t.equal((await app.inject({ method: 'POST', url: `/v2/r/blobs/uploads/?digest=${blob.digest}`, payload: blob.content })).statusCode, 201)
  const limited = await app.inject({ method: 'GET', url: `/v2/r/blobs/${blob.digest}` })
  t.equal(limited.statusCode, 429)
  t.equal(limited.headers['retry-after'], '1', 'at least a second')
  await new Promise((resolve) => setTimeout(resolve, 250))
  t.equal((await app.inject({ method: 'GET', url: `/v2/r/blobs/${blob.digest}` })).statusCode, 200)
})
