import t from 'tap'
import { InMemoryDriver } from '../../lib/storage/inmemory.js'
import type { StorageDriver } from '../../lib/storage/driver.js'
import { buildRegistry, errorCode, pathOf, pushBlob, randomBlob, sha256 } from '../helpers/registry.js'

/** Every file and its content: what "nothing written" is checked against. */
async function snapshot (driver: StorageDriver): Promise<Map<string, string>> {
  const files = new Map<string, string>()
  for await (const info of driver.walk('/')) {
    if (!info.isDir) files.set(info.path, (await driver.getContent(info.path)).toString('base64'))
  }
  return files
}

/** A driver whose writes fail the test. */
function guarded (driver: InMemoryDriver, onWrite: (operation: string) => void): StorageDriver {
  return new Proxy(driver, {
    get (target, property) {
      const value = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      if (['putContent', 'writer', 'move', 'delete'].includes(String(property))) {
        return (...args: unknown[]) => { onWrite(String(property)); return value.apply(target, args) }
      }
      return value.bind(target)
    }
  })
}

t.test('read-only: every write route refused with 405 UNSUPPORTED, reads served, nothing written', async (t) => {
  const driver = new InMemoryDriver()
  // Content written while writable: a blob, a manifest with a tag, an unfinished upload.
  const writable = await buildRegistry({ storage: driver })
  const layer = randomBlob(100)
  await pushBlob(writable, 'r', layer.content)
  const config = Buffer.from('{}')
  const configDigest = await pushBlob(writable, 'r', config)
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer.digest, size: layer.content.length }]
  }))
  t.equal((await writable.inject({ method: 'PUT', url: '/v2/r/manifests/v1', payload: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } })).statusCode, 201)
  const started = await writable.inject({ method: 'POST', url: '/v2/r/blobs/uploads/' })
  const upload = pathOf(started.headers.location)
  await writable.close()

  const writes: string[] = []
  const app = await buildRegistry({ storage: guarded(driver, (operation) => { writes.push(operation) }), maintenance: { readOnly: { enabled: true } }, delete: { enabled: true } })
  t.teardown(async () => await app.close())
  const before = await snapshot(driver)
  const manifestDigest = sha256(manifest)
  const other = randomBlob(10)

  const refused: Array<{ method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: Buffer, allow: string }> = [
    { method: 'POST', url: '/v2/r/blobs/uploads/', allow: '' },
    { method: 'POST', url: `/v2/r/blobs/uploads/?digest=${other.digest}`, payload: other.content, allow: '' },
    { method: 'POST', url: `/v2/s/blobs/uploads/?mount=${layer.digest}&from=r`, allow: '' },
    { method: 'PATCH', url: upload, payload: other.content, allow: 'GET' },
    { method: 'PUT', url: `${upload}&digest=${other.digest}`, payload: other.content, allow: 'GET' },
    { method: 'DELETE', url: upload, allow: 'GET' },
    { method: 'PUT', url: '/v2/r/manifests/v2', payload: manifest, allow: 'GET, HEAD' },
    { method: 'PUT', url: `/v2/r/manifests/${manifestDigest}`, payload: manifest, allow: 'GET, HEAD' },
    { method: 'DELETE', url: `/v2/r/manifests/${manifestDigest}`, allow: 'GET, HEAD' },
    { method: 'DELETE', url: `/v2/r/blobs/${layer.digest}`, allow: 'GET, HEAD' }
  ]
  for (const { method, url, payload, allow } of refused) {
    const response = await app.inject({ method, url, ...(payload === undefined ? {} : { payload, headers: { 'content-type': 'application/octet-stream' } }) })
    t.equal(response.statusCode, 405, `${method} ${url}`)
    t.equal(errorCode(response.body), 'UNSUPPORTED')
    t.match(response.json(), { errors: [{ message: /read-only mode/, detail: { readOnly: true } }] })
    t.equal(response.headers.allow, allow, 'Allow names the route\'s reads')
    if (payload !== undefined) t.equal(response.headers.connection, 'close', 'the unread body is not drained')
  }

  const reads: Array<{ method: 'GET' | 'HEAD', url: string, status: number }> = [
    { method: 'GET', url: '/v2/', status: 200 },
    { method: 'GET', url: '/v2/_catalog', status: 200 },
    { method: 'GET', url: '/v2/r/tags/list', status: 200 },
    { method: 'GET', url: '/v2/r/manifests/v1', status: 200 },
    { method: 'HEAD', url: `/v2/r/manifests/${manifestDigest}`, status: 200 },
    { method: 'GET', url: `/v2/r/blobs/${layer.digest}`, status: 200 },
    { method: 'HEAD', url: `/v2/r/blobs/${layer.digest}`, status: 200 },
    { method: 'GET', url: `/v2/r/referrers/${manifestDigest}`, status: 200 },
    { method: 'GET', url: upload, status: 204 }
  ]
  for (const { method, url, status } of reads) {
    t.equal((await app.inject({ method, url })).statusCode, status, `${method} ${url} served`)
  }
  t.same((await app.inject({ method: 'GET', url: '/v2/r/tags/list' })).json(), { name: 'r', tags: ['v1'] })
  t.same(writes, [], 'no write reached the storage driver')
  t.same(await snapshot(driver), before, 'storage unchanged')
})

t.test('read-only answers before access control', async (t) => {
  const app = await buildRegistry({ auth: { silly: { realm: 'r', service: 's' } }, maintenance: { readOnly: { enabled: true } } })
  t.teardown(async () => await app.close())
  const write = await app.inject({ method: 'POST', url: '/v2/r/blobs/uploads/' })
  t.equal(write.statusCode, 405, 'no credentials asked for a write that cannot happen')
  t.equal(write.headers['www-authenticate'], undefined)
  const read = await app.inject({ method: 'GET', url: '/v2/r/tags/list' })
  t.equal(read.statusCode, 401, 'reads still need access')
  const off = await buildRegistry({ maintenance: { readOnly: { enabled: false } } })
  t.teardown(async () => await off.close())
  t.equal((await off.inject({ method: 'POST', url: '/v2/r/blobs/uploads/' })).statusCode, 202, 'enabled: false is writable')
})
