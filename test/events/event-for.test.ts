import { test } from 'tap'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import { registry, type RegistryOptions } from '../../lib/index.js'
import { RegistryHandle } from '../../lib/operations/handle.js'
import { eventAction, eventFor } from '../../lib/events/event-for.js'
import { RegistryEvents } from '../../lib/events/registry-events.js'
import type { RegistryEvent } from '../../lib/events/event.js'
import type { Access, Grant } from '../../lib/auth/access.js'
import { pathOf, randomBlob, sha256 } from '../helpers/registry.js'
import { OCI_MANIFEST, imageManifest, pushImage, putManifest } from '../helpers/images.js'

interface Harness {
  app: FastifyInstance
  events: RegistryEvent[]
  /** Resolves, once the hooks in progress are done, with the events recorded since the last call. */
  settle: () => Promise<RegistryEvent[]>
}

/**
 * A host app with the registry inside, and an onResponse hook on the host
 * (the registry is encapsulated; the host's hooks still run for its routes)
 * turning responses into events, as the plugin's own hook will.
 */
async function harness (options: RegistryOptions & { includeReferences?: boolean, lookups?: boolean } = {}): Promise<Harness> {
  const { includeReferences, lookups = true, ...registryOptions } = options
  const handle = new RegistryHandle()
  const emitter = new RegistryEvents({ instanceID: 'instance-1', includeReferences })
  const events: RegistryEvent[] = []
  emitter.on('event', (event) => { events.push(event) })
  const app = Fastify({ logger: false, requestIdHeader: 'x-request-id' })
  let pending = 0
  app.addHook('onResponse', async (request, reply) => {
    pending++
    try {
      const event = await eventFor(request, reply, { instanceID: emitter.instanceID, includeReferences: emitter.includeReferences, lookups: lookups ? handle.app : undefined })
      if (event !== undefined) emitter.publish(event)
    } finally {
      pending--
    }
  })
  app.get('/host-route', async () => ({ ok: true }))
  await app.register(registry, { storage: { inmemory: {} }, uploadState: { secret: 'test-secret' }, delete: { enabled: true }, handle, ...registryOptions })
  await app.ready()
  let seen = 0
  const settle = async (): Promise<RegistryEvent[]> => {
    // onResponse runs once the response has finished: wait until no hook has been in progress for a few polls.
    let quiet = 0
    for (let poll = 0; poll < 400 && quiet < 4; poll++) {
      await new Promise((resolve) => setTimeout(resolve, 2))
      quiet = pending === 0 ? quiet + 1 : 0
    }
    const fresh = events.slice(seen)
    seen = events.length
    return fresh
  }
  return { app, events, settle }
}

test('the host app sees request.registry in its onResponse hook, and only registry responses are events', async (t) => {
  const { app, settle, events } = await harness()
  t.teardown(async () => await app.close())
  t.equal((await app.inject('/host-route')).statusCode, 200)
  t.equal((await app.inject('/v2/')).statusCode, 200)
  t.equal((await app.inject('/v2/_catalog')).statusCode, 200)
  t.equal((await app.inject('/v2/Bad/manifests/x')).statusCode, 400)
  t.same(await settle(), [])
  const blob = randomBlob(4)
  t.equal((await app.inject({ method: 'POST', url: `/v2/seen/blobs/uploads/?digest=${blob.digest}`, payload: blob.content, headers: { 'content-type': 'application/octet-stream' } })).statusCode, 201)
  t.equal((await settle()).length, 1, 'the host hook saw the registry\'s Context')
  t.equal(events.length, 1)
})

test('a manifest push by tag is a push of the manifest, described from what was stored', async (t) => {
  const { app, settle } = await harness()
  t.teardown(async () => await app.close())
  const manifest = await imageManifest(app, 'team/app')
  const blobEvents = await settle()
  t.equal(blobEvents.length, 2, 'the two monolithic blob uploads are pushes')
  const response = await app.inject({ method: 'PUT', url: '/v2/team/app/manifests/v1', payload: manifest.body, headers: { 'content-type': `${OCI_MANIFEST}; charset=utf-8`, 'x-request-id': 'push-1', 'user-agent': 'docker/27' } })
  t.equal(response.statusCode, 201)
  const [event, ...rest] = await settle()
  t.same(rest, [])
  t.equal(event.action, 'push')
  t.match(event.id, /^[0-9a-f-]{36}$/)
  t.ok(Number.isFinite(Date.parse(event.timestamp)))
  t.same(event.target, {
    mediaType: OCI_MANIFEST,
    size: manifest.body.length,
    digest: manifest.digest,
    length: manifest.body.length,
    repository: 'team/app',
    url: `http://localhost:80/v2/team/app/manifests/${manifest.digest}`,
    tag: 'v1'
  })
  t.same(event.request, { id: 'push-1', addr: '127.0.0.1', host: 'localhost:80', method: 'PUT', useragent: 'docker/27' })
  t.same(event.actor, {})
  t.equal(event.source.instanceID, 'instance-1')
  t.type(event.source.addr, 'string')
  t.notOk(Object.values(JSON.parse(JSON.stringify(event)) as object).includes(undefined))
})

test('blob pushes: monolithic POST and the PUT that completes a chunked upload, with the blob size looked up', async (t) => {
  const { app, settle } = await harness()
  t.teardown(async () => await app.close())
  const blob = randomBlob(3000)
  const started = await app.inject({ method: 'POST', url: '/v2/chunked/blobs/uploads/' })
  t.equal(started.statusCode, 202)
  const patched = await app.inject({ method: 'PATCH', url: pathOf(started.headers.location), payload: blob.content.subarray(0, 1000), headers: { 'content-type': 'application/octet-stream', 'content-range': '0-999' } })
  t.equal(patched.statusCode, 202)
  t.same(await settle(), [], 'starting and appending to an upload are no events')
  const finished = await app.inject({ method: 'PUT', url: `${pathOf(patched.headers.location)}&digest=${blob.digest}`, payload: blob.content.subarray(1000), headers: { 'content-type': 'application/octet-stream' } })
  t.equal(finished.statusCode, 201)
  const [event] = await settle()
  t.equal(event.action, 'push')
  t.same(event.target, { mediaType: 'application/octet-stream', size: 3000, digest: blob.digest, length: 3000, repository: 'chunked', url: `http://localhost:80/v2/chunked/blobs/${blob.digest}` })
  t.equal(event.request.method, 'PUT')

  const small = randomBlob(10)
  t.equal((await app.inject({ method: 'POST', url: `/v2/mono/blobs/uploads/?digest=${small.digest}`, payload: small.content, headers: { 'content-type': 'application/octet-stream' } })).statusCode, 201)
  const [mono] = await settle()
  t.match(mono, { action: 'push', target: { repository: 'mono', digest: small.digest, size: 10 }, request: { method: 'POST' } })

  // A failed completion (wrong digest) is no event.
  const other = await app.inject({ method: 'POST', url: '/v2/chunked/blobs/uploads/' })
  t.equal((await app.inject({ method: 'PUT', url: `${pathOf(other.headers.location)}&digest=${sha256(Buffer.from('nope'))}`, payload: Buffer.from('yes'), headers: { 'content-type': 'application/octet-stream' } })).statusCode, 400)
  t.same(await settle(), [])
})

test('manifest pulls: GET by tag and by digest; HEAD, 304 and 404 are not pulls', async (t) => {
  const { app, settle } = await harness()
  t.teardown(async () => await app.close())
  const manifest = await pushImage(app, 'library/web', 'latest')
  await settle()
  t.equal((await app.inject({ method: 'HEAD', url: '/v2/library/web/manifests/latest' })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/v2/library/web/manifests/latest', headers: { 'if-none-match': `"${manifest.digest}"` } })).statusCode, 304)
  t.equal((await app.inject({ method: 'GET', url: '/v2/library/web/manifests/missing' })).statusCode, 404)
  t.same(await settle(), [])

  t.equal((await app.inject({ method: 'GET', url: '/v2/library/web/manifests/latest' })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: `/v2/library/web/manifests/${manifest.digest}` })).statusCode, 200)
  const [byTag, byDigest] = await settle()
  t.same(byTag.target, { mediaType: OCI_MANIFEST, size: manifest.body.length, digest: manifest.digest, length: manifest.body.length, repository: 'library/web', url: `http://localhost:80/v2/library/web/manifests/${manifest.digest}`, tag: 'latest' })
  t.equal(byTag.action, 'pull')
  t.equal(byDigest.action, 'pull')
  t.equal(byDigest.target.tag, undefined)
  t.equal(byDigest.target.digest, manifest.digest)
})

test('blob pulls: GET whole and ranged (the size is the whole blob); HEAD is not a pull', async (t) => {
  const { app, settle } = await harness()
  t.teardown(async () => await app.close())
  const blob = randomBlob(500)
  await app.inject({ method: 'POST', url: `/v2/data/blobs/uploads/?digest=${blob.digest}`, payload: blob.content, headers: { 'content-type': 'application/octet-stream' } })
  await settle()
  t.equal((await app.inject({ method: 'HEAD', url: `/v2/data/blobs/${blob.digest}` })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: `/v2/data/blobs/${sha256(Buffer.from('absent'))}` })).statusCode, 404)
  t.same(await settle(), [])
  t.equal((await app.inject({ method: 'GET', url: `/v2/data/blobs/${blob.digest}` })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: `/v2/data/blobs/${blob.digest}`, headers: { range: 'bytes=10-19' } })).statusCode, 206)
  const [whole, ranged] = await settle()
  t.same(whole.target, { mediaType: 'application/octet-stream', size: 500, digest: blob.digest, length: 500, repository: 'data', url: `http://localhost:80/v2/data/blobs/${blob.digest}` })
  t.equal(whole.action, 'pull')
  t.equal(ranged.action, 'pull')
  t.equal(ranged.target.size, 500)
})

test('blob pulls from filesystem storage (sent by sendFile, hijacked) are pulls too', async (t) => {
  const { tempDir } = await import('../helpers/registry.js')
  const dir = await tempDir()
  t.teardown(dir.cleanup)
  const { app, settle } = await harness({ storage: { filesystem: { rootDirectory: dir.path } } })
  t.teardown(async () => await app.close())
  const blob = randomBlob(5000)
  await app.inject({ method: 'POST', url: `/v2/fs/blobs/uploads/?digest=${blob.digest}`, payload: blob.content, headers: { 'content-type': 'application/octet-stream' } })
  await settle()
  const response = await app.inject({ method: 'GET', url: `/v2/fs/blobs/${blob.digest}` })
  t.equal(response.statusCode, 200)
  t.equal(response.rawPayload.length, 5000)
  const [event] = await settle()
  t.match(event, { action: 'pull', target: { digest: blob.digest, size: 5000, repository: 'fs' } })
})

test('a cross-repository mount is a mount, naming where it came from', async (t) => {
  const { app, settle } = await harness()
  t.teardown(async () => await app.close())
  const blob = randomBlob(64)
  await app.inject({ method: 'POST', url: `/v2/source/blobs/uploads/?digest=${blob.digest}`, payload: blob.content, headers: { 'content-type': 'application/octet-stream' } })
  await settle()
  const mounted = await app.inject({ method: 'POST', url: `/v2/target/blobs/uploads/?mount=${blob.digest}&from=source` })
  t.equal(mounted.statusCode, 201)
  const [event] = await settle()
  t.equal(event.action, 'mount')
  t.same(event.target, { mediaType: 'application/octet-stream', size: 64, digest: blob.digest, length: 64, repository: 'target', fromRepository: 'source', url: `http://localhost:80/v2/target/blobs/${blob.digest}` })

  // A mount that cannot happen starts an upload (202): no event.
  t.equal((await app.inject({ method: 'POST', url: `/v2/target/blobs/uploads/?mount=${sha256(Buffer.from('x'))}&from=source` })).statusCode, 202)
  // A mount that falls back to a monolithic upload with a body is a push.
  const other = randomBlob(8)
  t.equal((await app.inject({ method: 'POST', url: `/v2/target/blobs/uploads/?mount=${other.digest}&from=source&digest=${other.digest}`, payload: other.content, headers: { 'content-type': 'application/octet-stream' } })).statusCode, 201)
  const events = await settle()
  t.equal(events.length, 1)
  t.match(events[0], { action: 'push', target: { digest: other.digest, size: 8 } })
})

test('deletes: manifest by digest, tag, blob', async (t) => {
  const { app, settle } = await harness()
  t.teardown(async () => await app.close())
  const manifest = await pushImage(app, 'gone', 'v1')
  const config = (JSON.parse(manifest.body.toString()) as { config: { digest: string } }).config.digest
  await settle()
  t.equal((await app.inject({ method: 'DELETE', url: '/v2/gone/manifests/v1' })).statusCode, 202)
  t.equal((await app.inject({ method: 'DELETE', url: `/v2/gone/manifests/${manifest.digest}` })).statusCode, 202)
  t.equal((await app.inject({ method: 'DELETE', url: `/v2/gone/blobs/${config}` })).statusCode, 202)
  t.equal((await app.inject({ method: 'DELETE', url: `/v2/gone/blobs/${config}` })).statusCode, 404)
  const events = await settle()
  t.same(events.map((event) => [event.action, event.target]), [
    ['delete', { repository: 'gone', tag: 'v1' }],
    ['delete', { repository: 'gone', digest: manifest.digest }],
    ['delete', { repository: 'gone', digest: config }]
  ])
})

test('the actor is the user the access controller let in', async (t) => {
  const accessController = { authorized: async (_request: FastifyRequest, access: Access[]): Promise<Grant> => ({ user: { name: 'alice' }, access }) }
  const { app, settle } = await harness({ accessController })
  t.teardown(async () => await app.close())
  await pushImage(app, 'owned', 'v1')
  const events = await settle()
  t.equal(events.length, 3)
  t.ok(events.every((event) => event.actor.name === 'alice'))
})

test('includeReferences adds the manifest\'s references to manifest events', async (t) => {
  const { app, settle } = await harness({ includeReferences: true })
  t.teardown(async () => await app.close())
  const manifest = await pushImage(app, 'refs', 'v1')
  const body = JSON.parse(manifest.body.toString()) as { config: { digest: string, size: number, mediaType: string }, layers: Array<{ digest: string, size: number, mediaType: string }> }
  const events = await settle()
  const push = events.find((event) => event.target.mediaType === OCI_MANIFEST)!
  t.same(push.target.references, [body.config, ...body.layers].map(({ mediaType, digest, size }) => ({ mediaType, digest, size })))
  t.equal(events.filter((event) => event.target.references !== undefined).length, 1, 'blob events have none')
  await app.inject({ method: 'GET', url: '/v2/refs/manifests/v1' })
  const [pull] = await settle()
  t.equal(pull.target.references?.length, 2)
})

test('without lookups: a manifest push is described from the request; a chunked blob push has no size', async (t) => {
  const { app, settle } = await harness({ lookups: false })
  t.teardown(async () => await app.close())
  const manifest = await imageManifest(app, 'plain')
  const blobs = await settle()
  t.equal(blobs.length, 2)
  t.ok(blobs.every((event) => typeof event.target.size === 'number' && event.target.size > 0), 'a monolithic upload\'s size is its Content-Length')
  const blob = randomBlob(100)
  const started = await app.inject({ method: 'POST', url: '/v2/plain/blobs/uploads/' })
  t.equal((await app.inject({ method: 'PUT', url: `${pathOf(started.headers.location)}&digest=${blob.digest}`, payload: blob.content, headers: { 'content-type': 'application/octet-stream' } })).statusCode, 201)
  const [chunked] = await settle()
  t.equal(chunked.target.size, undefined)
  t.notOk('length' in chunked.target)
  t.notOk('size' in chunked.target)
  t.equal((await putManifest(app, 'plain', 'v1', manifest)).statusCode, 201)
  const [push] = await settle()
  t.match(push.target, { mediaType: OCI_MANIFEST, size: manifest.body.length, digest: manifest.digest, tag: 'v1' })
})

test('a failed manifest push and other answers are no events; eventAction says so without building one', async (t) => {
  const { app, settle } = await harness()
  t.teardown(async () => await app.close())
  t.equal((await app.inject({ method: 'PUT', url: '/v2/bad/manifests/v1', payload: '{}', headers: { 'content-type': OCI_MANIFEST } })).statusCode, 400)
  t.equal((await app.inject('/v2/bad/tags/list')).statusCode, 404)
  t.same(await settle(), [])
  const fake = (registryContext: unknown, method: string, status: number): [FastifyRequest, never] =>
    [{ registry: registryContext, method } as unknown as FastifyRequest, { statusCode: status, raw: {} } as never]
  t.equal(eventAction(...fake(null, 'GET', 200)), undefined)
  t.equal(eventAction(...fake({ name: undefined, route: { name: 'catalog' } }, 'GET', 200)), undefined)
  t.equal(eventAction(...fake({ name: 'a', route: { name: 'manifest' } }, 'HEAD', 200)), undefined)
  t.equal(eventAction(...fake({ name: 'a', route: { name: 'manifest' } }, 'GET', 200)), 'pull')
  t.equal(eventAction(...fake({ name: 'a', route: { name: 'blob' } }, 'GET', 206)), 'pull')
  t.equal(eventAction(...fake({ name: 'a', route: { name: 'blob' } }, 'GET', 200)), 'pull')
  t.equal(eventAction(...fake({ name: 'a', route: { name: 'blob-upload-chunk' } }, 'PATCH', 202)), undefined)
  t.equal(eventAction(...fake({ name: 'a', route: { name: 'referrers' } }, 'GET', 200)), undefined)
})
