import t from 'tap'
import { buildRegistry, errorCode, pathOf, sha256 } from '../helpers/registry.js'
import { DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, imageManifest, pushImage, putManifest } from '../helpers/images.js'

t.test('PUT by tag, GET and HEAD by tag and digest: the exact bytes', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const manifest = await imageManifest(app, 'lib/app')
  const put = await putManifest(app, 'lib/app', 'v1', manifest)
  t.equal(put.statusCode, 201, put.body)
  t.equal(put.headers['docker-content-digest'], manifest.digest)
  t.equal(pathOf(put.headers.location), `/v2/lib/app/manifests/${manifest.digest}`)
  t.equal(put.headers['oci-subject'], undefined)

  for (const reference of ['v1', manifest.digest]) {
    const get = await app.inject({ method: 'GET', url: `/v2/lib/app/manifests/${reference}` })
    t.equal(get.statusCode, 200)
    t.same(get.rawPayload, manifest.body, 'stored bytes served unchanged')
    t.equal(get.headers['content-type'], OCI_MANIFEST)
    t.equal(get.headers['docker-content-digest'], manifest.digest)
    t.equal(get.headers['content-length'], String(manifest.body.length))
    t.equal(get.headers.etag, `"${manifest.digest}"`)
    const head = await app.inject({ method: 'HEAD', url: `/v2/lib/app/manifests/${reference}` })
    t.equal(head.statusCode, 200)
    t.equal(head.headers['content-length'], String(manifest.body.length))
    t.equal(head.headers['docker-content-digest'], manifest.digest)
    t.equal(head.rawPayload.length, 0)
  }
  const cached = await app.inject({ method: 'GET', url: '/v2/lib/app/manifests/v1', headers: { 'if-none-match': `"${manifest.digest}"` } })
  t.equal(cached.statusCode, 304)
})

t.test('whitespace and key order are preserved: the digest is of the bytes sent', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const base = await imageManifest(app, 'r')
  const pretty = Buffer.from(JSON.stringify(JSON.parse(base.body.toString()), null, 3) + '\n')
  const put = await app.inject({ method: 'PUT', url: '/v2/r/manifests/pretty', payload: pretty, headers: { 'content-type': OCI_MANIFEST } })
  t.equal(put.headers['docker-content-digest'], sha256(pretty))
  t.same((await app.inject({ method: 'GET', url: '/v2/r/manifests/pretty' })).rawPayload, pretty)
})

t.test('PUT by digest: checked against the bytes; extra tags with ?tag=', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const manifest = await imageManifest(app, 'r')
  const wrong = await putManifest(app, 'r', sha256(Buffer.from('other')), manifest)
  t.equal(wrong.statusCode, 400)
  t.equal(errorCode(wrong.body), 'DIGEST_INVALID')

  const put = await app.inject({ method: 'PUT', url: `/v2/r/manifests/${manifest.digest}?tag=a&tag=b`, payload: manifest.body, headers: { 'content-type': OCI_MANIFEST } })
  t.equal(put.statusCode, 201, put.body)
  t.same([put.headers['oci-tag']].flat(), ['a', 'b'], 'one OCI-Tag header per tag')
  for (const tag of ['a', 'b']) t.equal((await app.inject({ method: 'GET', url: `/v2/r/manifests/${tag}` })).headers['docker-content-digest'], manifest.digest)

  const badTag = await app.inject({ method: 'PUT', url: `/v2/r/manifests/${manifest.digest}?tag=-bad`, payload: manifest.body, headers: { 'content-type': OCI_MANIFEST } })
  t.equal(badTag.statusCode, 400)
  t.equal(errorCode(badTag.body), 'TAG_INVALID')
})

t.test('Docker schema2, manifest list and OCI index', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const docker = await pushImage(app, 'r', 'docker', { mediaType: DOCKER_MANIFEST, label: 'd' })
  t.equal((await app.inject({ method: 'GET', url: '/v2/r/manifests/docker' })).headers['content-type'], DOCKER_MANIFEST)
  const oci = await pushImage(app, 'r', 'oci', { label: 'o' })

  for (const [type, children] of [[DOCKER_LIST, [docker]], [OCI_INDEX, [oci, docker]]] as const) {
    const index = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: type,
      manifests: children.map((child, i) => ({ mediaType: child.mediaType, digest: child.digest, size: child.body.length, platform: { architecture: ['amd64', 'arm64'][i], os: 'linux' } }))
    }))
    const put = await app.inject({ method: 'PUT', url: `/v2/r/manifests/${type === DOCKER_LIST ? 'list' : 'index'}`, payload: index, headers: { 'content-type': type } })
    t.equal(put.statusCode, 201, put.body)
    const get = await app.inject({ method: 'GET', url: `/v2/r/manifests/${sha256(index)}` })
    t.equal(get.headers['content-type'], type)
  }

  const missingChild = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha256(Buffer.from('nope')), size: 4 }] }))
  const refused = await app.inject({ method: 'PUT', url: '/v2/r/manifests/broken', payload: missingChild, headers: { 'content-type': OCI_INDEX } })
  t.equal(refused.statusCode, 400)
  t.equal(errorCode(refused.body), 'MANIFEST_BLOB_UNKNOWN')
})

t.test('references must resolve in the repository', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const manifest = await imageManifest(app, 'has-blobs')
  const elsewhere = await putManifest(app, 'no-blobs', 'v1', manifest)
  t.equal(elsewhere.statusCode, 400, 'blobs linked in another repository do not count')
  t.equal(errorCode(elsewhere.body), 'MANIFEST_BLOB_UNKNOWN')
  t.equal((await app.inject({ method: 'GET', url: '/v2/no-blobs/manifests/v1' })).statusCode, 404, 'nothing was stored')
})

t.test('bad manifests: each answered with the spec\'s code', async (t) => {
  const app = await buildRegistry({ limits: { manifestBodySize: 2048 } })
  t.teardown(async () => await app.close())
  const good = await imageManifest(app, 'r')
  const cases: Array<[string, Buffer, string, number, string]> = [
    ['not JSON', Buffer.from('{nope'), OCI_MANIFEST, 400, 'MANIFEST_INVALID'],
    ['JSON array', Buffer.from('[]'), OCI_MANIFEST, 400, 'MANIFEST_INVALID'],
    ['binary', Buffer.from([0xff, 0xfe, 0x00, 0x01]), OCI_MANIFEST, 400, 'MANIFEST_INVALID'],
    ['media type mismatch', good.body, DOCKER_MANIFEST, 400, 'MANIFEST_INVALID'],
    ['unknown content type', good.body, 'text/html', 400, 'MANIFEST_INVALID'],
    ['schema1', Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'r', tag: 'x', fsLayers: [] })), 'application/vnd.docker.distribution.manifest.v1+prettyjws', 400, 'MANIFEST_INVALID'],
    ['missing layers', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: JSON.parse(good.body.toString()).config })), OCI_MANIFEST, 400, 'MANIFEST_INVALID'],
    ['bad digest in a layer', Buffer.from(JSON.stringify({ ...JSON.parse(good.body.toString()), layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: 'sha256:xyz', size: 1 }] })), OCI_MANIFEST, 400, 'MANIFEST_INVALID'],
    ['too large', Buffer.alloc(4096, 0x20), OCI_MANIFEST, 413, 'SIZE_INVALID'],
    ['empty', Buffer.alloc(0), OCI_MANIFEST, 400, 'MANIFEST_INVALID']
  ]
  for (const [label, body, type, status, code] of cases) {
    const response = await app.inject({ method: 'PUT', url: '/v2/r/manifests/bad', payload: body, headers: { 'content-type': type } })
    t.equal(response.statusCode, status, label)
    t.equal(errorCode(response.body), code, label)
  }
  t.equal((await app.inject({ method: 'GET', url: '/v2/r/manifests/bad' })).statusCode, 404, 'nothing bad was stored')
  for (const tag of ['-lead', 'a'.repeat(129), 'sp%20ace']) {
    const response = await app.inject({ method: 'PUT', url: `/v2/r/manifests/${tag}`, payload: good.body, headers: { 'content-type': OCI_MANIFEST } })
    t.equal(response.statusCode, 400, tag)
    t.equal(errorCode(response.body), 'TAG_INVALID', tag)
  }
})

t.test('a 4 MiB manifest is accepted by default', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const base = JSON.parse((await imageManifest(app, 'r')).body.toString()) as Record<string, unknown>
  base.annotations = { padding: 'x'.repeat(4 * 1024 * 1024 - JSON.stringify(base).length - 40) }
  const body = Buffer.from(JSON.stringify(base))
  t.ok(body.length <= 4 * 1024 * 1024 && body.length > 4 * 1024 * 1024 - 100)
  const put = await app.inject({ method: 'PUT', url: '/v2/r/manifests/big', payload: body, headers: { 'content-type': OCI_MANIFEST } })
  t.equal(put.statusCode, 201, put.body.slice(0, 200))
})

t.test('unknown manifests and repositories', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  await pushImage(app, 'known', 'v1')
  const tag = await app.inject({ method: 'GET', url: '/v2/known/manifests/nope' })
  t.equal(tag.statusCode, 404)
  t.equal(errorCode(tag.body), 'MANIFEST_UNKNOWN')
  const digest = await app.inject({ method: 'HEAD', url: `/v2/known/manifests/${sha256(Buffer.from('x'))}` })
  t.equal(digest.statusCode, 404)
  const repo = await app.inject({ method: 'GET', url: '/v2/unknown/manifests/v1' })
  t.equal(repo.statusCode, 404)
  t.equal(errorCode(repo.body), 'NAME_UNKNOWN')
  const badDigest = await app.inject({ method: 'GET', url: '/v2/known/manifests/sha256:short' })
  t.equal(badDigest.statusCode, 400)
  t.equal(errorCode(badDigest.body), 'DIGEST_INVALID')
})

t.test('DELETE by digest removes the manifest and its tags; by tag only the tag', async (t) => {
  const app = await buildRegistry({ delete: { enabled: true } })
  t.teardown(async () => await app.close())
  const one = await pushImage(app, 'r', 'one', { label: '1' })
  await putManifest(app, 'r', 'also-one', one)
  const two = await pushImage(app, 'r', 'two', { label: '2' })

  const byTag = await app.inject({ method: 'DELETE', url: '/v2/r/manifests/two' })
  t.equal(byTag.statusCode, 202)
  t.equal((await app.inject({ method: 'GET', url: '/v2/r/manifests/two' })).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url: `/v2/r/manifests/${two.digest}` })).statusCode, 200, 'the manifest stays')

  const byDigest = await app.inject({ method: 'DELETE', url: `/v2/r/manifests/${one.digest}` })
  t.equal(byDigest.statusCode, 202)
  for (const reference of ['one', 'also-one', one.digest]) {
    const response = await app.inject({ method: 'GET', url: `/v2/r/manifests/${reference}` })
    t.equal(response.statusCode, 404, reference)
    t.equal(errorCode(response.body), 'MANIFEST_UNKNOWN', reference)
  }
  const tags = await app.inject({ method: 'GET', url: '/v2/r/tags/list' })
  t.same(tags.json().tags, [])

  const again = await app.inject({ method: 'DELETE', url: `/v2/r/manifests/${one.digest}` })
  t.equal(again.statusCode, 404)
  t.equal(errorCode(again.body), 'MANIFEST_UNKNOWN')
})

t.test('DELETE is 405 UNSUPPORTED when deletion is disabled', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const manifest = await pushImage(app, 'r', 'v1')
  for (const reference of ['v1', manifest.digest]) {
    const response = await app.inject({ method: 'DELETE', url: `/v2/r/manifests/${reference}` })
    t.equal(response.statusCode, 405)
    t.equal(errorCode(response.body), 'UNSUPPORTED')
  }
  t.equal((await app.inject({ method: 'GET', url: '/v2/r/manifests/v1' })).statusCode, 200)
})

t.test('a tag moves to the newest manifest', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  await pushImage(app, 'r', 'latest', { label: 'old' })
  const second = await pushImage(app, 'r', 'latest', { label: 'new' })
  t.equal((await app.inject({ method: 'HEAD', url: '/v2/r/manifests/latest' })).headers['docker-content-digest'], second.digest)
})

t.test('a reference that is neither tag nor digest names no manifest: 404 on GET, HEAD and DELETE, 400 TAG_INVALID on PUT', async (t) => {
  const app = await buildRegistry({ delete: { enabled: true } })
  t.teardown(async () => await app.close())
  const manifest = await imageManifest(app, 'lib/app')
  t.equal((await putManifest(app, 'lib/app', 'v1', manifest)).statusCode, 201)
  for (const reference of ['.INVALID_MANIFEST_NAME', '-lead', 'a'.repeat(129), 'sp%20ace']) {
    for (const method of ['GET', 'HEAD', 'DELETE'] as const) {
      const response = await app.inject({ method, url: `/v2/lib/app/manifests/${reference}` })
      t.equal(response.statusCode, 404, `${method} ${reference.slice(0, 20)}`)
      if (method === 'HEAD') continue
      const body = JSON.parse(response.body) as { errors: Array<{ code: string, detail: { reason?: string } }> }
      t.equal(body.errors[0].code, 'MANIFEST_UNKNOWN', `${method} ${reference.slice(0, 20)}`)
      t.match(body.errors[0].detail.reason, /neither a valid tag nor a digest/, 'the reason is in detail')
    }
    const absent = await app.inject({ method: 'GET', url: `/v2/no/such/manifests/${reference}` })
    t.equal(absent.statusCode, 404)
    t.equal(errorCode(absent.body), 'NAME_UNKNOWN', 'an absent repository is NAME_UNKNOWN')
    const put = await app.inject({ method: 'PUT', url: `/v2/lib/app/manifests/${reference}`, payload: manifest.body, headers: { 'content-type': OCI_MANIFEST } })
    t.equal(put.statusCode, 400)
    t.equal(errorCode(put.body), 'TAG_INVALID', 'PUT still refuses the tag')
  }
  t.equal((await app.inject({ method: 'GET', url: '/v2/lib/app/manifests/v1' })).statusCode, 200, 'nothing was deleted')
})
