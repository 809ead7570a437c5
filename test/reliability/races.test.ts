import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildRegistry, errorCode, pathOf, pushBlob, randomBlob, sha256, tempDir } from '../helpers/registry.js'
import { imageManifest, putManifest } from '../helpers/images.js'

/** A registry on real filesystem storage, so concurrent requests interleave on real I/O. */
async function registryOnDisk (t: Test): Promise<FastifyInstance> {
  const root = await tempDir()
  const app = await buildRegistry({ storage: { filesystem: { rootDirectory: root.path } }, delete: { enabled: true } })
  t.teardown(async () => { await app.close(); await root.cleanup() })
  return app
}

/** Every tag resolves to a manifest whose bytes hash to its digest. */
async function tagsAreConsistent (t: Test, app: FastifyInstance, name: string): Promise<void> {
  const tags = await app.inject({ method: 'GET', url: `/v2/${name}/tags/list` })
  for (const tag of (tags.json() as { tags: string[] }).tags) {
    const manifest = await app.inject({ method: 'GET', url: `/v2/${name}/manifests/${tag}` })
    t.equal(manifest.statusCode, 200, `tag ${tag} resolves`)
    t.equal(sha256(manifest.rawPayload), manifest.headers['docker-content-digest'], `tag ${tag} names intact bytes`)
  }
}

t.test('20 clients push the same blob at once', async (t) => {
  const app = await registryOnDisk(t)
  const { content, digest } = randomBlob(2 * 1024 * 1024)
  const pushes = await Promise.all(Array.from({ length: 20 }, async (_unused, index) => {
    if (index % 2 === 0) {
      return await app.inject({ method: 'POST', url: `/v2/same/blobs/uploads/?digest=${digest}`, payload: content, headers: { 'content-type': 'application/octet-stream' } })
    }
    const start = await app.inject({ method: 'POST', url: '/v2/same/blobs/uploads/' })
    return await app.inject({ method: 'PUT', url: `${pathOf(start.headers.location)}&digest=${digest}`, payload: content, headers: { 'content-type': 'application/octet-stream' } })
  }))
  t.same(pushes.map((push) => push.statusCode), Array(20).fill(201), 'every client gets 201')
  const blob = await app.inject({ method: 'GET', url: `/v2/same/blobs/${digest}` })
  t.equal(sha256(blob.rawPayload), digest)
})

t.test('20 clients PUT different manifests to one tag at once', async (t) => {
  const app = await registryOnDisk(t)
  const manifests = await Promise.all(Array.from({ length: 20 }, async (_unused, index) => await imageManifest(app, 'tagged', { label: `m${index}` })))
  const puts = await Promise.all(manifests.map(async (manifest) => await putManifest(app, 'tagged', 'latest', manifest)))
  t.same(puts.map((put) => put.statusCode), Array(20).fill(201))
  const current = await app.inject({ method: 'HEAD', url: '/v2/tagged/manifests/latest' })
  t.ok(manifests.some((manifest) => manifest.digest === current.headers['docker-content-digest']), 'the tag names one of the pushed manifests')
  for (const manifest of manifests) {
    t.equal((await app.inject({ method: 'HEAD', url: `/v2/tagged/manifests/${manifest.digest}` })).statusCode, 200, 'every pushed manifest stays reachable by digest')
  }
  await tagsAreConsistent(t, app, 'tagged')
})

t.test('PUT and DELETE of one manifest race', async (t) => {
  const app = await registryOnDisk(t)
  for (let round = 0; round < 10; round++) {
    const manifest = await imageManifest(app, 'racing', { label: `r${round}` })
    const [put, del] = await Promise.all([
      putManifest(app, 'racing', `t${round}`, manifest),
      app.inject({ method: 'DELETE', url: `/v2/racing/manifests/${manifest.digest}` })
    ])
    t.equal(put.statusCode, 201)
    t.ok([202, 404].includes(del.statusCode), `delete answered ${del.statusCode}`)
    if (del.statusCode === 404) t.equal(errorCode(del.body), 'MANIFEST_UNKNOWN')
    const byTag = await app.inject({ method: 'GET', url: `/v2/racing/manifests/t${round}` })
    const byDigest = await app.inject({ method: 'GET', url: `/v2/racing/manifests/${manifest.digest}` })
    if (del.statusCode === 202) {
      t.equal(byTag.statusCode, 404, 'deleted after the PUT: the tag went with it')
      t.equal(byDigest.statusCode, 404)
    } else {
      t.equal(byTag.statusCode, 200, 'deleted before the PUT: the manifest is there with its tag')
      t.equal(byDigest.statusCode, 200)
    }
  }
  await tagsAreConsistent(t, app, 'racing')
})

t.test('an upload cancel races its PUT', async (t) => {
  const app = await registryOnDisk(t)
  for (let round = 0; round < 10; round++) {
    const { content, digest } = randomBlob(256 * 1024)
    const start = await app.inject({ method: 'POST', url: '/v2/cancel/blobs/uploads/' })
    const location = pathOf(start.headers.location)
    const patch = await app.inject({ method: 'PATCH', url: location, payload: content, headers: { 'content-type': 'application/octet-stream' } })
    const next = pathOf(patch.headers.location)
    const [put, cancel] = await Promise.all([
      app.inject({ method: 'PUT', url: `${next}&digest=${digest}` }),
      app.inject({ method: 'DELETE', url: next })
    ])
    const blob = await app.inject({ method: 'HEAD', url: `/v2/cancel/blobs/${digest}` })
    if (put.statusCode === 201) {
      t.equal(cancel.statusCode, 404, 'committed first: the cancel finds no upload')
      t.equal(errorCode(cancel.body), 'BLOB_UPLOAD_UNKNOWN')
      t.equal(blob.statusCode, 200)
    } else {
      t.equal(cancel.statusCode, 204, 'cancelled first')
      t.equal(put.statusCode, 404)
      t.equal(errorCode(put.body), 'BLOB_UPLOAD_UNKNOWN')
      t.equal(blob.statusCode, 404, 'nothing half-committed')
    }
  }
})

t.test('pushes of blobs shared between repositories at once', async (t) => {
  const app = await registryOnDisk(t)
  const { content, digest } = randomBlob(512 * 1024)
  const names = Array.from({ length: 10 }, (_unused, index) => `shared/r${index}`)
  await Promise.all(names.map(async (name) => await pushBlob(app, name, content)))
  for (const name of names) {
    const blob = await app.inject({ method: 'GET', url: `/v2/${name}/blobs/${digest}` })
    t.equal(sha256(blob.rawPayload), digest, name)
  }
})
