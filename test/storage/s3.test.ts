// The S3 driver against a real Ceph RADOS Gateway (test/services/ceph-rgw.sh; S3_ENDPOINT).
// One bucket per run; every driver gets its own rootdirectory in it.
import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import t from 'tap'
import type { Test } from 'tap'
import {
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand
} from '@aws-sdk/client-s3'
import { S3Driver, S3_MAX_PART_SIZE, S3_MAX_PARTS, S3_MIN_PART_SIZE as S3_RULE_MIN_PART, headCopyRanges, multipartCopyRanges } from '../../lib/storage/s3.js'
import type { S3DriverOptions } from '../../lib/storage/s3.js'
import { InvalidOffsetError, PathNotFoundError, StorageError } from '../../lib/storage/errors.js'
import { runDriverSuite } from './driver-suite.js'
import { S3_MIN_PART_SIZE, createTestBucket, randomName, s3Options } from '../helpers/ceph.js'
import { buildRegistry, pushBlob, randomBlob } from '../helpers/registry.js'
import { App } from '../../lib/app.js'

const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB
const MIN = S3_MIN_PART_SIZE

// Fails the whole file, with how to start a server, when nothing answers.
const { bucket, client, remove } = await createTestBucket()
t.teardown(remove)

let drivers = 0
function makeDriver (extra: Partial<S3DriverOptions> = {}): S3Driver {
  drivers++
  return new S3Driver(s3Options(bucket, { rootdirectory: `/${randomName(`d${drivers}`)}/`, ...extra }))
}

/** A driver for one subtest; its keys are deleted afterwards. */
function driverFor (t: Test, extra: Partial<S3DriverOptions> = {}): S3Driver {
  const driver = makeDriver(extra)
  t.teardown(async () => {
    await driver.delete('/')
    driver.destroy()
  })
  return driver
}

async function collect (stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array))
  return Buffer.concat(chunks)
}

/** Deterministic bytes: block `seed` of `length`, different from every other seed. */
function bytes (length: number, seed: number): Buffer {
  const out = Buffer.alloc(length)
  let x = (seed * 2654435761) >>> 0
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    out[i] = x >>> 24
  }
  return out
}

async function * chunked (data: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size)
}

function sha256 (data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

async function sha256Of (stream: Readable): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of stream) hash.update(chunk as Uint8Array)
  return hash.digest('hex')
}

/** Unfinished multipart uploads under a driver's root. */
async function openUploads (driver: S3Driver): Promise<string[]> {
  const out = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: driver.key('/') }))
  return (out.Uploads ?? []).map((upload) => upload.Key ?? '')
}

/** The ETag S3 lists for a key: `"<md5 of part md5s>-<parts>"` for a multipart object. */
async function listedEtag (key: string): Promise<string> {
  const out = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 1 }))
  return out.Contents?.[0]?.ETag ?? ''
}

async function inBatches<T> (items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await fn(items[next++])
  }))
}

// The conformance suite, with parts small enough that its 64 MiB file has 64 of them.
runDriverSuite(t, 's3 (1 MiB parts)', async () => {
  const driver = makeDriver({ chunksize: MiB, minpartsize: MIN, multipartcopychunksize: MiB })
  return {
    driver,
    cleanup: async () => {
      await driver.delete('/')
      driver.destroy()
    }
  }
})

// And with the default sizes (10 MiB parts, S3's 5 MiB minimum).
runDriverSuite(t, 's3 (defaults)', async () => {
  const driver = makeDriver()
  return {
    driver,
    cleanup: async () => {
      await driver.delete('/')
      driver.destroy()
    }
  }
})

t.test('keys are <rootdirectory>/<path>, as distribution lays them out', async (t) => {
  const driver = new S3Driver(s3Options(bucket, { rootdirectory: '/layout/root/' }))
  t.teardown(async () => { await driver.delete('/'); driver.destroy() })
  await driver.putContent('/docker/registry/v2/blobs/sha256/ab/abcd/data', Buffer.from('blob'))
  const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'layout/' }))
  t.same(listed.Contents?.map((object) => object.Key), ['layout/root/docker/registry/v2/blobs/sha256/ab/abcd/data'])

  // What another tool wrote under the root is read back as is; keys no driver path can spell are not listed.
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'layout/root/docker/link', Body: 'sha256:00' }))
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'layout/root/docker/we ird', Body: 'x' }))
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'layout/root/docker/folder/', Body: '' }))
  t.equal((await driver.getContent('/docker/link')).toString(), 'sha256:00')
  t.same(await driver.list('/docker'), ['/docker/folder', '/docker/link', '/docker/registry'])

  // No rootdirectory: keys start at the bucket's root.
  const bare = await createTestBucket('oci-bare')
  t.teardown(bare.remove)
  const plain = new S3Driver(s3Options(bare.bucket))
  t.teardown(() => plain.destroy())
  await plain.putContent('/a/b', Buffer.from('x'))
  const bareListed = await bare.client.send(new ListObjectsV2Command({ Bucket: bare.bucket }))
  t.same(bareListed.Contents?.map((object) => object.Key), ['a/b'])
  t.same(await plain.list('/'), ['/a'])
  await plain.delete('/')
  t.same(await plain.list('/'), [])
})

t.test('a writer closed on one instance is continued by another, across parts', async (t) => {
  const options = { chunksize: 4 * MIN, minpartsize: MIN, multipartcopychunksize: MIN }
  const a = driverFor(t, options)
  const b = new S3Driver(s3Options(bucket, { rootdirectory: a.key('/'), ...options }))
  const c = new S3Driver(s3Options(bucket, { rootdirectory: a.key('/'), ...options }))
  t.teardown(() => { b.destroy(); c.destroy() })
  const path = '/repositories/x/_uploads/u1/data'
  const one = bytes(2 * 4 * MIN + 5 * KiB + 3, 1) // two full parts and a tail
  const two = bytes(3 * 4 * MIN + 17, 2)
  const three = bytes(123, 3)

  const w1 = await a.writer(path, false)
  t.equal(await w1.write(chunked(one, 10_000)), one.length)
  t.equal(w1.size, one.length, 'size counts uploaded parts and the buffer')
  await w1.close()
  t.equal((await b.stat(path)).size, one.length, 'what close kept is visible to another instance')

  const w2 = await b.writer(path, true)
  t.equal(w2.size, one.length, 'the other instance continues at the end')
  t.equal(await w2.write(chunked(two, 7_777)), two.length)
  t.equal(w2.size, one.length + two.length)
  await w2.close()

  const w3 = await c.writer(path, true)
  t.equal(w3.size, one.length + two.length)
  await w3.write(chunked(three, 50))
  await w3.commit()

  const expected = Buffer.concat([one, two, three])
  t.equal((await a.stat(path)).size, expected.length)
  t.equal(await sha256Of(await a.reader(path)), sha256(expected), 'every byte in place')
  t.same(await collect(await a.reader(path, one.length - 10, 20)), expected.subarray(one.length - 10, one.length + 10), 'across the first seam')
  t.same(await openUploads(a), [], 'no multipart upload left open')
})

t.test('a small tail (below the minimum part size) is read back and uploaded again', async (t) => {
  const options = { chunksize: 2 * MIN, minpartsize: MIN, multipartcopychunksize: MIN }
  const a = driverFor(t, options)
  const b = new S3Driver(s3Options(bucket, { rootdirectory: a.key('/'), ...options }))
  t.teardown(() => b.destroy())
  const path = '/tail/data'
  const parts: Buffer[] = []

  // 1. a file smaller than a part
  parts.push(bytes(MIN - 1, 10))
  const w1 = await a.writer(path, false)
  await w1.write(chunked(parts[0], 999))
  await w1.close()

  // 2. continued elsewhere: the small file is re-read and becomes the start of the first part; the writer crosses two part boundaries
  parts.push(bytes(2 * 2 * MIN + 11, 11))
  const w2 = await b.writer(path, true)
  t.equal(w2.size, MIN - 1)
  await w2.write(chunked(parts[1], 4096))
  await w2.close()
  t.equal((await a.stat(path)).size, parts[0].length + parts[1].length)

  // 3. a tail of a few bytes after full parts: the object is copied server side, then the tail follows
  parts.push(Buffer.from('tail'))
  const w3 = await a.writer(path, true)
  await w3.write(chunked(parts[2], 1))
  await w3.close()

  // 4. appending nothing leaves the object untouched
  const before = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: a.key(path) }))
  const w4 = await b.writer(path, true)
  t.equal(await w4.write(chunked(Buffer.alloc(0), 1)), 0)
  await w4.commit()
  const after = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: a.key(path) }))
  t.equal(after.ETag, before.ETag, 'not rewritten')

  const expected = Buffer.concat(parts)
  t.equal(await sha256Of(await b.reader(path)), sha256(expected))
  t.same(await openUploads(a), [])
})

t.test('an append fails rather than build on an object replaced since the writer opened', async (t) => {
  const a = driverFor(t, { chunksize: MIN, minpartsize: MIN, multipartcopychunksize: MIN })
  const path = '/race/data'
  await a.putContent(path, bytes(MIN + 1, 20))
  const w = await a.writer(path, true)
  await a.putContent(path, bytes(MIN + 2, 21)) // someone else replaced it
  await w.write(chunked(Buffer.from('more'), 4))
  await t.rejects(w.commit(), { name: 'StorageError', message: /changed while this writer was appending/ })
  t.equal(await sha256Of(await a.reader(path)), sha256(bytes(MIN + 2, 21)), 'the other content stays')
  t.same(await openUploads(a), [], 'the failed upload was aborted')

  // The same when the change shows while parts are being uploaded: the writer refuses to go on.
  const w2 = await a.writer(path, true)
  await a.putContent(path, bytes(MIN + 3, 22))
  await t.rejects(w2.write(chunked(bytes(2 * MIN, 23), MIN)), { name: 'StorageError', message: /changed/ })
  await t.rejects(w2.close(), { name: 'StorageError', message: /changed/ })
  t.equal(await sha256Of(await a.reader(path)), sha256(bytes(MIN + 3, 22)))
  t.same(await openUploads(a), [])
})

t.test('more than 1,000 parts', async (t) => {
  const partSize = MIN
  const count = 1_100
  const a = driverFor(t, { chunksize: partSize, minpartsize: MIN, multipartcopychunksize: MIN })
  const path = '/many-parts/data'
  const hash = createHash('sha256')
  async function * generate (): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < count; i++) {
      const block = Buffer.alloc(partSize, i & 0xff)
      block.writeUInt32BE(i, 0)
      hash.update(block)
      yield block
    }
    const tail = Buffer.from('the last, short part')
    hash.update(tail)
    yield tail
  }
  const w = await a.writer(path, false)
  const total = count * partSize + 20
  t.equal(await w.write(generate()), total)
  t.equal(w.size, total)
  await w.commit()
  t.equal((await a.stat(path)).size, total)
  t.match(await listedEtag(a.key(path)), /-1101"$/, 'stored as 1,101 parts')
  t.equal(await sha256Of(await a.reader(path)), hash.digest('hex'))
  const middle = await collect(await a.reader(path, 1050 * partSize, 4))
  t.equal(middle.readUInt32BE(0), 1050, 'ranged read past part 1,000')

  // Continuing it: the 1,101-part object is carried over by UploadPartCopy in at most 1,000 ranges.
  const more = await a.writer(path, true)
  t.equal(more.size, total)
  await more.write(chunked(Buffer.from('!'), 1))
  await more.commit()
  t.equal((await a.stat(path)).size, total + 1)
  t.same(await collect(await a.reader(path, total - 3)), Buffer.from('art!'))
  t.same(await openUploads(a), [])
})

t.test('move above the threshold is a multipart copy (UploadPartCopy)', async (t) => {
  const a = driverFor(t, { minpartsize: MIN, multipartcopythresholdsize: MIN, multipartcopychunksize: MIN, multipartcopymaxconcurrency: 4 })
  const size = 17 * MIN + 123
  const content = bytes(size, 30)
  await a.putContent('/src/data', content)
  await a.move('/src/data', '/blobs/dst/data')
  t.match(await listedEtag(a.key('/blobs/dst/data')), /-18"$/, 'copied in 18 parts')
  t.equal(await sha256Of(await a.reader('/blobs/dst/data')), sha256(content))
  await t.rejects(a.stat('/src/data'), PathNotFoundError, 'the source is gone')

  // At or below the threshold: one CopyObject.
  await a.putContent('/small', Buffer.from('small'))
  await a.move('/small', '/blobs/small')
  t.notMatch(await listedEtag(a.key('/blobs/small')), /-\d+"$/)
  t.equal((await a.getContent('/blobs/small')).toString(), 'small')

  // A directory with a large file in it.
  await a.putContent('/tree/big', content)
  await a.putContent('/tree/sub/little', Buffer.from('little'))
  await a.move('/tree', '/moved')
  t.equal(await sha256Of(await a.reader('/moved/big')), sha256(content))
  t.equal((await a.getContent('/moved/sub/little')).toString(), 'little')
  await t.rejects(a.list('/tree'), PathNotFoundError)
  t.same(await openUploads(a), [])
})

t.test('more than 1,000 keys: list pages, walk, and deletes in batches', async (t) => {
  const a = driverFor(t)
  // 1,050 files and 20 directories in one directory: listings of more than one page, of keys and of common prefixes.
  const files = Array.from({ length: 1_050 }, (_, i) => `/many/f${String(i).padStart(4, '0')}`)
  const dirs = Array.from({ length: 20 }, (_, i) => `/many/d${String(i).padStart(2, '0')}/x`)
  await inBatches([...files, ...dirs], 32, async (path) => { await a.putContent(path, Buffer.from(path)) })

  const listed = await a.list('/many')
  t.equal(listed.length, files.length + dirs.length, 'every child, across pages')
  t.same(listed, [...dirs.map((path) => path.slice(0, -2)), ...files].sort())

  const walked: string[] = []
  for await (const info of a.walk('/many')) walked.push(info.path)
  t.equal(walked.length, files.length + 2 * dirs.length, 'files, directories and what is below them')
  t.same(walked, [...files, ...dirs.flatMap((path) => [path.slice(0, -2), path])].sort(), 'in order')

  await a.delete('/many')
  await t.rejects(a.list('/many'), PathNotFoundError)
  const left = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: a.key('/many') }))
  t.equal(left.KeyCount, 0, 'every key deleted, in batches of 1,000')
})

t.test('delete aborts unfinished multipart uploads below the path; delete of a prefix spares its siblings', async (t) => {
  const a = driverFor(t)
  await a.putContent('/u/up1/startedat', Buffer.from('now'))
  const key = a.key('/u/up1/data')
  const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }))
  await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: created.UploadId, PartNumber: 1, Body: Buffer.from('orphan') }))
  await a.putContent('/u/up10/data', Buffer.from('sibling'))
  await a.putContent('/u/up1-x', Buffer.from('sibling'))
  t.same(await openUploads(a), [key])
  await a.delete('/u/up1')
  t.same(await openUploads(a), [], 'aborted')
  t.same(await a.list('/u'), ['/u/up1-x', '/u/up10'])
})

t.test('cancel aborts the upload and removes the file', async (t) => {
  const a = driverFor(t, { chunksize: MIN, minpartsize: MIN })
  const w = await a.writer('/c/data', false)
  await w.write(chunked(bytes(3 * MIN, 40), MIN))
  t.equal((await openUploads(a)).length, 1, 'parts were uploaded')
  await w.cancel()
  t.same(await openUploads(a), [])
  await t.rejects(a.stat('/c/data'), PathNotFoundError)
})

t.test('a failing part upload keeps the writer usable and the size honest', async (t) => {
  const a = driverFor(t, { chunksize: MIN, minpartsize: MIN })
  const w = await a.writer('/fail/data', false)
  // A part of the minimum size from a missing bucket: the driver's own client is pointed elsewhere for one call.
  const send = a.client.send.bind(a.client)
  let failed = false
  ;(a.client as unknown as { send: unknown }).send = async (command: { constructor: { name: string } }, ...rest: unknown[]) => {
    if (!failed && command.constructor.name === 'UploadPartCommand') {
      failed = true
      throw Object.assign(new Error('injected'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } })
    }
    return await (send as (...args: unknown[]) => Promise<unknown>)(command, ...rest)
  }
  const data = bytes(2 * MIN + 10, 50)
  await t.rejects(w.write(chunked(data, MIN)), StorageError)
  t.equal(w.size, MIN, 'the part that failed is still buffered and counted; nothing more was taken')
  await w.write(chunked(data.subarray(MIN), 1000))
  await w.commit()
  t.equal(await sha256Of(await a.reader('/fail/data')), sha256(data))
})

t.test('presigned URLs', async (t) => {
  const a = driverFor(t)
  await a.putContent('/blob/data', Buffer.from('fetched directly'))
  const get = await a.redirectURL('/blob/data', 'GET') as string
  t.match(get, /X-Amz-Signature=/)
  t.match(get, /X-Amz-Expires=1200/, '20 minutes')
  const response = await fetch(get)
  t.equal(response.status, 200)
  t.equal(await response.text(), 'fetched directly')

  const head = await a.redirectURL('/blob/data', 'HEAD') as string
  const headResponse = await fetch(head, { method: 'HEAD' })
  t.equal(headResponse.status, 200)
  t.equal(headResponse.headers.get('content-length'), '16')

  const tampered = get.replace(/X-Amz-Signature=([0-9a-f])/, (_match, c: string) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`)
  t.equal((await fetch(tampered)).status, 403, 'the signature is checked')
  t.equal((await fetch(head)).status, 403, 'a HEAD URL does not GET')
  t.equal((await fetch(await a.redirectURL('/blob/missing', 'GET') as string)).status, 404)
})

t.test('errors', async (t) => {
  const a = driverFor(t)
  await a.putContent('/e/file', Buffer.from('0123456789'))
  await t.rejects(a.reader('/e/file', 11), InvalidOffsetError)
  await t.rejects(a.reader('/e/file', 11, 0), InvalidOffsetError)
  t.equal((await collect(await a.reader('/e/file', 10, 0))).length, 0)
  await t.rejects(a.reader('/e/missing', 0, 0), PathNotFoundError)

  const lost = new S3Driver(s3Options(randomName('no-such-bucket')))
  t.teardown(() => lost.destroy())
  const error = await lost.getContent('/x').catch((e: unknown) => e)
  t.ok(error instanceof StorageError && !(error instanceof PathNotFoundError), 'a missing bucket is not a missing path')
  t.match((error as Error).message, /NoSuchBucket/)
  t.equal((error as StorageError).path, '/x')

  const denied = new S3Driver(s3Options(bucket, { secretkey: 'wrong-secret-key' }))
  t.teardown(() => denied.destroy())
  await t.rejects(denied.putContent('/x', Buffer.from('x')), { name: 'StorageError', message: /SignatureDoesNotMatch|AccessDenied/ })

  // Raw reads of what the driver stored, for good measure.
  const raw = await client.send(new GetObjectCommand({ Bucket: bucket, Key: a.key('/e/file') }))
  t.equal(await raw.Body?.transformToString(), '0123456789')
})

t.test('options', async (t) => {
  const base = s3Options(bucket)
  t.throws(() => new S3Driver({ ...base, bucket: '' }), /bucket/)
  t.throws(() => new S3Driver({ ...base, chunksize: S3_RULE_MIN_PART - 1 }), /chunksize/)
  t.throws(() => new S3Driver({ ...base, chunksize: S3_MAX_PART_SIZE + 1 }), /chunksize/)
  t.throws(() => new S3Driver({ ...base, minpartsize: MIN, chunksize: MIN - 1 }), /chunksize/)
  t.throws(() => new S3Driver({ ...base, multipartcopythresholdsize: 6 * GiB }), /multipartcopythresholdsize/)
  t.throws(() => new S3Driver({ ...base, secretkey: undefined }), /accesskey and secretkey/)
  t.throws(() => new S3Driver({ ...base, regionendpoint: undefined, region: undefined }), /region/)
  t.throws(() => new S3Driver({ ...base, regionendpoint: 'http://[bad' }), /regionendpoint/)
  const defaults = new S3Driver(base)
  t.same(defaults.settings, {
    rootPrefix: '',
    chunkSize: 10 * MiB,
    minPartSize: 5 * MiB,
    copyChunkSize: 32 * MiB,
    copyThreshold: 5 * GiB,
    copyConcurrency: 100
  })
  defaults.destroy()
  const scheme = new S3Driver({ ...base, regionendpoint: '127.0.0.1:7050', secure: false, rootdirectory: 'a//' })
  t.equal(scheme.key('/x'), 'a/x')
  t.equal(await scheme.client.config.endpoint?.().then((e) => `${e.protocol}//${e.hostname}:${String(e.port)}`), 'http://127.0.0.1:7050')
  scheme.destroy()
})

t.test('the plugin with storage: { s3 } (the SDK loaded on demand)', async (t) => {
  const rootdirectory = `/${randomName('plugin')}`
  const app = await buildRegistry({ storage: { s3: { ...s3Options(bucket), rootdirectory, chunksize: MIN, minpartsize: MIN } } })
  t.teardown(async () => await app.close())
  const { content, digest } = randomBlob(3 * MIN + 7)
  t.equal(await pushBlob(app, 'plugin/repo', content), digest)
  // Blob GETs go to the bucket by a signed URL (storage.redirect), which serves the bytes.
  const pulled = await app.inject({ method: 'GET', url: `/v2/plugin/repo/blobs/${digest}` })
  t.equal(pulled.statusCode, 307)
  const fromBucket = await fetch(String(pulled.headers.location))
  t.same(Buffer.from(await fromBucket.arrayBuffer()), content)
  const hex = digest.slice(7)
  const stored = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: `${rootdirectory.slice(1)}/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data` }))
  t.equal(stored.ContentLength, content.length, 'the blob is where distribution puts it')
  const cleaner = new S3Driver(s3Options(bucket, { rootdirectory }))
  await cleaner.delete('/')
  cleaner.destroy()

  t.throws(() => new App({ storage: { s3: s3Options(bucket) } }, app.log, ''), /App\.create/, 'the synchronous constructor cannot load the SDK')
  await t.rejects(buildRegistry({ storage: { s3: { bucket } } }), { name: 'RegistryConfigError', option: 'storage.s3.region' })
})

// Sizes beyond 10 GiB without moving 10 GiB: the plans for carrying an object over and for copying one.
t.test('part plans hold for any object size', async (t) => {
  const sizes = [S3_RULE_MIN_PART, 32 * MiB + 1, 5 * GiB - 1, 5 * GiB, 5 * GiB + 1, 10 * GiB + 7, 97 * GiB, 1024 * GiB + 3, 5 * 1024 * GiB]
  for (const size of sizes) {
    for (const plan of [headCopyRanges(size, 32 * MiB), multipartCopyRanges(size, 32 * MiB)]) {
      let next = 0
      let ok = plan.length <= S3_MAX_PARTS
      for (const [index, [first, last]] of plan.entries()) {
        const length = last - first + 1
        if (first !== next || length > S3_MAX_PART_SIZE || length < 1) ok = false
        next = last + 1
        if (index < plan.length - 1 && length < S3_RULE_MIN_PART) ok = false
      }
      t.ok(ok && next === size, `${size} bytes in ${plan.length} parts`)
    }
    const head = headCopyRanges(size, 32 * MiB)
    t.ok(head.length <= 1024, `carrying ${size} bytes over leaves part numbers for new data`)
    t.ok(head.every(([first, last]) => last - first + 1 >= S3_RULE_MIN_PART), `every carried range of ${size} is a valid non-last part`)
  }
})
