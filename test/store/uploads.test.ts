import t from 'tap'
import { Readable } from 'node:stream'
import { InMemoryDriver } from '../../lib/storage/inmemory.js'
import { BlobStore } from '../../lib/store/blobs.js'
import { UploadStore } from '../../lib/store/uploads.js'
import { paths } from '../../lib/store/paths.js'
import { parseDigest } from '../../lib/digest.js'
import { RegistryError } from '../../errors/index.js'
import { sha256, sha512 } from '../helpers/registry.js'

function stores (driver = new InMemoryDriver(), maxAge?: number): { driver: InMemoryDriver, blobs: BlobStore, uploads: UploadStore } {
  const blobs = new BlobStore(driver)
  return { driver, blobs, uploads: new UploadStore(driver, blobs, maxAge) }
}

const body = (...parts: string[]): Readable => Readable.from(parts.map((part) => Buffer.from(part)))

t.test('an upload continued by another store over the same storage re-derives the digest from the stored bytes', async (t) => {
  const a = stores()
  const b = stores(a.driver)
  const upload = await a.uploads.create('repo')
  await a.uploads.append('repo', upload.uuid, body('hello '))
  const status = await b.uploads.append('repo', upload.uuid, body('cluster'))
  t.equal(status.size, 13)
  const digest = parseDigest(sha256(Buffer.from('hello cluster')))!
  const blob = await a.uploads.commit('repo', upload.uuid, digest)
  t.same(blob, { digest: digest.digest, size: 13 }, 'A\'s in-memory hash was behind storage, so it re-read the bytes')
  t.ok(await a.blobs.isLinked('repo', digest))
})

t.test('sha512 is computed from the stored bytes', async (t) => {
  const { uploads, blobs } = stores()
  const upload = await uploads.create('repo')
  await uploads.append('repo', upload.uuid, body('abc', 'def'))
  const digest = parseDigest(sha512(Buffer.from('abcdef')))!
  await uploads.commit('repo', upload.uuid, digest)
  t.equal((await blobs.stat(digest))?.size, 6)
})

t.test('a digest mismatch removes the upload and leaves no blob', async (t) => {
  const { uploads, blobs, driver } = stores()
  const upload = await uploads.create('repo')
  await uploads.append('repo', upload.uuid, body('content'))
  const wrong = parseDigest(sha256(Buffer.from('other')))!
  await t.rejects(uploads.commit('repo', upload.uuid, wrong), { code: 'DIGEST_INVALID' })
  t.equal(await blobs.stat(wrong), undefined)
  t.equal(await blobs.stat(parseDigest(sha256(Buffer.from('content')))!), undefined)
  await t.rejects(driver.stat(paths.uploadDir('repo', upload.uuid)), 'the upload directory is gone')
})

t.test('an expired upload is refused on resume but its bytes stay for the purge', async (t) => {
  const { uploads, driver } = stores(undefined, 60_000)
  const upload = await uploads.create('repo')
  await uploads.append('repo', upload.uuid, body('early bytes'))
  await driver.putContent(paths.uploadStartedAt('repo', upload.uuid), Buffer.from(new Date(Date.now() - 120_000).toISOString()))
  for (const attempt of [
    uploads.append('repo', upload.uuid, body('more')),
    uploads.commit('repo', upload.uuid, parseDigest(sha256(Buffer.from('early bytes')))!),
    uploads.activeStatus('repo', upload.uuid)
  ]) {
    const error = await attempt.then(() => undefined, (failure: unknown) => failure)
    t.type(error, RegistryError)
    t.equal((error as RegistryError).code, 'BLOB_UPLOAD_UNKNOWN')
    t.match((error as RegistryError).message, /expired/)
  }
  t.equal((await uploads.status('repo', upload.uuid)).size, 11, 'the bytes are still there')
  await uploads.cancel('repo', upload.uuid)
  await t.rejects(uploads.status('repo', upload.uuid), { code: 'BLOB_UPLOAD_UNKNOWN' })
})

t.test('a chunk at the wrong offset or a stale expected size is RANGE_INVALID with the real Range', async (t) => {
  const { uploads } = stores()
  const upload = await uploads.create('repo')
  await uploads.append('repo', upload.uuid, body('12345'))
  await t.rejects(uploads.append('repo', upload.uuid, body('x'), { start: 3 }), { code: 'RANGE_INVALID', headers: { Range: '0-4' } })
  await t.rejects(uploads.append('repo', upload.uuid, body('x'), { expectedSize: 2 }), { code: 'RANGE_INVALID', headers: { Range: '0-4' } })
  t.equal((await uploads.status('repo', upload.uuid)).size, 5)
})

t.test('concurrent chunks to one upload in one process are serialised', async (t) => {
  const { uploads } = stores()
  const upload = await uploads.create('repo')
  const results = await Promise.allSettled([
    uploads.append('repo', upload.uuid, body('aaaa'), { start: 0 }),
    uploads.append('repo', upload.uuid, body('bbbb'), { start: 0 })
  ])
  t.same(results.map((result) => result.status).sort(), ['fulfilled', 'rejected'], 'one chunk lands, the other is refused')
  t.equal((await uploads.status('repo', upload.uuid)).size, 4)
})

t.test('a source that fails mid-chunk keeps the bytes already stored, and the upload still completes', async (t) => {
  const { uploads } = stores()
  const upload = await uploads.create('repo')
  const failing = (async function * () {
    yield Buffer.from('first ')
    throw new Error('client went away')
  })()
  await t.rejects(uploads.append('repo', upload.uuid, failing), /client went away/)
  const status = await uploads.status('repo', upload.uuid)
  t.equal(status.size, 6)
  await uploads.append('repo', upload.uuid, body('second'), { start: 6 })
  const digest = parseDigest(sha256(Buffer.from('first second')))!
  t.same(await uploads.commit('repo', upload.uuid, digest), { digest: digest.digest, size: 12 })
})
