import t from 'tap'
import { buildRegistry, errorCode, pushBlob, randomBlob, sha256 } from '../helpers/registry.js'

t.test('GET and HEAD a pushed blob', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const { content, digest } = randomBlob(1000)
  await pushBlob(app, 'library/alpine', content)

  const get = await app.inject({ method: 'GET', url: `/v2/library/alpine/blobs/${digest}` })
  t.equal(get.statusCode, 200)
  t.same(get.rawPayload, content)
  t.equal(get.headers['content-length'], '1000')
  t.equal(get.headers['docker-content-digest'], digest)
  t.equal(get.headers.etag, `"${digest}"`)
  t.equal(get.headers['content-type'], 'application/octet-stream')
  t.equal(get.headers['docker-distribution-api-version'], 'registry/2.0')

  const head = await app.inject({ method: 'HEAD', url: `/v2/library/alpine/blobs/${digest}` })
  t.equal(head.statusCode, 200)
  t.equal(head.headers['content-length'], '1000')
  t.equal(head.headers['docker-content-digest'], digest)
  t.equal(head.rawPayload.length, 0)
})

t.test('a blob is visible only in repositories it is linked into', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const { content, digest } = randomBlob(64)
  await pushBlob(app, 'one', content)
  const other = await app.inject({ method: 'GET', url: `/v2/two/blobs/${digest}` })
  t.equal(other.statusCode, 404)
  t.equal(errorCode(other.body), 'BLOB_UNKNOWN')
  const head = await app.inject({ method: 'HEAD', url: `/v2/two/blobs/${digest}` })
  t.equal(head.statusCode, 404)
})

t.test('unknown blob, bad digest, bad name', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const missing = await app.inject({ method: 'GET', url: `/v2/repo/blobs/${sha256(Buffer.from('nope'))}` })
  t.equal(missing.statusCode, 404)
  t.equal(errorCode(missing.body), 'BLOB_UNKNOWN')
  t.match(missing.headers['content-type'], /application\/json/)

  for (const digest of ['sha256:abc', 'md5:d41d8cd98f00b204e9800998ecf8427e', 'sha256', 'nonsense', `sha256:${'A'.repeat(64)}`]) {
    const response = await app.inject({ method: 'GET', url: `/v2/repo/blobs/${digest}` })
    t.equal(response.statusCode, 400, digest)
    t.equal(errorCode(response.body), 'DIGEST_INVALID', digest)
  }
  // Dot segments and backslashes are normalised away by inject's URL parser; test/e2e sends them raw.
  for (const name of ['Upper', 'a//b', '-a', 'a%2Fb', `${'a'.repeat(256)}`, 'a%00b', 'caf%C3%A9']) {
    const response = await app.inject({ method: 'GET', url: `/v2/${name}/blobs/${sha256(Buffer.from('x'))}` })
    t.equal(response.statusCode, 400, name)
    t.equal(errorCode(response.body), 'NAME_INVALID', name)
  }
})

t.test('single byte ranges', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const { content, digest } = randomBlob(100)
  await pushBlob(app, 'r', content)
  const url = `/v2/r/blobs/${digest}`

  const middle = await app.inject({ method: 'GET', url, headers: { range: 'bytes=10-19' } })
  t.equal(middle.statusCode, 206)
  t.equal(middle.headers['content-range'], 'bytes 10-19/100')
  t.equal(middle.headers['content-length'], '10')
  t.same(middle.rawPayload, content.subarray(10, 20))

  const open = await app.inject({ method: 'GET', url, headers: { range: 'bytes=90-' } })
  t.equal(open.statusCode, 206)
  t.same(open.rawPayload, content.subarray(90))

  const suffix = await app.inject({ method: 'GET', url, headers: { range: 'bytes=-5' } })
  t.equal(suffix.statusCode, 206)
  t.equal(suffix.headers['content-range'], 'bytes 95-99/100')
  t.same(suffix.rawPayload, content.subarray(95))

  const clamped = await app.inject({ method: 'GET', url, headers: { range: 'bytes=95-500' } })
  t.equal(clamped.statusCode, 206)
  t.equal(clamped.headers['content-range'], 'bytes 95-99/100')

  const unsatisfiable = await app.inject({ method: 'GET', url, headers: { range: 'bytes=100-' } })
  t.equal(unsatisfiable.statusCode, 416)
  t.equal(unsatisfiable.headers['content-range'], 'bytes */100')
  t.equal(errorCode(unsatisfiable.body), 'RANGE_INVALID')
  t.equal(unsatisfiable.headers['docker-content-digest'], undefined, 'no success headers leak into an error')

  const multi = await app.inject({ method: 'GET', url, headers: { range: 'bytes=0-1,5-6' } })
  t.equal(multi.statusCode, 200, 'several ranges are answered with the whole blob')
  t.equal(multi.rawPayload.length, 100)

  const headRange = await app.inject({ method: 'HEAD', url, headers: { range: 'bytes=0-9' } })
  t.equal(headRange.statusCode, 206)
  t.equal(headRange.headers['content-length'], '10')
})

t.test('If-None-Match answers 304', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const { content, digest } = randomBlob(10)
  await pushBlob(app, 'r', content)
  const response = await app.inject({ method: 'GET', url: `/v2/r/blobs/${digest}`, headers: { 'if-none-match': `"${digest}"` } })
  t.equal(response.statusCode, 304)
  t.equal(response.rawPayload.length, 0)
  const other = await app.inject({ method: 'GET', url: `/v2/r/blobs/${digest}`, headers: { 'if-none-match': '"sha256:other"' } })
  t.equal(other.statusCode, 200)
})

t.test('an empty blob', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const digest = await pushBlob(app, 'e', Buffer.alloc(0))
  t.equal(digest, 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
  const response = await app.inject({ method: 'GET', url: `/v2/e/blobs/${digest}` })
  t.equal(response.statusCode, 200)
  t.equal(response.headers['content-length'], '0')
})

t.test('DELETE is 405 UNSUPPORTED unless deletion is enabled', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const digest = await pushBlob(app, 'd', Buffer.from('data'))
  const response = await app.inject({ method: 'DELETE', url: `/v2/d/blobs/${digest}` })
  t.equal(response.statusCode, 405)
  t.equal(errorCode(response.body), 'UNSUPPORTED')
  t.equal((await app.inject({ method: 'GET', url: `/v2/d/blobs/${digest}` })).statusCode, 200)
})

t.test('DELETE unlinks the blob from the repository only', async (t) => {
  const app = await buildRegistry({ delete: { enabled: true } })
  t.teardown(async () => await app.close())
  const content = Buffer.from('shared layer')
  const digest = await pushBlob(app, 'a', content)
  await pushBlob(app, 'b', content)
  const response = await app.inject({ method: 'DELETE', url: `/v2/a/blobs/${digest}` })
  t.equal(response.statusCode, 202)
  t.equal((await app.inject({ method: 'GET', url: `/v2/a/blobs/${digest}` })).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url: `/v2/b/blobs/${digest}` })).statusCode, 200)
  const again = await app.inject({ method: 'DELETE', url: `/v2/a/blobs/${digest}` })
  t.equal(again.statusCode, 404)
  t.equal(errorCode(again.body), 'BLOB_UNKNOWN')
})

t.test('methods a route does not have are 405 with Allow', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const response = await app.inject({ method: 'PUT', url: `/v2/r/blobs/${sha256(Buffer.from('x'))}` })
  t.equal(response.statusCode, 405)
  t.equal(errorCode(response.body), 'UNSUPPORTED')
  t.equal(response.headers.allow, 'GET, HEAD, DELETE')
})
