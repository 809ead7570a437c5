import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { InMemoryDriver } from '../../lib/storage/inmemory.js'
import { FilesystemDriver } from '../../lib/storage/filesystem.js'
import type { StorageDriver } from '../../lib/storage/driver.js'
import { buildRegistry, errorCode, pushBlob, tempDir } from '../helpers/registry.js'
import { pushImage } from '../helpers/images.js'

/**
 * Tags, manifests and blob links are cached per instance. Two instances over one
 * storage: whatever one changes, the other must serve on its very next request.
 */
async function pair (t: Test, kind: 'filesystem' | 'inmemory'): Promise<{ a: FastifyInstance, b: FastifyInstance, driver: StorageDriver }> {
  let driver: StorageDriver
  if (kind === 'filesystem') {
    const root = await tempDir()
    t.teardown(root.cleanup)
    driver = new FilesystemDriver({ rootDirectory: root.path })
  } else {
    driver = new InMemoryDriver() // one driver object shared: one storage, two caches
  }
  const options = kind === 'filesystem'
    ? { storage: { filesystem: { rootDirectory: (driver as FilesystemDriver).rootDirectory } }, delete: { enabled: true } }
    : { storage: driver, delete: { enabled: true } }
  const a = await buildRegistry(options)
  const b = await buildRegistry(options)
  t.teardown(async () => {
    await a.close()
    await b.close()
  })
  return { a, b, driver }
}

async function digestOf (app: FastifyInstance, url: string, method: 'GET' | 'HEAD' = 'GET'): Promise<string | number> {
  const response = await app.inject({ method, url })
  return response.statusCode === 200 ? String(response.headers['docker-content-digest']) : response.statusCode
}

for (const kind of ['filesystem', 'inmemory'] as const) {
  t.test(`${kind}: a tag moved through one instance is served by the other on its next request`, async (t) => {
    const { a, b } = await pair(t, kind)
    let previous = ''
    for (let round = 0; round < 12; round++) {
      const writer = round % 2 === 0 ? a : b
      const reader = round % 2 === 0 ? b : a
      const image = await pushImage(writer, 'team/app', 'latest', { label: `round ${round}` })
      t.not(image.digest, previous)
      previous = image.digest
      t.equal(await digestOf(reader, '/v2/team/app/manifests/latest'), image.digest, `round ${round}: GET`)
      t.equal(await digestOf(reader, '/v2/team/app/manifests/latest', 'HEAD'), image.digest, `round ${round}: HEAD`)
      t.equal(await digestOf(writer, '/v2/team/app/manifests/latest'), image.digest, `round ${round}: the writer too`)
    }
  })

  t.test(`${kind}: deletes through one instance are seen by the other`, async (t) => {
    const { a, b } = await pair(t, kind)
    const image = await pushImage(a, 'team/app', 'v1')
    await pushImage(a, 'team/app', 'v2', { label: 'two' })
    // Warm B's caches.
    t.equal(await digestOf(b, '/v2/team/app/manifests/v1'), image.digest)
    t.equal(await digestOf(b, `/v2/team/app/manifests/${image.digest}`), image.digest)
    t.same(JSON.parse((await b.inject('/v2/team/app/tags/list')).body).tags, ['v1', 'v2'])

    t.equal((await a.inject({ method: 'DELETE', url: '/v2/team/app/manifests/v2' })).statusCode, 202)
    t.same(JSON.parse((await b.inject('/v2/team/app/tags/list')).body).tags, ['v1'], 'a deleted tag leaves the list')
    t.equal(await digestOf(b, '/v2/team/app/manifests/v2'), 404)

    t.equal((await a.inject({ method: 'DELETE', url: `/v2/team/app/manifests/${image.digest}` })).statusCode, 202)
    const byDigest = await b.inject(`/v2/team/app/manifests/${image.digest}`)
    t.equal(byDigest.statusCode, 404)
    t.equal(errorCode(byDigest.body), 'MANIFEST_UNKNOWN')
    t.equal(await digestOf(b, '/v2/team/app/manifests/v1'), 404, 'its tag went with it')
  })

  t.test(`${kind}: a blob unlinked through one instance is gone from the other, and back when pushed again`, async (t) => {
    const { a, b } = await pair(t, kind)
    const content = Buffer.from(`blob on ${kind}`)
    const digest = await pushBlob(a, 'team/app', content)
    const url = `/v2/team/app/blobs/${digest}`
    t.equal((await b.inject({ method: 'HEAD', url })).statusCode, 200)
    t.equal((await a.inject({ method: 'DELETE', url })).statusCode, 202)
    t.equal((await b.inject({ method: 'HEAD', url })).statusCode, 404)
    t.equal((await b.inject({ method: 'GET', url })).statusCode, 404)
    await pushBlob(a, 'team/app', content)
    const again = await b.inject({ method: 'GET', url })
    t.equal(again.statusCode, 200)
    t.equal(again.body, content.toString())
  })

  t.test(`${kind}: a tag rewritten behind the registry's back (another tool on the same storage) is seen`, async (t) => {
    const { a, b, driver } = await pair(t, kind)
    const one = await pushImage(a, 'team/app', 'one', { label: 'one' })
    const two = await pushImage(a, 'team/app', 'two', { label: 'two' })
    t.equal(await digestOf(b, '/v2/team/app/manifests/one'), one.digest)
    // distribution's layout: the tag's current link names the manifest.
    await driver.putContent('/docker/registry/v2/repositories/team/app/_manifests/tags/one/current/link', Buffer.from(two.digest))
    t.equal(await digestOf(b, '/v2/team/app/manifests/one'), two.digest)
    t.equal(await digestOf(a, '/v2/team/app/manifests/one'), two.digest)
  })
}
