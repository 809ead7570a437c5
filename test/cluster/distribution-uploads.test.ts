import t from 'tap'
import { request } from 'undici'
import { startStandaloneProcess } from '../helpers/standalone-process.js'
import { requireExecutable, startDistribution, DOCKER_REGISTRY_BIN } from '../helpers/docker-registry.js'
import { randomBlob, tempDir } from '../helpers/registry.js'
import { onInstance, uploadRequest } from '../helpers/http-upload.js'

// A mixed fleet during a migration: CNCF distribution 2.8 and this registry share storage and secret.
t.test('uploads move between docker-registry and this registry in both directions', async (t) => {
  requireExecutable(DOCKER_REGISTRY_BIN, 'apt-get install docker-registry')
  const root = await tempDir()
  const config = await tempDir()
  const secret = 'mixed-fleet-secret'
  const distribution = await startDistribution(root.path, config.path, secret)
  const ours = await startStandaloneProcess({ REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root.path, REGISTRY_HTTP_SECRET: secret })
  t.teardown(async () => {
    await ours.stop()
    await distribution.stop()
    await root.cleanup()
    await config.cleanup()
  })

  const cases = [
    { label: 'started on docker-registry, finished here', first: distribution.url, second: ours.url },
    { label: 'started here, finished on docker-registry', first: ours.url, second: distribution.url }
  ]
  for (const { label, first, second } of cases) {
    await t.test(label, async (t) => {
      const { content, digest } = randomBlob(3 * 1024 * 1024)
      const third = content.length / 3
      const start = await uploadRequest(`${first}/v2/fleet/blobs/uploads/`, 'POST')
      t.equal(start.status, 202)
      const location = start.location.startsWith('http') ? start.location : first + start.location
      const one = await uploadRequest(location, 'PATCH', content.subarray(0, third), { 'content-range': `0-${third - 1}` })
      t.equal(one.status, 202)
      const oneLocation = one.location.startsWith('http') ? one.location : first + one.location
      const two = await uploadRequest(onInstance(oneLocation, second), 'PATCH', content.subarray(third, 2 * third), { 'content-range': `${third}-${2 * third - 1}` })
      t.equal(two.status, 202, `the other registry accepts the token and continues: ${two.body}`)
      t.equal(two.range, `0-${2 * third - 1}`)
      const twoLocation = two.location.startsWith('http') ? two.location : second + two.location
      const put = await uploadRequest(`${onInstance(twoLocation, second)}&digest=${digest}`, 'PUT', content.subarray(2 * third), { 'content-range': `${2 * third}-${content.length - 1}` })
      t.equal(put.status, 201, put.body)
      for (const server of [ours.url, distribution.url]) {
        const blob = await request(`${server}/v2/fleet/blobs/${digest}`)
        t.equal(blob.statusCode, 200, `served by ${server === ours.url ? 'this registry' : 'docker-registry'}`)
        t.same(Buffer.from(await blob.body.arrayBuffer()), content)
      }
    })
  }
})
