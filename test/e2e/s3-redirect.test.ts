// Blob GETs on S3 storage answer 307 to a presigned URL the client fetches from the
// gateway itself (a real Ceph RGW); HEAD and disabled redirects are answered directly.
import t from 'tap'
import { request } from 'undici'
import { buildRegistry, pushBlob, randomBlob, sha256 } from '../helpers/registry.js'
import { createTestBucket, s3Options } from '../helpers/ceph.js'
import { RegistryHandle } from '../../lib/operations/handle.js'
import type { RegistryEvent } from '../../lib/events/event.js'

t.test('a blob GET is a 307 to a signed URL that serves the bytes, ranges included', async (t) => {
  const { bucket, remove } = await createTestBucket('oci-redirect')
  t.teardown(remove)
  const handle = new RegistryHandle()
  const app = await buildRegistry({ storage: { s3: s3Options(bucket) }, handle })
  t.teardown(async () => await app.close())
  const pulls: RegistryEvent[] = []
  handle.app.events.on('pull', (event) => { pulls.push(event) })
  const { content, digest } = randomBlob(300 * 1024)
  t.equal(await pushBlob(app, 'team/app', content), digest)
  const url = `/v2/team/app/blobs/${digest}`

  const get = await app.inject({ method: 'GET', url })
  t.equal(get.statusCode, 307)
  t.equal(get.headers['docker-content-digest'], digest)
  t.equal(get.headers['cache-control'], 'no-store', 'a signed URL expires: the redirect is not cached')
  t.equal(get.body, '')
  // Events are published after the response, once their size is looked up.
  for (let i = 0; i < 100 && pulls.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  t.equal(pulls.length, 1, 'a redirected GET is a pull, as distribution counts it')
  t.match(pulls[0]?.target, { digest, repository: 'team/app', size: content.length })
  const location = String(get.headers.location)
  t.match(location, /X-Amz-Signature=/, 'presigned')

  const whole = await request(location)
  t.equal(whole.statusCode, 200)
  t.equal(sha256(Buffer.from(await whole.body.arrayBuffer())), digest, 'the gateway serves the blob')
  const ranged = await request(location, { headers: { range: 'bytes=1000-1999' } })
  t.equal(ranged.statusCode, 206)
  t.same(Buffer.from(await ranged.body.arrayBuffer()), content.subarray(1000, 2000), 'a Range header travels with the client')

  const head = await app.inject({ method: 'HEAD', url })
  t.equal(head.statusCode, 200, 'HEAD is answered by the registry')
  t.equal(head.headers['content-length'], String(content.length))

  const unknown = await app.inject({ method: 'GET', url: `/v2/team/app/blobs/sha256:${'0'.repeat(64)}` })
  t.equal(unknown.statusCode, 404, 'nothing is signed for a blob the repository does not have')
  const other = await app.inject({ method: 'GET', url: `/v2/team/other/blobs/${digest}` })
  t.equal(other.statusCode, 404, 'nor for a blob of another repository')

  const cached = await app.inject({ method: 'GET', url, headers: { 'if-none-match': `"${digest}"` } })
  t.equal(cached.statusCode, 304, 'a client that has it gets 304, not a redirect')
})

t.test('redirect.disable streams the blob through the registry', async (t) => {
  const { bucket, remove } = await createTestBucket('oci-redirect')
  t.teardown(remove)
  const app = await buildRegistry({ storage: { s3: s3Options(bucket) }, redirect: { disable: true } })
  t.teardown(async () => await app.close())
  const { content, digest } = randomBlob(200 * 1024)
  await pushBlob(app, 'team/app', content)
  const get = await app.inject({ method: 'GET', url: `/v2/team/app/blobs/${digest}` })
  t.equal(get.statusCode, 200)
  t.equal(sha256(get.rawPayload), digest)
})

t.test('drivers that cannot sign are never redirected', async (t) => {
  const app = await buildRegistry({ storage: { inmemory: {} } })
  t.teardown(async () => await app.close())
  const { content, digest } = randomBlob(1024)
  await pushBlob(app, 'team/app', content)
  t.equal((await app.inject({ method: 'GET', url: `/v2/team/app/blobs/${digest}` })).statusCode, 200)
})
