import t from 'tap'
import { Readable } from 'node:stream'
import { InMemoryDriver } from '../../lib/storage/inmemory.js'
import { BlobStore } from '../../lib/store/blobs.js'
import { UploadStore } from '../../lib/store/uploads.js'
import { purgeUploads } from '../../lib/store/upload-purge.js'
import { paths } from '../../lib/store/paths.js'

t.test('purgeUploads removes uploads older than the cut-off, across nested repositories', async (t) => {
  const driver = new InMemoryDriver()
  const uploads = new UploadStore(driver, new BlobStore(driver))
  const old = await uploads.create('a/b/c')
  const fresh = await uploads.create('a/b/c')
  const other = await uploads.create('z')
  await uploads.append('a/b/c', old.uuid, Readable.from([Buffer.from('stale')]))
  const hourAgo = new Date(Date.now() - 3_600_000)
  await driver.putContent(paths.uploadStartedAt('a/b/c', old.uuid), Buffer.from(new Date(hourAgo.getTime() - 1000).toISOString()))
  await driver.putContent(paths.uploadStartedAt('z', other.uuid), Buffer.from('not a date'))

  const dry = await purgeUploads(driver, { olderThan: hourAgo, dryRun: true })
  t.same(dry.map((upload) => `${upload.name}:${upload.uuid}`).sort(), [`a/b/c:${old.uuid}`, `z:${other.uuid}`].sort())
  t.equal((await uploads.status('a/b/c', old.uuid)).size, 5, 'a dry run removes nothing')

  const removed = await purgeUploads(driver, { olderThan: hourAgo })
  t.equal(removed.length, 2)
  await t.rejects(uploads.status('a/b/c', old.uuid), { code: 'BLOB_UPLOAD_UNKNOWN' })
  await t.rejects(uploads.status('z', other.uuid), { code: 'BLOB_UPLOAD_UNKNOWN' })
  t.equal((await uploads.status('a/b/c', fresh.uuid)).size, 0, 'a recent upload stays')
})
