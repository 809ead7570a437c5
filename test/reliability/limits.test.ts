import t, { type Test } from 'tap'
import { PassThrough } from 'node:stream'
import Fastify from 'fastify'
import { request } from 'undici'
import { registry, type RegistryOptions } from '../../lib/index.js'
import { errorCode } from '../helpers/registry.js'

async function listening (t: Test, limits: RegistryOptions['limits']): Promise<string> {
  const app = Fastify()
  await app.register(registry, { storage: { inmemory: {} }, uploadState: { secret: 'limits' }, limits })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => await app.close())
  const address = app.server.address()
  return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
}

async function startUpload (url: string, name = 'repo'): Promise<string> {
  const response = await request(`${url}/v2/${name}/blobs/uploads/`, { method: 'POST' })
  await response.body.dump()
  return String(response.headers.location)
}

t.test('a cap on concurrent uploads answers TOOMANYREQUESTS with Retry-After', async (t) => {
  const url = await listening(t, { concurrentUploads: 2 })
  const bodies = [new PassThrough(), new PassThrough()]
  const held = await Promise.all(bodies.map(async () => await startUpload(url)))
  const inFlight = held.map(async (location, index) => await request(location, { method: 'PATCH', body: bodies[index], headers: { 'content-type': 'application/octet-stream' } }))
  bodies.forEach((body) => body.write(Buffer.alloc(1024)))
  // Give both requests time to reach their handlers and take their slots.
  await new Promise((resolve) => setTimeout(resolve, 200))

  const third = await request(await startUpload(url), { method: 'PATCH', body: Buffer.from('third'), headers: { 'content-type': 'application/octet-stream' } })
  t.equal(third.statusCode, 429)
  t.equal(third.headers['retry-after'], '1')
  t.equal(errorCode(await third.body.text()), 'TOOMANYREQUESTS')

  bodies.forEach((body) => body.end(Buffer.alloc(1024)))
  const finished = await Promise.all(inFlight)
  t.same(finished.map((response) => response.statusCode), [202, 202], 'the uploads holding the slots finish')
  await Promise.all(finished.map(async (response) => await response.body.dump()))

  const after = await request(await startUpload(url), { method: 'PATCH', body: Buffer.from('later'), headers: { 'content-type': 'application/octet-stream' } })
  t.equal(after.statusCode, 202, 'slots are given back')
  await after.body.dump()
})

t.test('a body that stalls is cut off; the bytes already received stay for a resumed upload', async (t) => {
  const url = await listening(t, { bodyIdleTimeout: 300 })
  const location = await startUpload(url)
  const body = new PassThrough()
  const stalled = request(location, { method: 'PATCH', body, headers: { 'content-type': 'application/octet-stream' } })
    .then(async (response) => { await response.body.dump(); return response.statusCode }, (error: Error) => error)
  body.write(Buffer.from('0123456789'))
  const outcome = await stalled
  t.type(outcome, Error, 'the stalled request was dropped')
  body.destroy()

  const status = await request(location)
  t.equal(status.statusCode, 204)
  t.equal(status.headers.range, '0-9', 'the ten bytes that arrived are kept')
  await status.body.dump()
})

t.test('a manifest body that stalls is cut off and nothing is tagged', async (t) => {
  const url = await listening(t, { bodyIdleTimeout: 300 })
  const body = new PassThrough()
  const stalled = request(`${url}/v2/repo/manifests/slow`, { method: 'PUT', body, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } })
    .then(async (response) => { await response.body.dump(); return response.statusCode }, (error: Error) => error)
  body.write('{"schemaVersion":2,')
  t.type(await stalled, Error)
  body.destroy()
  const tag = await request(`${url}/v2/repo/manifests/slow`)
  t.equal(tag.statusCode, 404)
  await tag.body.dump()
})
