import t from 'tap'
import { HmacUploadStateProvider } from '../../lib/index.js'
import { buildRegistry, errorCode, pathOf, pushBlob, randomBlob, sha256, sha512 } from '../helpers/registry.js'

const octet = { 'content-type': 'application/octet-stream' }

t.test('POST starts an upload: 202 with Location, Range and Docker-Upload-UUID', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  for (const url of ['/v2/repo/blobs/uploads/', '/v2/repo/blobs/uploads']) {
    const response = await app.inject({ method: 'POST', url })
    t.equal(response.statusCode, 202, url)
    t.match(response.headers.location, /^http:\/\/localhost(:80)?\/v2\/repo\/blobs\/uploads\/[0-9a-f-]{36}\?_state=/)
    t.equal(response.headers.range, '0-0')
    t.match(response.headers['docker-upload-uuid'], /^[0-9a-f-]{36}$/)
    t.equal(response.headers['content-length'], '0')
  }
})

t.test('monolithic POST ?digest= with the body: 201', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const { content, digest } = randomBlob(5000)
  const response = await app.inject({ method: 'POST', url: `/v2/repo/blobs/uploads/?digest=${digest}`, payload: content, headers: octet })
  t.equal(response.statusCode, 201)
  t.equal(response.headers['docker-content-digest'], digest)
  t.equal(pathOf(response.headers.location), `/v2/repo/blobs/${digest}`)
  const get = await app.inject({ method: 'GET', url: pathOf(response.headers.location) })
  t.same(get.rawPayload, content)
})

t.test('monolithic POST with a wrong digest: DIGEST_INVALID, nothing visible', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const wrong = sha256(Buffer.from('something else'))
  const response = await app.inject({ method: 'POST', url: `/v2/repo/blobs/uploads/?digest=${wrong}`, payload: Buffer.from('content'), headers: octet })
  t.equal(response.statusCode, 400)
  t.equal(errorCode(response.body), 'DIGEST_INVALID')
  t.equal((await app.inject({ method: 'HEAD', url: `/v2/repo/blobs/${wrong}` })).statusCode, 404)
  t.equal((await app.inject({ method: 'HEAD', url: `/v2/repo/blobs/${sha256(Buffer.from('content'))}` })).statusCode, 404)
})

t.test('POST then PUT with the whole body', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const { content, digest } = randomBlob(3000)
  const start = await app.inject({ method: 'POST', url: '/v2/repo/blobs/uploads/' })
  const put = await app.inject({ method: 'PUT', url: `${pathOf(start.headers.location)}&digest=${digest}`, payload: content, headers: octet })
  t.equal(put.statusCode, 201)
  t.equal(put.headers['docker-content-digest'], digest)
  t.equal(pathOf(put.headers.location), `/v2/repo/blobs/${digest}`)
  t.same((await app.inject({ method: 'GET', url: `/v2/repo/blobs/${digest}` })).rawPayload, content)
  const status = await app.inject({ method: 'GET', url: pathOf(start.headers.location) })
  t.equal(status.statusCode, 404, 'the upload is gone once committed')
  t.equal(errorCode(status.body), 'BLOB_UPLOAD_UNKNOWN')
})

t.test('chunked PATCH with Content-Range, status, then PUT without a body', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const { content, digest } = randomBlob(10_000)
  let location = pathOf((await app.inject({ method: 'POST', url: '/v2/repo/blobs/uploads/' })).headers.location)
  for (let offset = 0; offset < content.length; offset += 3000) {
    const chunk = content.subarray(offset, offset + 3000)
    const patch = await app.inject({ method: 'PATCH', url: location, payload: chunk, headers: { ...octet, 'content-range': `${offset}-${offset + chunk.length - 1}` } })
    t.equal(patch.statusCode, 202)
    t.equal(patch.headers.range, `0-${offset + chunk.length - 1}`)
    location = pathOf(patch.headers.location)
  }
  const status = await app.inject({ method: 'GET', url: location })
  t.equal(status.statusCode, 204)
  t.equal(status.headers.range, '0-9999')
  t.ok(status.headers.location)
  const put = await app.inject({ method: 'PUT', url: `${location}&digest=${digest}` })
  t.equal(put.statusCode, 201)
  t.same((await app.inject({ method: 'GET', url: `/v2/repo/blobs/${digest}` })).rawPayload, content)
})

t.test('chunked PATCH without Content-Range (streamed), last chunk on PUT', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const { content, digest } = randomBlob(4096)
  const start = await app.inject({ method: 'POST', url: '/v2/repo/blobs/uploads/' })
  const patch = await app.inject({ method: 'PATCH', url: pathOf(start.headers.location), payload: content.subarray(0, 4000), headers: octet })
  t.equal(patch.statusCode, 202)
  t.equal(patch.headers.range, '0-3999')
  const put = await app.inject({ method: 'PUT', url: `${pathOf(patch.headers.location)}&digest=${digest}`, payload: content.subarray(4000), headers: { ...octet, 'content-range': '4000-4095' } })
  t.equal(put.statusCode, 201)
  t.same((await app.inject({ method: 'GET', url: `/v2/repo/blobs/${digest}` })).rawPayload, content)
})

t.test('a resumed upload: status after a dropped Location query still continues', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const { content, digest } = randomBlob(2000)
  const start = await app.inject({ method: 'POST', url: '/v2/repo/blobs/uploads/' })
  const bare = new URL(String(start.headers.location)).pathname
  const patch = await app.inject({ method: 'PATCH', url: bare, payload: content.subarray(0, 1000), headers: { ...octet, 'content-range': '0-999' } })
  t.equal(patch.statusCode, 202, 'served without _state, identified from storage')
  const status = await app.inject({ method: 'GET', url: bare })
  t.equal(status.headers.range, '0-999')
  const patch2 = await app.inject({ method: 'PATCH', url: pathOf(status.headers.location), payload: content.subarray(1000), headers: { ...octet, 'content-range': '1000-1999' } })
  t.equal(patch2.statusCode, 202)
  const put = await app.inject({ method: 'PUT', url: `${bare}?digest=${digest}` })
  t.equal(put.statusCode, 201)
})

t.test('sha512 digests', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const content = Buffer.from('sha512 content')
  const digest = sha512(content)
  const mono = await app.inject({ method: 'POST', url: `/v2/repo/blobs/uploads/?digest=${digest}`, payload: content, headers: octet })
  t.equal(mono.statusCode, 201)
  t.equal(mono.headers['docker-content-digest'], digest)
  t.same((await app.inject({ method: 'GET', url: `/v2/repo/blobs/${digest}` })).rawPayload, content)

  const other = Buffer.from('chunked sha512')
  const start = await app.inject({ method: 'POST', url: '/v2/repo/blobs/uploads/' })
  const patch = await app.inject({ method: 'PATCH', url: pathOf(start.headers.location), payload: other, headers: octet })
  const put = await app.inject({ method: 'PUT', url: `${pathOf(patch.headers.location)}&digest=${sha512(other)}` })
  t.equal(put.statusCode, 201)
})

t.test('out-of-order and malformed chunks: 416 RANGE_INVALID with the current Range', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const start = await app.inject({ method: 'POST', url: '/v2/repo/blobs/uploads/' })
  const location = pathOf(start.headers.location)
  const first = await app.inject({ method: 'PATCH', url: location, payload: Buffer.alloc(10), headers: { ...octet, 'content-range': '0-9' } })
  const next = pathOf(first.headers.location)
  const gap = await app.inject({ method: 'PATCH', url: next, payload: Buffer.alloc(10), headers: { ...octet, 'content-range': '20-29' } })
  t.equal(gap.statusCode, 416)
  t.equal(errorCode(gap.body), 'RANGE_INVALID')
  t.equal(gap.headers.range, '0-9')
  const overlap = await app.inject({ method: 'PATCH', url: next, payload: Buffer.alloc(10), headers: { ...octet, 'content-range': '5-14' } })
  t.equal(overlap.statusCode, 416)
  for (const range of ['abc', '10-5', 'bytes=x-y', '-1-5']) {
    const bad = await app.inject({ method: 'PATCH', url: next, payload: Buffer.alloc(1), headers: { ...octet, 'content-range': range } })
    t.equal(bad.statusCode, 416, range)
    t.equal(errorCode(bad.body), 'RANGE_INVALID', range)
  }
  const status = await app.inject({ method: 'GET', url: next })
  t.equal(status.headers.range, '0-9', 'refused chunks left nothing behind')
})

t.test('a Content-Length that disagrees with Content-Range: 400 SIZE_INVALID', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const start = await app.inject({ method: 'POST', url: '/v2/repo/blobs/uploads/' })
  const response = await app.inject({ method: 'PATCH', url: pathOf(start.headers.location), payload: Buffer.alloc(10), headers: { ...octet, 'content-range': '0-19' } })
  t.equal(response.statusCode, 400)
  t.equal(errorCode(response.body), 'SIZE_INVALID')
})

t.test('PUT with a wrong digest discards the upload', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const start = await app.inject({ method: 'POST', url: '/v2/repo/blobs/uploads/' })
  const patch = await app.inject({ method: 'PATCH', url: pathOf(start.headers.location), payload: Buffer.from('abc'), headers: octet })
  const wrong = sha256(Buffer.from('xyz'))
  const put = await app.inject({ method: 'PUT', url: `${pathOf(patch.headers.location)}&digest=${wrong}` })
  t.equal(put.statusCode, 400)
  t.equal(errorCode(put.body), 'DIGEST_INVALID')
  const status = await app.inject({ method: 'GET', url: pathOf(patch.headers.location) })
  t.equal(status.statusCode, 404)
  t.equal(errorCode(status.body), 'BLOB_UPLOAD_UNKNOWN')
  t.equal((await app.inject({ method: 'HEAD', url: `/v2/repo/blobs/${sha256(Buffer.from('abc'))}` })).statusCode, 404)
})

t.test('PUT without or with a bad digest: DIGEST_INVALID, the upload stays', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const start = await app.inject({ method: 'POST', url: '/v2/repo/blobs/uploads/' })
  const location = pathOf(start.headers.location)
  for (const query of ['', '&digest=sha256:nothex', '&digest=md5:abc']) {
    const put = await app.inject({ method: 'PUT', url: location + query })
    t.equal(put.statusCode, 400, query)
    t.equal(errorCode(put.body), 'DIGEST_INVALID', query)
  }
  t.equal((await app.inject({ method: 'GET', url: location })).statusCode, 204)
})

t.test('DELETE cancels an upload: 204, then BLOB_UPLOAD_UNKNOWN', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const start = await app.inject({ method: 'POST', url: '/v2/repo/blobs/uploads/' })
  const location = pathOf(start.headers.location)
  await app.inject({ method: 'PATCH', url: location, payload: Buffer.from('partial'), headers: octet })
  const cancel = await app.inject({ method: 'DELETE', url: location })
  t.equal(cancel.statusCode, 204)
  for (const method of ['GET', 'DELETE', 'PATCH'] as const) {
    const response = await app.inject({ method, url: location, payload: method === 'PATCH' ? Buffer.from('x') : undefined })
    t.equal(response.statusCode, 404, method)
    t.equal(errorCode(response.body), 'BLOB_UPLOAD_UNKNOWN', method)
  }
})

t.test('unknown and malformed upload ids: 404 BLOB_UPLOAD_UNKNOWN', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  for (const id of ['00000000-0000-0000-0000-000000000000', 'not%20an%20id', `${'a'.repeat(200)}`, '.hidden']) {
    const response = await app.inject({ method: 'GET', url: `/v2/repo/blobs/uploads/${id}` })
    t.equal(response.statusCode, 404, id)
    t.equal(errorCode(response.body), 'BLOB_UPLOAD_UNKNOWN', id)
  }
})

t.test('upload state: tampered, foreign and stale tokens', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const a = pathOf((await app.inject({ method: 'POST', url: '/v2/repo/blobs/uploads/' })).headers.location)
  const b = pathOf((await app.inject({ method: 'POST', url: '/v2/other/blobs/uploads/' })).headers.location)
  const stateOf = (path: string): string => new URL(path, 'http://x').searchParams.get('_state') ?? ''
  const pathname = (path: string): string => new URL(path, 'http://x').pathname

  const tampered = stateOf(a).slice(0, -6) + 'AAAA=='
  const bad = await app.inject({ method: 'PATCH', url: `${pathname(a)}?_state=${encodeURIComponent(tampered)}`, payload: Buffer.from('x'), headers: octet })
  t.equal(bad.statusCode, 400)
  t.equal(errorCode(bad.body), 'BLOB_UPLOAD_INVALID')

  const foreign = await app.inject({ method: 'PATCH', url: `${pathname(a)}?_state=${encodeURIComponent(stateOf(b))}`, payload: Buffer.from('x'), headers: octet })
  t.equal(foreign.statusCode, 400, 'another upload\'s token')
  t.equal(errorCode(foreign.body), 'BLOB_UPLOAD_INVALID')

  const otherSecret = new HmacUploadStateProvider('not the secret').pack({ name: 'repo', uuid: pathname(a).split('/').pop()!, offset: 0, startedAt: new Date() })
  const forged = await app.inject({ method: 'GET', url: `${pathname(a)}?_state=${encodeURIComponent(otherSecret)}` })
  t.equal(forged.statusCode, 400)
  t.equal(errorCode(forged.body), 'BLOB_UPLOAD_INVALID')

  const first = await app.inject({ method: 'PATCH', url: a, payload: Buffer.from('12345'), headers: octet })
  t.equal(first.statusCode, 202)
  const stale = await app.inject({ method: 'PATCH', url: a, payload: Buffer.from('67890'), headers: octet })
  t.equal(stale.statusCode, 416, 'a token whose offset disagrees with storage')
  t.equal(stale.headers.range, '0-4')
})

t.test('cross-repository mount', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const digest = await pushBlob(app, 'source', Buffer.from('layer to share'))
  const mount = await app.inject({ method: 'POST', url: `/v2/target/blobs/uploads/?mount=${digest}&from=source` })
  t.equal(mount.statusCode, 201)
  t.equal(mount.headers['docker-content-digest'], digest)
  t.equal(pathOf(mount.headers.location), `/v2/target/blobs/${digest}`)
  t.equal((await app.inject({ method: 'GET', url: `/v2/target/blobs/${digest}` })).body, 'layer to share')

  const missing = sha256(Buffer.from('not there'))
  for (const query of [`?mount=${missing}&from=source`, `?mount=${digest}&from=nowhere`, `?mount=${digest}`, `?mount=${digest}&from=BAD`]) {
    const fallback = await app.inject({ method: 'POST', url: `/v2/third/blobs/uploads/${query}` })
    t.equal(fallback.statusCode, 202, `falls back to an upload session: ${query}`)
    t.match(fallback.headers.location, /\/v2\/third\/blobs\/uploads\//)
  }
  const badDigest = await app.inject({ method: 'POST', url: '/v2/third/blobs/uploads/?mount=sha256:zz&from=source' })
  t.equal(badDigest.statusCode, 400)
  t.equal(errorCode(badDigest.body), 'DIGEST_INVALID')
})

t.test('blobBodySize limit: 413 SIZE_INVALID and nothing committed', async (t) => {
  const app = await buildRegistry({ limits: { blobBodySize: 1000 } })
  t.teardown(async () => await app.close())
  const { content, digest } = randomBlob(2000)
  const response = await app.inject({ method: 'POST', url: `/v2/repo/blobs/uploads/?digest=${digest}`, payload: content, headers: octet })
  t.equal(response.statusCode, 413)
  t.equal(errorCode(response.body), 'SIZE_INVALID')
  t.equal((await app.inject({ method: 'HEAD', url: `/v2/repo/blobs/${digest}` })).statusCode, 404)
})

t.test('any request content type is accepted on blob bodies', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  for (const type of ['application/json', 'text/plain', 'application/vnd.oci.image.layer.v1.tar+gzip', 'multipart/form-data; boundary=x', undefined]) {
    const content = Buffer.from(`body sent as ${String(type)}`)
    const response = await app.inject({ method: 'POST', url: `/v2/repo/blobs/uploads/?digest=${sha256(content)}`, payload: content, headers: type === undefined ? {} : { 'content-type': type } })
    t.equal(response.statusCode, 201, String(type))
  }
})
