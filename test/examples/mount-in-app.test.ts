import t from 'tap'
import { buildApp } from '../../examples/mount-in-app.js'
import { errorCode, sha256, tempDir } from '../helpers/registry.js'

t.test('the mounting example serves its own API and the registry side by side', async (t) => {
  const root = await tempDir()
  const app = buildApp({ rootDirectory: root.path, uploadSecret: 'example' })
  t.teardown(async () => { await app.close(); await root.cleanup() })

  const health = await app.inject({ method: 'GET', url: '/health' })
  t.same(health.json(), { status: 'ok' })
  t.equal(health.headers['x-service'], 'things')
  t.equal(health.headers['docker-distribution-api-version'], undefined)

  const created = await app.inject({ method: 'POST', url: '/api/things', payload: { name: 'cup' } })
  t.equal(created.statusCode, 201)
  t.equal(created.json().name, 'cup')
  const invalid = await app.inject({ method: 'POST', url: '/api/things', payload: { nope: 1 } })
  t.equal(invalid.statusCode, 400)
  t.ok(invalid.json().error, 'the app\'s own error format')
  const missing = await app.inject({ method: 'GET', url: '/api/things/99' })
  t.same(missing.json(), { error: { statusCode: 404, message: 'no thing 99' } })

  const content = Buffer.from('a blob in the example')
  const push = await app.inject({ method: 'POST', url: `/v2/example/blobs/uploads/?digest=${sha256(content)}`, payload: content, headers: { 'content-type': 'application/octet-stream' } })
  t.equal(push.statusCode, 201)
  t.equal(push.headers['x-service'], 'things', 'app hooks registered first also run for the registry')
  const unknown = await app.inject({ method: 'GET', url: `/v2/example/blobs/${sha256(Buffer.from('no'))}` })
  t.equal(errorCode(unknown.body), 'BLOB_UNKNOWN', 'the registry keeps the OCI error envelope')
})
