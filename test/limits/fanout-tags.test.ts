/**
 * Tag fan-outs at the common descriptor limit: the standalone server runs
 * under `prlimit --nofile=1024`; a repository with 3,000 tags lists whole and
 * paginated, and a DELETE of the manifest they all name answers 202 and
 * removes them, while 30 blob pulls go on. Tags are written straight into the
 * storage layout; statuses and bodies are asserted, never timings.
 */
import t from 'tap'
import { largeTreeDir } from '../helpers/registry.js'
import { OCI_MANIFEST, client, manifestOf, seedLinkedBlobs, seedTags, sha256Digest, startLimitedProcess, type SeededBlob } from '../helpers/limited-process.js'
import type { RunningRegistry } from '../helpers/standalone-process.js'

t.setTimeout(600_000)

const PULLED = 'pulled/blobs'
const TAGGED = 'many/tags'
const TAGS = 3_000

const root = await largeTreeDir('oci-fanout-tags-')
t.teardown(root.cleanup)
let registry: RunningRegistry
let http: ReturnType<typeof client>
let pulledBlobs: SeededBlob[]
const tags = Array.from({ length: TAGS }, (_unused, i) => `t${String(i).padStart(4, '0')}`)
let digest: string

t.before(async () => {
  pulledBlobs = await seedLinkedBlobs(root.path, PULLED, 100, 'pulled ')
  registry = await startLimitedProcess({ REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root.path, REGISTRY_STORAGE_DELETE_ENABLED: 'true', REGISTRY_HTTP_SECRET: 'fanout-test-secret' })
  http = client(registry.url)
  // The manifest is pushed over HTTP (its config blob seeded and linked), its 3,000 tags written on disk.
  const [config] = await seedLinkedBlobs(root.path, TAGGED, 1, 'config ')
  const manifest = manifestOf(config, [])
  const pushed = await http.send('PUT', `/v2/${TAGGED}/manifests/seed`, manifest, OCI_MANIFEST)
  if (pushed.status !== 201) throw new Error(`seed manifest: ${pushed.status} ${pushed.body.toString()}`)
  digest = sha256Digest(manifest)
  await seedTags(root.path, TAGGED, tags, digest)
})
t.teardown(async () => {
  await http?.close()
  await registry?.stop()
})

t.test('3,000 tags list whole, pulls meanwhile', async (t) => {
  const { result, pulled } = await http.withPulls(PULLED, pulledBlobs, async () => await http.send('GET', `/v2/${TAGGED}/tags/list`))
  t.equal(result.status, 200, result.body.toString().slice(0, 500))
  t.same(JSON.parse(result.body.toString()), { name: TAGGED, tags: [...tags, 'seed'].sort() })
  t.equal(result.headers.link, undefined)
  t.same(pulled, { blobs: 30, base: 1 }, 'every concurrent blob GET and GET /v2/ succeeded')
})

t.test('3,000 tags in pages of 1,000 follow Link to the end, in order', async (t) => {
  const all = [...tags, 'seed'].sort()
  const pages: string[][] = []
  let path: string | undefined = `/v2/${TAGGED}/tags/list?n=1000`
  while (path !== undefined && pages.length < 10) {
    const page = await http.send('GET', path)
    t.equal(page.status, 200)
    pages.push((JSON.parse(page.body.toString()) as { tags: string[] }).tags)
    const link = page.headers.link
    path = typeof link === 'string' ? /^<([^>]+)>; rel="next"$/.exec(link)?.[1] : undefined
  }
  t.same(pages.map((page) => page.length), [1000, 1000, 1000, 1], '3,001 tags: three full pages and one')
  t.same(pages.flat(), all, 'the pages together are the whole list, in order')
  const middle = await http.send('GET', `/v2/${TAGGED}/tags/list?n=5&last=t1499`)
  t.same(JSON.parse(middle.body.toString()).tags, ['t1500', 't1501', 't1502', 't1503', 't1504'])
  t.equal(middle.headers.link, `</v2/${TAGGED}/tags/list?n=5&last=t1504>; rel="next"`)
})

t.test('DELETE of the manifest 3,000 tags name answers 202 and removes them all, pulls meanwhile', async (t) => {
  const { result, pulled } = await http.withPulls(PULLED, pulledBlobs, async () => await http.send('DELETE', `/v2/${TAGGED}/manifests/${digest}`))
  t.equal(result.status, 202, result.body.toString().slice(0, 500))
  t.same(pulled, { blobs: 30, base: 1 }, 'every concurrent blob GET and GET /v2/ succeeded during the delete')
  const after = await http.send('GET', `/v2/${TAGGED}/tags/list`)
  t.equal(after.status, 200)
  t.same(JSON.parse(after.body.toString()), { name: TAGGED, tags: [] }, 'every tag is gone')
  t.equal((await http.send('GET', `/v2/${TAGGED}/manifests/t1234`)).status, 404)
  t.equal((await http.send('GET', `/v2/${TAGGED}/manifests/${digest}`)).status, 404)
})

t.test('the server never ran out of descriptors', async (t) => {
  t.notMatch(registry.output(), /EMFILE|ENFILE|unexpected error/)
})
