import t from 'tap'
import { InMemoryDriver, type StorageDriver } from '../lib/index.js'
import { StorageFullError } from '../lib/storage/errors.js'
import { buildRegistry, errorCode, sha256 } from './helpers/registry.js'

/** An in-memory driver whose reads fail the way a broken disk or a full one does. */
function failingDriver (failure: () => Error): StorageDriver {
  const driver = new InMemoryDriver()
  driver.getContent = async () => { throw failure() }
  driver.version = () => { throw failure() }
  return driver
}

t.test('an unexpected failure is 500 UNKNOWN, with no internals in the body', async (t) => {
  const app = await buildRegistry({ storage: failingDriver(() => new Error('secret internal detail at /var/lib/registry')) })
  t.teardown(async () => await app.close())
  const response = await app.inject({ method: 'GET', url: `/v2/r/blobs/${sha256(Buffer.from('x'))}` })
  t.equal(response.statusCode, 500)
  t.equal(errorCode(response.body), 'UNKNOWN')
  t.notMatch(response.body, /secret internal detail|var\/lib/)
  t.equal(response.headers['docker-distribution-api-version'], 'registry/2.0')
})

t.test('a full disk is 507 UNAVAILABLE, not a crash', async (t) => {
  const app = await buildRegistry({ storage: failingDriver(() => new StorageFullError('/x')) })
  t.teardown(async () => await app.close())
  const response = await app.inject({ method: 'GET', url: `/v2/r/blobs/${sha256(Buffer.from('x'))}` })
  t.equal(response.statusCode, 507)
  t.equal(errorCode(response.body), 'UNAVAILABLE')
})

t.test('descriptors running out (EMFILE/ENFILE) is 503 UNAVAILABLE with Retry-After, never 500', async (t) => {
  for (const code of ['EMFILE', 'ENFILE']) {
    const app = await buildRegistry({ storage: failingDriver(() => Object.assign(new Error(`${code}: too many open files, open '/var/lib/registry/x'`), { code, errno: -24, syscall: 'open' })) })
    t.teardown(async () => await app.close())
    const response = await app.inject({ method: 'GET', url: '/v2/r/manifests/latest' })
    t.equal(response.statusCode, 503, code)
    t.equal(errorCode(response.body), 'UNAVAILABLE')
    t.equal(response.headers['retry-after'], '1')
    t.notMatch(response.body, /var\/lib/)
  }
})
