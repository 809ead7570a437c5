import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { Registry } from 'prom-client'
import { request } from 'undici'
import { setTimeout as sleep } from 'node:timers/promises'
import { Readable } from 'node:stream'
import { registry, type RegistryOptions } from '../../lib/index.js'
import { RegistryHandle } from '../../lib/operations/handle.js'
import { registryMetrics } from '../../lib/operations/metrics-plugin.js'
import { InMemoryDriver } from '../../lib/storage/inmemory.js'
import { StorageFullError } from '../../lib/storage/errors.js'
import { pathOf, randomBlob, sha256, tempDir } from '../helpers/registry.js'

/** `name{a="x",b="y"} value` lines of a scrape, by name and labels in any order. */
function sample (text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null || match[1] !== name) continue
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]))
    if (Object.keys(labels).length === Object.keys(found).length && Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3])
  }
  return undefined
}

/** A host app: the registry at /v2/, its metrics at /ops/metrics behind the host's own check. */
async function build (options: RegistryOptions = {}): Promise<{ app: FastifyInstance, handle: RegistryHandle, scrape: () => Promise<string> }> {
  const app = Fastify()
  const handle = new RegistryHandle()
  await app.register(registry, { storage: { inmemory: {} }, uploadState: { secret: 's' }, metrics: true, handle, ...options })
  await app.register(async (ops) => {
    ops.addHook('onRequest', async (request, reply) => {
      if (request.headers.authorization !== 'Bearer ops') await reply.code(401).send({ error: 'ops only' })
    })
    await ops.register(registryMetrics, { handle })
  }, { prefix: '/ops' })
  await app.ready()
  const scrape = async (): Promise<string> => {
    const response = await app.inject({ method: 'GET', url: '/ops/metrics', headers: { authorization: 'Bearer ops' } })
    if (response.statusCode !== 200) throw new Error(`scrape: ${response.statusCode}`)
    return response.body
  }
  return { app, handle, scrape }
}

t.test('requests are counted by route name, method and status; latency by route name and method', async (t) => {
  const { app, scrape } = await build()
  t.teardown(async () => await app.close())

  const denied = await app.inject({ method: 'GET', url: '/ops/metrics' })
  t.equal(denied.statusCode, 401, 'the host protects the metrics route with its own hook')

  const blob = randomBlob(1000)
  for (let i = 0; i < 3; i++) {
    t.equal((await app.inject({ method: 'POST', url: `/v2/a/b/blobs/uploads/?digest=${blob.digest}`, payload: blob.content })).statusCode, 201)
  }
  t.equal((await app.inject({ method: 'GET', url: `/v2/a/b/blobs/${blob.digest}` })).statusCode, 200)
  t.equal((await app.inject({ method: 'HEAD', url: `/v2/a/b/blobs/${blob.digest}` })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: `/v2/a/b/blobs/${sha256(Buffer.from('none'))}` })).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url: '/v2/' })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/v2/nothing/here' })).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url: '/v2/BAD/tags/list' })).statusCode, 400)
  t.equal((await app.inject({ method: 'GET', url: `/v2/a/b/blobs/${blob.digest}/x/y/z?secret=1` })).statusCode, 404)

  const text = await scrape()
  t.equal(sample(text, 'registry_http_requests_total', { route: 'blob-upload', method: 'POST', status: '201' }), 3)
  t.equal(sample(text, 'registry_http_requests_total', { route: 'blob', method: 'GET', status: '200' }), 1)
  t.equal(sample(text, 'registry_http_requests_total', { route: 'blob', method: 'HEAD', status: '200' }), 1)
  t.equal(sample(text, 'registry_http_requests_total', { route: 'blob', method: 'GET', status: '404' }), 1)
  t.equal(sample(text, 'registry_http_requests_total', { route: 'base', method: 'GET', status: '200' }), 1)
  t.equal(sample(text, 'registry_http_requests_total', { route: 'tags', method: 'GET', status: '400' }), 1, 'a name that fails validation still counts under its route')
  t.equal(sample(text, 'registry_http_requests_total', { route: 'unmatched', method: 'GET', status: '404' }), 2)
  t.notOk(/secret|a\/b|sha256/.test(text), 'no URL, repository name or digest reaches a label')
  t.notOk(text.includes('/ops/metrics'), 'the host\'s routes are not counted')

  t.equal(sample(text, 'registry_http_request_duration_seconds_count', { route: 'blob-upload', method: 'POST' }), 3)
  t.equal(sample(text, 'registry_http_request_duration_seconds_bucket', { route: 'blob-upload', method: 'POST', le: '+Inf' }), 3)
  t.equal(sample(text, 'registry_http_request_duration_seconds_count', { route: 'blob', method: 'GET' }), 2)
  const sum = sample(text, 'registry_http_request_duration_seconds_sum', { route: 'blob-upload', method: 'POST' })
  t.ok(sum !== undefined && sum > 0 && sum < 30, `latency recorded in seconds (${sum})`)
  t.equal(sample(text, 'registry_uploads_in_progress'), 0)
  t.match(text, /# TYPE registry_storage_errors_total counter/)
})

t.test('bytes in and out are exactly the blob bodies, monolithic and chunked, whole and ranged', async (t) => {
  const { app, scrape } = await build()
  t.teardown(async () => await app.close())
  const one = randomBlob(12_345)
  const two = randomBlob(70_000)
  t.equal((await app.inject({ method: 'POST', url: `/v2/r/blobs/uploads/?digest=${one.digest}`, payload: one.content })).statusCode, 201)
  const started = await app.inject({ method: 'POST', url: '/v2/r/blobs/uploads/' })
  const patched = await app.inject({ method: 'PATCH', url: pathOf(started.headers.location), payload: two.content.subarray(0, 30_000), headers: { 'content-range': '0-29999' } })
  t.equal(patched.statusCode, 202)
  const put = await app.inject({ method: 'PUT', url: `${pathOf(patched.headers.location)}&digest=${two.digest}`, payload: two.content.subarray(30_000) })
  t.equal(put.statusCode, 201)
  // Not blob bodies: a manifest and a refused upload that never reached the handler.
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: one.digest, size: one.content.length }, layers: [] })
  t.equal((await app.inject({ method: 'PUT', url: '/v2/r/manifests/v1', payload: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } })).statusCode, 201)
  t.equal((await app.inject({ method: 'POST', url: '/v2/BAD/blobs/uploads/?digest=' + one.digest, payload: one.content })).statusCode, 400)

  let text = await scrape()
  t.equal(sample(text, 'registry_blob_bytes_received_total'), one.content.length + two.content.length)
  t.equal(sample(text, 'registry_blob_bytes_sent_total'), 0)

  t.equal((await app.inject({ method: 'GET', url: `/v2/r/blobs/${one.digest}` })).rawPayload.length, one.content.length)
  t.equal((await app.inject({ method: 'GET', url: `/v2/r/blobs/${two.digest}` })).rawPayload.length, two.content.length)
  const ranged = await app.inject({ method: 'GET', url: `/v2/r/blobs/${two.digest}`, headers: { range: 'bytes=100-199' } })
  t.equal(ranged.statusCode, 206)
  t.equal((await app.inject({ method: 'HEAD', url: `/v2/r/blobs/${two.digest}` })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: `/v2/r/blobs/${two.digest}`, headers: { 'if-none-match': `"${two.digest}"` } })).statusCode, 304)
  t.equal((await app.inject({ method: 'GET', url: `/v2/r/blobs/${sha256(Buffer.from('missing'))}` })).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url: '/v2/r/manifests/v1' })).statusCode, 200)

  text = await scrape()
  t.equal(sample(text, 'registry_blob_bytes_sent_total'), one.content.length + two.content.length + 100, 'blob GET bodies only: not HEAD, 304, error bodies or manifests')
  t.equal(sample(text, 'registry_blob_bytes_received_total'), one.content.length + two.content.length)
})

t.test('over real HTTP with filesystem storage: bytes out through the file sender, uploads in progress during a slow upload', async (t) => {
  const dir = await tempDir()
  t.teardown(dir.cleanup)
  const { app, scrape } = await build({ storage: { filesystem: { rootDirectory: dir.path } } })
  t.teardown(async () => await app.close())
  const address = await app.listen({ host: '127.0.0.1', port: 0 })

  const blob = randomBlob(3 * 1024 * 1024 + 17)
  const start = await request(`${address}/v2/slow/blobs/uploads/`, { method: 'POST' })
  await start.body.dump()
  t.equal(start.statusCode, 202)
  const location = new URL(String(start.headers.location), address).toString()

  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  const first = blob.content.subarray(0, 1024 * 1024)
  async function * body (): AsyncGenerator<Buffer> {
    yield first
    await gate
    yield blob.content.subarray(first.length)
  }
  const patching = request(location, { method: 'PATCH', body: Readable.from(body()), headers: { 'content-type': 'application/octet-stream' } })

  let during = ''
  for (let i = 0; i < 200; i++) {
    during = await scrape()
    if (sample(during, 'registry_uploads_in_progress') === 1 && (sample(during, 'registry_blob_bytes_received_total') ?? 0) >= first.length) break
    await sleep(10)
  }
  t.equal(sample(during, 'registry_uploads_in_progress'), 1, 'one upload receiving its body')
  t.ok((sample(during, 'registry_blob_bytes_received_total') ?? 0) >= first.length, 'bytes in counted as they arrive')
  release()
  const patched = await patching
  await patched.body.dump()
  t.equal(patched.statusCode, 202)
  const put = await request(`${new URL(String(patched.headers.location), address).toString()}&digest=${blob.digest}`, { method: 'PUT' })
  await put.body.dump()
  t.equal(put.statusCode, 201)

  const got = await request(`${address}/v2/slow/blobs/${blob.digest}`)
  t.equal(Buffer.from(await got.body.arrayBuffer()).length, blob.content.length)
  const ranged = await request(`${address}/v2/slow/blobs/${blob.digest}`, { headers: { range: 'bytes=10-1048585' } })
  t.equal(Buffer.from(await ranged.body.arrayBuffer()).length, 1048576)

  const after = await scrape()
  t.equal(sample(after, 'registry_uploads_in_progress'), 0, 'back to 0 once the upload ended')
  t.equal(sample(after, 'registry_blob_bytes_received_total'), blob.content.length)
  t.equal(sample(after, 'registry_blob_bytes_sent_total'), blob.content.length + 1048576)
  t.equal(sample(after, 'registry_http_requests_total', { route: 'blob-upload-chunk', method: 'PATCH', status: '202' }), 1)
})

t.test('storage errors are counted by operation and kind; a missing path is not an error', async (t) => {
  class FailingDriver extends InMemoryDriver {
    failing = false
    override async putContent (path: string, content: Uint8Array): Promise<void> {
      if (this.failing) throw new StorageFullError(path)
      await super.putContent(path, content)
    }

    override async stat (path: string): ReturnType<InMemoryDriver['stat']> {
      if (this.failing) throw new Error('disk on fire')
      return await super.stat(path)
    }
  }
  const driver = new FailingDriver()
  const { app, scrape } = await build({ storage: driver })
  t.teardown(async () => await app.close())
  const pushed = randomBlob(10)
  t.equal((await app.inject({ method: 'POST', url: `/v2/r/blobs/uploads/?digest=${pushed.digest}`, payload: pushed.content })).statusCode, 201)
  t.equal((await app.inject({ method: 'GET', url: `/v2/r/blobs/${sha256(Buffer.from('x'))}` })).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url: '/v2/r/manifests/latest' })).statusCode, 404)
  t.equal(sample(await scrape(), 'registry_storage_errors_total', { operation: 'stat', kind: 'other' }), undefined, 'nothing counted for missing paths')

  driver.failing = true
  const start = await app.inject({ method: 'POST', url: '/v2/r/blobs/uploads/' })
  t.equal(start.statusCode, 507)
  t.equal((await app.inject({ method: 'GET', url: `/v2/r/blobs/${pushed.digest}` })).statusCode, 500)
  const text = await scrape()
  t.equal(sample(text, 'registry_storage_errors_total', { operation: 'putContent', kind: 'full' }), 1)
  t.ok((sample(text, 'registry_storage_errors_total', { operation: 'stat', kind: 'other' }) ?? 0) >= 1)
  t.equal(sample(text, 'registry_http_requests_total', { route: 'blob-upload', method: 'POST', status: '507' }), 1)
})

t.test('a host Prometheus registry: the host\'s own metrics beside, prefixes keep two registries apart, close takes them out', async (t) => {
  const shared = new Registry()
  const host = Fastify()
  t.teardown(async () => await host.close())
  await host.register(registry, { prefix: '/one', storage: { inmemory: {} }, uploadState: { secret: 's' }, metrics: { register: shared, prefix: 'one_' } })
  await host.register(registry, { prefix: '/two', storage: { inmemory: {} }, uploadState: { secret: 's' }, metrics: { register: shared, prefix: 'two_' } })
  host.get('/metrics', async (_request, reply) => await reply.type(shared.contentType).send(await shared.metrics()))
  await host.ready()
  await host.inject({ method: 'GET', url: '/one/v2/' })
  await host.inject({ method: 'GET', url: '/two/v2/' })
  await host.inject({ method: 'GET', url: '/two/v2/' })
  const text = (await host.inject({ method: 'GET', url: '/metrics' })).body
  t.equal(sample(text, 'one_http_requests_total', { route: 'base', method: 'GET', status: '200' }), 1)
  t.equal(sample(text, 'two_http_requests_total', { route: 'base', method: 'GET', status: '200' }), 2)

  const clash = Fastify()
  await t.rejects(async () => { await clash.register(registry, { storage: { inmemory: {} }, uploadState: { secret: 's' }, metrics: { register: shared, prefix: 'one_' } }).ready() },
    { name: 'RegistryConfigError', option: 'metrics.prefix' }, 'a prefix in use stops registration')
  await clash.close()
  t.ok(shared.getSingleMetric('one_http_requests_total'), 'the refused registry took nothing away')

  await host.close()
  t.same(shared.getMetricsAsArray().length, 0, 'closing the registries takes their metrics out of the host registry')

  // Two registries with their own Prometheus registries never collide, whatever their prefixes.
  const a = await build()
  const b = await build()
  t.teardown(async () => { await a.app.close(); await b.app.close() })
  await a.app.inject({ method: 'GET', url: '/v2/' })
  t.equal(sample(await a.scrape(), 'registry_http_requests_total', { route: 'base', method: 'GET', status: '200' }), 1)
  t.equal(sample(await b.scrape(), 'registry_http_requests_total', { route: 'base', method: 'GET', status: '200' }), undefined)
})

t.test('registryMetrics needs a registry with metrics, reached through the handle', async (t) => {
  const handle = new RegistryHandle()
  const app = Fastify()
  await app.register(registry, { storage: { inmemory: {} }, uploadState: { secret: 's' }, handle })
  await app.register(registryMetrics, { handle })
  await t.rejects(async () => { await app.ready() }, /metrics/, 'a registry without metrics cannot be scraped: ready fails')
  await app.close()

  const orphan = Fastify()
  await orphan.register(registryMetrics, { handle: new RegistryHandle() })
  await t.rejects(async () => { await orphan.ready() }, /belongs to no registered registry/)
  await orphan.close()

  const bad = Fastify()
  await t.rejects(async () => { await bad.register(registryMetrics, { handle: {} as RegistryHandle }).ready() }, { name: 'RegistryConfigError', option: 'registryMetrics.handle' })
  await bad.close()

  // Registered before the registry: the handle is read once everything is loaded.
  const early = Fastify()
  const handle2 = new RegistryHandle()
  await early.register(registryMetrics, { handle: handle2, url: '/m' })
  await early.register(registry, { storage: { inmemory: {} }, uploadState: { secret: 's' }, handle: handle2, metrics: { collectDefaultMetrics: true } })
  await early.ready()
  t.teardown(async () => await early.close())
  const scraped = await early.inject({ method: 'GET', url: '/m' })
  t.equal(scraped.statusCode, 200)
  t.match(scraped.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.match(scraped.body, /process_cpu_user_seconds_total/, 'default metrics when asked for')
  t.match(scraped.body, /registry_uploads_in_progress 0/)
})
