/**
 * Manifest reference checks at the common descriptor limit: the standalone
 * server runs under `prlimit --nofile=1024`, and manifests naming 1,100 and
 * 37,000 existing layers answer 201 while 30 blob pulls go on. Blobs are
 * written straight into the storage layout (pushing 37,000 takes far longer);
 * statuses and bodies are asserted, never timings (bench/fanout.ts times them).
 */
import t from 'tap'
import { largeTreeDir } from '../helpers/registry.js'
import { OCI_MANIFEST, client, manifestOf, seedLinkedBlobs, sha256Digest, startLimitedProcess, type SeededBlob } from '../helpers/limited-process.js'
import type { RunningRegistry } from '../helpers/standalone-process.js'

// Seeding 37,000 blobs and checking them twice is slow on a busy machine; nothing here is timed.
t.setTimeout(900_000)

const NAME = 'big/layers'
const LAYERS = 37_000

const root = await largeTreeDir('oci-fanout-layers-')
t.teardown(root.cleanup)
let registry: RunningRegistry
let http: ReturnType<typeof client>
let config: SeededBlob
let layers: SeededBlob[]

t.before(async () => {
  [config, ...layers] = await seedLinkedBlobs(root.path, NAME, LAYERS + 1)
  registry = await startLimitedProcess({ REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root.path, REGISTRY_HTTP_SECRET: 'fanout-test-secret' })
  http = client(registry.url)
})
t.teardown(async () => {
  await http?.close()
  await registry?.stop()
})

t.test('64 manifest PUTs at once, 500 distinct layers each, all answer 201: the process-wide bound holds', async (t) => {
  // 64 calls of 16 reads each could open 1,024 files at once; the shared slots keep them to 128.
  const puts = Array.from({ length: 64 }, (_unused, i) => manifestOf(config, layers.slice(1100 + i * 500, 1100 + (i + 1) * 500)))
  const { result, pulled } = await http.withPulls(NAME, layers, async () => await Promise.all(puts.map(async (manifest, i) => await http.send('PUT', `/v2/${NAME}/manifests/many-${i}`, manifest, OCI_MANIFEST))))
  t.same(result.map((answer) => answer.status), puts.map(() => 201), result.find((answer) => answer.status !== 201)?.body.toString().slice(0, 500) ?? 'every PUT answered 201')
  t.same(pulled, { blobs: 30, base: 1 }, 'every concurrent blob GET and GET /v2/ succeeded')
})

t.test('a manifest with 1,100 existing layers answers 201 under 1,024 descriptors, pulls meanwhile', async (t) => {
  const manifest = manifestOf(config, layers.slice(0, 1100))
  const { result, pulled } = await http.withPulls(NAME, layers, async () => await http.send('PUT', `/v2/${NAME}/manifests/layers-1100`, manifest, OCI_MANIFEST))
  t.equal(result.status, 201, result.body.toString().slice(0, 500))
  t.equal(result.headers['docker-content-digest'], sha256Digest(manifest))
  t.same(pulled, { blobs: 30, base: 1 }, 'every concurrent blob GET and GET /v2/ succeeded')
  const back = await http.send('GET', `/v2/${NAME}/manifests/layers-1100`)
  t.equal(back.status, 200)
  t.ok(back.body.equals(manifest), 'the exact bytes come back')
})

t.test('a manifest with 37,000 existing layers under 4 MiB answers 201, pulls meanwhile', async (t) => {
  const manifest = manifestOf(config, layers)
  t.ok(manifest.length < 4 * 1024 * 1024, `${manifest.length} bytes, under the 4 MiB limit`)
  const { result, pulled } = await http.withPulls(NAME, layers, async () => await http.send('PUT', `/v2/${NAME}/manifests/layers-37000`, manifest, OCI_MANIFEST))
  t.equal(result.status, 201, result.body.toString().slice(0, 500))
  t.same(pulled, { blobs: 30, base: 1 }, 'every concurrent blob GET and GET /v2/ succeeded')
  const back = await http.send('GET', `/v2/${NAME}/manifests/${sha256Digest(manifest)}`)
  t.equal(back.status, 200)
  t.ok(back.body.equals(manifest), 'the exact bytes come back')
})

t.test('37,000 layers with one missing: 400 MANIFEST_BLOB_UNKNOWN naming it, with a short detail', async (t) => {
  const missing = { digest: sha256Digest(Buffer.from('never pushed')), size: 12 }
  const withMissing = [...layers]
  withMissing[20_000] = missing
  const result = await http.send('PUT', `/v2/${NAME}/manifests/one-missing`, manifestOf(config, withMissing), OCI_MANIFEST)
  t.equal(result.status, 400)
  const [error] = (JSON.parse(result.body.toString()) as { errors: Array<{ code: string, detail: { digests: string[] } }> }).errors
  t.equal(error.code, 'MANIFEST_BLOB_UNKNOWN')
  t.same(error.detail.digests, [missing.digest], 'the missing blob, and only it')
  t.ok(result.body.length < 2048, 'the refusal does not list 37,000 digests')
  t.equal((await http.send('GET', `/v2/${NAME}/manifests/one-missing`)).status, 404, 'the tag was not written')
})

t.test('the server never ran out of descriptors', async (t) => {
  t.notMatch(registry.output(), /EMFILE|ENFILE|unexpected error/)
})
