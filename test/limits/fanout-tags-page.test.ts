/**
 * A tags page of 1,000 out of 100,000: the standalone server (under
 * `prlimit --nofile=1024`) answers the right 1,000 and a Link header. A page
 * reads the tags directory's names once, cuts the n + 1 after `last`, and
 * reads only those tags' links. The time is printed as a comment, not asserted.
 */
import t from 'tap'
import { largeTreeDir } from '../helpers/registry.js'
import { OCI_MANIFEST, client, manifestOf, seedLinkedBlobs, seedTags, sha256Digest, startLimitedProcess } from '../helpers/limited-process.js'
import type { RunningRegistry } from '../helpers/standalone-process.js'

t.setTimeout(900_000)

const NAME = 'hundred/thousand'
const TAGS = 100_000

const root = await largeTreeDir('oci-fanout-page-')
t.teardown(root.cleanup)
let registry: RunningRegistry
let http: ReturnType<typeof client>
const tags = Array.from({ length: TAGS }, (_unused, i) => `v${String(i).padStart(6, '0')}`)

t.before(async () => {
  registry = await startLimitedProcess({ REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root.path, REGISTRY_HTTP_SECRET: 'fanout-test-secret' })
  http = client(registry.url)
  const [config] = await seedLinkedBlobs(root.path, NAME, 1, 'config ')
  const manifest = manifestOf(config, [])
  const pushed = await http.send('PUT', `/v2/${NAME}/manifests/${sha256Digest(manifest)}`, manifest, OCI_MANIFEST)
  if (pushed.status !== 201) throw new Error(`seed manifest: ${pushed.status} ${pushed.body.toString()}`)
  // Only `current/link`: what a page reads (the index links are history).
  await seedTags(root.path, NAME, tags, sha256Digest(manifest), false)
})
t.teardown(async () => {
  await http?.close()
  await registry?.stop()
})

t.test('GET tags/list?n=1000&last=... of 100,000 tags: the right 1,000 and a Link', async (t) => {
  const last = tags[49_999]
  const times: number[] = []
  for (let run = 0; run < 3; run++) {
    const started = performance.now()
    const page = await http.send('GET', `/v2/${NAME}/tags/list?n=1000&last=${last}`)
    times.push(performance.now() - started)
    t.equal(page.status, 200)
    t.same(JSON.parse(page.body.toString()), { name: NAME, tags: tags.slice(50_000, 51_000) })
    t.equal(page.headers.link, `</v2/${NAME}/tags/list?n=1000&last=${tags[50_999]}>; rel="next"`)
  }
  t.comment(`n=1000 after ${last} of ${TAGS} tags: ${times.map((ms) => `${ms.toFixed(0)} ms`).join(', ')} (measured, not asserted)`)

  const final = await http.send('GET', `/v2/${NAME}/tags/list?n=1000&last=${tags[TAGS - 501]}`)
  t.same(JSON.parse(final.body.toString()).tags, tags.slice(TAGS - 500), 'the last, short page')
  t.equal(final.headers.link, undefined, 'and no Link after it')
  const past = await http.send('GET', `/v2/${NAME}/tags/list?n=1000&last=zzz`)
  t.same(JSON.parse(past.body.toString()), { name: NAME, tags: [] }, 'nothing after the last tag')
})

t.test('the server never ran out of descriptors', async (t) => {
  t.notMatch(registry.output(), /EMFILE|ENFILE|unexpected error/)
})
