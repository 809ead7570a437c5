import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { request } from 'undici'
import { registry } from '../../lib/index.js'
import { randomBlob, tempDir } from '../helpers/registry.js'
import { onInstance, uploadRequest } from '../helpers/http-upload.js'

/** Three registry instances (separate Fastify apps, own ports) over one filesystem root and one secret. */
async function cluster (t: Test, count: number, secret = 'shared-secret'): Promise<string[]> {
  const root = await tempDir()
  const apps: FastifyInstance[] = []
  for (let i = 0; i < count; i++) {
    const app = Fastify()
    await app.register(registry, { storage: { filesystem: { rootDirectory: root.path } }, uploadState: { secret } })
    await app.listen({ host: '127.0.0.1', port: 0 })
    apps.push(app)
  }
  t.teardown(async () => {
    for (const app of apps) await app.close()
    await root.cleanup()
  })
  return apps.map((app) => {
    const address = app.server.address()
    return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
  })
}

t.test('an upload started on A, continued on B and C in chunks, completed on A', async (t) => {
  const [a, b, c] = await cluster(t, 3)
  const { content, digest } = randomBlob(3 * 256 * 1024)
  const chunk = 256 * 1024
  const start = await uploadRequest(`${a}/v2/team/app/blobs/uploads/`, 'POST')
  t.equal(start.status, 202)
  let location = start.location
  for (const [index, instance] of [b, c, b].entries()) {
    const part = content.subarray(index * chunk, (index + 1) * chunk)
    const patch = await uploadRequest(onInstance(location, instance), 'PATCH', part, { 'content-range': `${index * chunk}-${(index + 1) * chunk - 1}` })
    t.equal(patch.status, 202, `chunk ${index} on ${instance}`)
    t.equal(patch.range, `0-${(index + 1) * chunk - 1}`)
    location = patch.location
  }
  const status = await uploadRequest(onInstance(location, c), 'GET')
  t.equal(status.status, 204)
  t.equal(status.range, `0-${content.length - 1}`)
  const put = await uploadRequest(`${onInstance(location, a)}&digest=${digest}`, 'PUT')
  t.equal(put.status, 201, put.body)
  for (const instance of [a, b, c]) {
    const blob = await request(`${instance}/v2/team/app/blobs/${digest}`)
    t.same(Buffer.from(await blob.body.arrayBuffer()), content, `served by ${instance}`)
  }
})

t.test('interleaved uploads to one repository do not interfere', async (t) => {
  const [a, b] = await cluster(t, 2)
  const blobs = [randomBlob(100_000), randomBlob(150_000), randomBlob(50_000)]
  const locations = await Promise.all(blobs.map(async (_blob, index) => (await uploadRequest(`${[a, b][index % 2]}/v2/shared/blobs/uploads/`, 'POST')).location))
  const halves = blobs.map(({ content }) => [content.subarray(0, content.length >> 1), content.subarray(content.length >> 1)])
  for (const half of [0, 1]) {
    await Promise.all(blobs.map(async (_blob, index) => {
      const instance = [a, b][(index + half) % 2]
      const offset = half === 0 ? 0 : halves[index][0].length
      const part = halves[index][half]
      const patch = await uploadRequest(onInstance(locations[index], instance), 'PATCH', part, { 'content-range': `${offset}-${offset + part.length - 1}` })
      t.equal(patch.status, 202)
      locations[index] = patch.location
    }))
  }
  const puts = await Promise.all(blobs.map(async ({ digest }, index) => await uploadRequest(`${onInstance(locations[index], [b, a][index % 2])}&digest=${digest}`, 'PUT')))
  t.same(puts.map((put) => put.status), [201, 201, 201])
  for (const { content, digest } of blobs) {
    const blob = await request(`${a}/v2/shared/blobs/${digest}`)
    t.same(Buffer.from(await blob.body.arrayBuffer()), content)
  }
})

t.test('tampered, foreign and stale tokens are refused across instances', async (t) => {
  const [a, b] = await cluster(t, 2)
  const start = await uploadRequest(`${a}/v2/repo/blobs/uploads/`, 'POST')
  const first = await uploadRequest(onInstance(start.location, b), 'PATCH', Buffer.from('12345'))
  t.equal(first.status, 202)

  const stale = await uploadRequest(onInstance(start.location, a), 'PATCH', Buffer.from('67890'))
  t.equal(stale.status, 416, 'a token from before B\'s chunk')
  t.equal(stale.range, '0-4')

  const url = new URL(first.location)
  const token = url.searchParams.get('_state')!
  url.searchParams.set('_state', token.slice(0, 10) + (token[10] === 'A' ? 'B' : 'A') + token.slice(11))
  const tampered = await uploadRequest(onInstance(url.toString(), a), 'PATCH', Buffer.from('x'))
  t.equal(tampered.status, 400)
  t.match(tampered.body, /BLOB_UPLOAD_INVALID/)

  const other = await uploadRequest(`${b}/v2/other/blobs/uploads/`, 'POST')
  const foreignToken = new URL(other.location).searchParams.get('_state')!
  const foreign = new URL(first.location)
  foreign.searchParams.set('_state', foreignToken)
  const refused = await uploadRequest(onInstance(foreign.toString(), a), 'PATCH', Buffer.from('x'))
  t.equal(refused.status, 400)
  t.match(refused.body, /BLOB_UPLOAD_INVALID/)
})

t.test('an instance with another secret does not accept the cluster\'s tokens', async (t) => {
  const [a] = await cluster(t, 1, 'secret-one')
  const [b] = await cluster(t, 1, 'secret-two')
  const start = await uploadRequest(`${a}/v2/repo/blobs/uploads/`, 'POST')
  const foreign = await uploadRequest(onInstance(start.location, b), 'GET')
  t.equal(foreign.status, 400)
  t.match(foreign.body, /BLOB_UPLOAD_INVALID/)
})
