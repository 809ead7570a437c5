import t from 'tap'
import Fastify from 'fastify'
import { registry, RegistryConfigError } from '../lib/index.js'
import { errorCode, pathOf, sha256 } from './helpers/registry.js'

t.test('mounted beside a host app, the registry and the host leave each other alone', async (t) => {
  const app = Fastify()
  app.addHook('onRequest', async (_request, reply) => { reply.header('x-host', 'yes') })
  app.setErrorHandler(async (error: Error, _request, reply) => await reply.code(418).send({ host: 'error handler', message: error.message }))
  app.get('/api/things', async (request) => ({ things: [1, 2], registry: request.registry ?? null }))
  app.post('/api/echo', async (request) => ({ echoed: request.body }))
  app.get('/api/fail', async () => { throw new Error('host failure') })
  await app.register(registry, { storage: { inmemory: {} }, uploadState: { secret: 's' } })
  t.teardown(async () => await app.close())

  const things = await app.inject({ method: 'GET', url: '/api/things' })
  t.equal(things.statusCode, 200)
  t.same(things.json(), { things: [1, 2], registry: null }, 'host requests get no registry Context')
  t.equal(things.headers['docker-distribution-api-version'], undefined, 'no registry header on host routes')
  t.equal(things.headers['x-host'], 'yes')

  const echo = await app.inject({ method: 'POST', url: '/api/echo', payload: { a: 1 } })
  t.same(echo.json(), { echoed: { a: 1 } }, 'the host keeps its JSON body parser')

  const fail = await app.inject({ method: 'GET', url: '/api/fail' })
  t.equal(fail.statusCode, 418, 'the host keeps its error handler')
  t.equal(fail.json().host, 'error handler')

  const missing = await app.inject({ method: 'GET', url: '/nowhere' })
  t.equal(missing.statusCode, 404)
  t.equal(missing.headers['docker-distribution-api-version'], undefined)

  const base = await app.inject({ method: 'GET', url: '/v2/' })
  t.equal(base.statusCode, 200)
  t.same(base.json(), {})
  t.equal(base.headers['docker-distribution-api-version'], 'registry/2.0')
  t.equal(base.headers['x-host'], 'yes', 'host hooks registered before the plugin still run, as Fastify encapsulation intends')

  const blob = await app.inject({ method: 'GET', url: `/v2/r/blobs/${sha256(Buffer.from('x'))}` })
  t.equal(blob.statusCode, 404)
  t.equal(errorCode(blob.body), 'BLOB_UNKNOWN', 'registry routes use the registry error envelope')

  const json = await app.inject({ method: 'POST', url: `/v2/r/blobs/uploads/?digest=${sha256(Buffer.from('{"a":1}'))}`, payload: '{"a":1}', headers: { 'content-type': 'application/json' } })
  t.equal(json.statusCode, 201, 'registry bodies are raw bytes even when labelled JSON')
})

t.test('HEAD and GET on the base route; every registry response carries the API version', async (t) => {
  const app = Fastify()
  await app.register(registry, { storage: { inmemory: {} }, uploadState: { secret: 's' } })
  t.teardown(async () => await app.close())
  const head = await app.inject({ method: 'HEAD', url: '/v2/' })
  t.equal(head.statusCode, 200)
  t.equal(head.headers['docker-distribution-api-version'], 'registry/2.0')
  const noSlash = await app.inject({ method: 'GET', url: '/v2' })
  t.equal(noSlash.statusCode, 200)
  const unknown = await app.inject({ method: 'GET', url: '/v2/foo' })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.headers['docker-distribution-api-version'], 'registry/2.0')
  t.ok(errorCode(unknown.body), 'an unmatched v2 path gets an error envelope')
})

t.test('mounted under a prefix, URLs carry the prefix', async (t) => {
  const app = Fastify()
  await app.register(registry, { prefix: '/registry', storage: { inmemory: {} }, uploadState: { secret: 's' } })
  t.teardown(async () => await app.close())
  t.equal((await app.inject({ method: 'GET', url: '/registry/v2/' })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/v2/' })).statusCode, 404)
  const start = await app.inject({ method: 'POST', url: '/registry/v2/repo/blobs/uploads/' })
  t.equal(start.statusCode, 202)
  t.match(pathOf(start.headers.location), /^\/registry\/v2\/repo\/blobs\/uploads\//)
})

t.test('absolute URLs: configured host, forwarded headers, or relative', async (t) => {
  const configured = Fastify()
  await configured.register(registry, { storage: { inmemory: {} }, uploadState: { secret: 's' }, http: { host: 'https://registry.example.test' } })
  const start = await configured.inject({ method: 'POST', url: '/v2/repo/blobs/uploads/', headers: { 'x-forwarded-host': 'ignored.test' } })
  t.match(start.headers.location, /^https:\/\/registry\.example\.test\/v2\/repo\/blobs\/uploads\//)
  await configured.close()

  const forwarded = Fastify()
  await forwarded.register(registry, { storage: { inmemory: {} }, uploadState: { secret: 's' } })
  const viaProxy = await forwarded.inject({ method: 'POST', url: '/v2/repo/blobs/uploads/', headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'proxy.test:8443' } })
  t.match(viaProxy.headers.location, /^https:\/\/proxy\.test:8443\/v2\//)
  const rfc = await forwarded.inject({ method: 'POST', url: '/v2/repo/blobs/uploads/', headers: { forwarded: 'for=10.0.0.1;proto=https;host=rfc.test' } })
  t.match(rfc.headers.location, /^https:\/\/rfc\.test\/v2\//)
  await forwarded.close()

  const relative = Fastify()
  await relative.register(registry, { storage: { inmemory: {} }, uploadState: { secret: 's' }, http: { relativeURLs: true } })
  const rel = await relative.inject({ method: 'POST', url: '/v2/repo/blobs/uploads/' })
  t.match(rel.headers.location, /^\/v2\/repo\/blobs\/uploads\//)
  await relative.close()
})

t.test('a bad option stops registration and names the option', async (t) => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['limits.manifestBodySize', { limits: { manifestBodySize: 0 } }],
    ['storage', { storage: { nfs: {} } }],
    ['uploadState', { uploadState: { secret: '' } }],
    ['accessController', { accessController: {} }],
    ['bogus', { bogus: true }]
  ]
  for (const [option, options] of cases) {
    const app = Fastify()
    app.register(registry, options)
    const error = await app.ready().then(() => undefined, (error: unknown) => error)
    t.type(error, RegistryConfigError, option)
    t.equal((error as RegistryConfigError).option, option)
    await app.close()
  }
})

t.test('without an upload secret a random one is used, with a warning', async (t) => {
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { lines.push(line) } } } })
  await app.register(registry, { storage: { inmemory: {} } })
  await app.ready()
  t.ok(lines.some((line) => /random/.test(line) && /secret/.test(line)), 'a warning says uploads are local to this instance')
  t.equal((await app.inject({ method: 'POST', url: '/v2/r/blobs/uploads/' })).statusCode, 202)
  await app.close()
})

t.test('registry errors keep headers a host app set, and drop the registry\'s own success headers', async (t) => {
  const app = Fastify()
  app.addHook('onRequest', async (_request, reply) => { reply.header('x-request-id', 'abc') })
  await app.register(registry, { storage: { inmemory: {} }, uploadState: { secret: 's' } })
  t.teardown(async () => await app.close())
  const response = await app.inject({ method: 'GET', url: `/v2/r/blobs/${sha256(Buffer.from('x'))}` })
  t.equal(response.statusCode, 404)
  t.equal(response.headers['x-request-id'], 'abc')
  t.equal(response.headers['docker-content-digest'], undefined)
})
