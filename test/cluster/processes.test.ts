import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { request } from 'undici'
import { bodyKillingMidway, startStandaloneProcess, type RunningRegistry } from '../helpers/standalone-process.js'
import { randomBlob, tempDir } from '../helpers/registry.js'
import { onInstance, uploadRequest } from '../helpers/http-upload.js'

t.test('three registry processes over one root and secret continue each other\'s uploads', async (t) => {
  const root = await tempDir()
  const env = { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root.path, REGISTRY_HTTP_SECRET: 'process-cluster' }
  const nodes: RunningRegistry[] = await Promise.all([1, 2, 3].map(async () => await startStandaloneProcess(env)))
  t.teardown(async () => {
    for (const node of nodes) await node.stop()
    await root.cleanup()
  })
  const [a, b, c] = nodes.map((node) => node.url)
  const { content, digest } = randomBlob(4 * 1024 * 1024)
  const chunk = 1024 * 1024
  let location = (await uploadRequest(`${a}/v2/proc/blobs/uploads/`, 'POST')).location
  for (let index = 0; index < 4; index++) {
    const instance = [b, c, a, b][index]
    const patch = await uploadRequest(onInstance(location, instance), 'PATCH', content.subarray(index * chunk, (index + 1) * chunk), { 'content-range': `${index * chunk}-${(index + 1) * chunk - 1}` })
    t.equal(patch.status, 202, `chunk ${index}`)
    location = patch.location
  }
  const put = await uploadRequest(`${onInstance(location, c)}&digest=${digest}`, 'PUT')
  t.equal(put.status, 201, put.body)
  const pulled = await request(`${b}/v2/proc/blobs/${digest}`)
  t.same(Buffer.from(await pulled.body.arrayBuffer()), content)
})

t.test('a process killed with SIGKILL mid-chunk: a restarted one reports the committed range and completes the upload', async (t) => {
  const root = await tempDir()
  const env = { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root.path, REGISTRY_HTTP_SECRET: 'crash' }
  const first = await startStandaloneProcess(env)
  t.teardown(async () => { await first.stop('SIGKILL'); await root.cleanup() })
  const content = randomBytes(24 * 1024 * 1024)
  const digest = `sha256:${createHash('sha256').update(content).digest('hex')}`
  const start = await uploadRequest(`${first.url}/v2/crash/blobs/uploads/`, 'POST')

  // Stream the chunk slowly and kill the server once a good part of it is on its way.
  const { body } = bodyKillingMidway(content, 0, 12 * 1024 * 1024, first.child)
  const interrupted = await request(start.location, { method: 'PATCH', body, headers: { 'content-type': 'application/octet-stream' } })
    .then(async (response) => { await response.body.dump(); return response.statusCode }, (error: Error) => error)
  t.type(interrupted, Error, 'the client saw the connection die')
  await first.stop('SIGKILL')

  const second = await startStandaloneProcess(env)
  t.teardown(async () => await second.stop())
  const status = await uploadRequest(onInstance(start.location, second.url), 'GET')
  t.equal(status.status, 204, 'the restarted process knows the upload')
  const committed = Number(/^0-(\d+)$/.exec(status.range ?? '')?.[1] ?? -1) + 1
  t.ok(committed > 0 && committed < content.length, `it holds ${committed} of ${content.length} bytes, a prefix of what was sent`)

  const rest = await uploadRequest(status.location, 'PATCH', content.subarray(committed), { 'content-range': `${committed}-${content.length - 1}` })
  t.equal(rest.status, 202, rest.body)
  const put = await uploadRequest(`${rest.location}&digest=${digest}`, 'PUT')
  t.equal(put.status, 201, `digest verified after the crash: ${put.body}`)
  const pulled = await request(`${second.url}/v2/crash/blobs/${digest}`)
  t.equal(`sha256:${createHash('sha256').update(Buffer.from(await pulled.body.arrayBuffer())).digest('hex')}`, digest)
})
