import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { buildRegistry, errorCode, pathOf, pushBlob, randomBlob } from '../helpers/registry.js'
import { pushImage } from '../helpers/images.js'

const exec = promisify(execFile)
const octet = { 'content-type': 'application/octet-stream' }

/** Every file below a directory, as relative paths. */
async function filesUnder (dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
}

t.test('a small filesystem runs out of space: clear errors, nothing partial, reads go on, writes resume once space is freed', async (t) => {
  // A real full disk: a 24 MiB tmpfs mounted by the test (CI runs as root).
  const mountPoint = await mkdtemp(join(tmpdir(), 'oci-registry-full-'))
  await exec('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mountPoint]).catch((error: Error) => {
    throw new Error(`this suite needs to mount a tmpfs (run as root): ${error.message}`)
  })
  t.teardown(async () => {
    await exec('umount', [mountPoint]).catch(() => {})
    await rm(mountPoint, { recursive: true, force: true })
  })
  const root = join(mountPoint, 'registry')
  const app = await buildRegistry({ storage: { filesystem: { rootDirectory: root } } })
  t.teardown(async () => await app.close())

  const image = await pushImage(app, 'app', 'v1')
  const small = await pushBlob(app, 'app', Buffer.from('small blob that must stay readable'))

  const huge = randomBlob(32 * 1024 * 1024)
  const monolithic = await app.inject({ method: 'POST', url: `/v2/app/blobs/uploads/?digest=${huge.digest}`, payload: huge.content, headers: octet })
  t.equal(monolithic.statusCode, 507, 'a monolithic push that does not fit')
  t.equal(errorCode(monolithic.body), 'UNAVAILABLE')
  t.match(monolithic.body, /storage is full/)
  t.equal((await app.inject({ method: 'HEAD', url: `/v2/app/blobs/${huge.digest}` })).statusCode, 404, 'nothing partial is visible')
  t.same((await filesUnder(root)).filter((file) => file.includes('_uploads')), [], 'the failed monolithic upload left nothing behind')

  const start = await app.inject({ method: 'POST', url: '/v2/app/blobs/uploads/' })
  const chunk = await app.inject({ method: 'PATCH', url: pathOf(start.headers.location), payload: huge.content, headers: octet })
  t.equal(chunk.statusCode, 507, 'a chunk that does not fit')
  t.equal(errorCode(chunk.body), 'UNAVAILABLE')

  for (const url of [`/v2/app/blobs/${small}`, '/v2/app/manifests/v1', `/v2/app/manifests/${image.digest}`, '/v2/app/tags/list', '/v2/_catalog']) {
    t.equal((await app.inject({ method: 'GET', url })).statusCode, 200, `reads still served while full: ${url}`)
  }

  // Fill what is left, then a manifest PUT (a small atomic write) must fail cleanly too.
  const filler = join(mountPoint, 'filler')
  await writeFile(filler, Buffer.alloc(1)).catch(() => {})
  await exec('sh', ['-c', `cat /dev/zero > ${JSON.stringify(filler)} 2>/dev/null || true`])
  const second = await pushImage(app, 'app', 'v2').then(() => 201, () => 'refused')
  t.equal(second, 'refused', 'a full disk refuses a whole image push')
  const tempFiles = (await filesUnder(root)).filter((file) => file.split('/').pop()!.startsWith('.'))
  t.same(tempFiles, [], 'no temporary files are left where clients could see them')
  t.equal((await app.inject({ method: 'GET', url: '/v2/app/manifests/v2' })).statusCode, 404, 'the tag was not half-written')

  // Free the space: the cancelled upload and the filler.
  t.equal((await app.inject({ method: 'DELETE', url: pathOf(chunk.headers.location ?? start.headers.location) })).statusCode, 204)
  await rm(filler)
  const retry = randomBlob(8 * 1024 * 1024)
  const after = await app.inject({ method: 'POST', url: `/v2/app/blobs/uploads/?digest=${retry.digest}`, payload: retry.content, headers: octet })
  t.equal(after.statusCode, 201, 'pushes work again once space is freed')
  await pushImage(app, 'app', 'v3')
  t.equal((await app.inject({ method: 'GET', url: '/v2/app/manifests/v3' })).statusCode, 200)
})
