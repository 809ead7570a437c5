import t from 'tap'
import { buildRegistry, errorCode, pushBlob, sha256 } from '../helpers/registry.js'
import { OCI_INDEX, OCI_MANIFEST, pushImage, putManifest } from '../helpers/images.js'

const EMPTY = Buffer.from('{}')

async function artifact (app: Awaited<ReturnType<typeof buildRegistry>>, name: string, subject: { digest: string, body: Buffer, mediaType: string } | { digest: string, size: number, mediaType: string }, artifactType: string, annotations: Record<string, string> = {}): Promise<{ digest: string, body: Buffer, mediaType: string }> {
  const emptyDigest = await pushBlob(app, name, EMPTY)
  const layer = Buffer.from(`payload ${artifactType} ${JSON.stringify(annotations)}`)
  const layerDigest = await pushBlob(app, name, layer)
  const size = 'body' in subject ? subject.body.length : subject.size
  const body = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType,
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: emptyDigest, size: 2 },
    layers: [{ mediaType: 'application/octet-stream', digest: layerDigest, size: layer.length }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size },
    annotations
  }))
  return { digest: sha256(body), body, mediaType: OCI_MANIFEST }
}

t.test('referrers: artifacts with a subject, filter, updates on delete', async (t) => {
  const app = await buildRegistry({ delete: { enabled: true } })
  t.teardown(async () => await app.close())
  const image = await pushImage(app, 'r', 'v1')
  const sbom = await artifact(app, 'r', image, 'application/vnd.example.sbom', { 'org.example.kind': 'sbom' })
  const signature = await artifact(app, 'r', image, 'application/vnd.example.signature')

  for (const manifest of [sbom, signature]) {
    const put = await putManifest(app, 'r', manifest.digest, manifest)
    t.equal(put.statusCode, 201, put.body)
    t.equal(put.headers['oci-subject'], image.digest)
  }

  const all = await app.inject({ method: 'GET', url: `/v2/r/referrers/${image.digest}` })
  t.equal(all.statusCode, 200)
  t.equal(all.headers['content-type'], OCI_INDEX)
  const index = all.json()
  t.equal(index.schemaVersion, 2)
  t.equal(index.mediaType, OCI_INDEX)
  t.equal(index.manifests.length, 2)
  const bySbom = index.manifests.find((entry: { digest: string }) => entry.digest === sbom.digest)
  t.same(bySbom, { mediaType: OCI_MANIFEST, digest: sbom.digest, size: sbom.body.length, artifactType: 'application/vnd.example.sbom', annotations: { 'org.example.kind': 'sbom' } })
  t.equal(all.headers['oci-filters-applied'], undefined)

  const filtered = await app.inject({ method: 'GET', url: `/v2/r/referrers/${image.digest}?artifactType=${encodeURIComponent('application/vnd.example.signature')}` })
  t.equal(filtered.headers['oci-filters-applied'], 'artifactType')
  t.same(filtered.json().manifests.map((entry: { digest: string }) => entry.digest), [signature.digest])

  const del = await app.inject({ method: 'DELETE', url: `/v2/r/manifests/${signature.digest}` })
  t.equal(del.statusCode, 202)
  const after = await app.inject({ method: 'GET', url: `/v2/r/referrers/${image.digest}` })
  t.same(after.json().manifests.map((entry: { digest: string }) => entry.digest), [sbom.digest])
})

t.test('a subject that does not exist is accepted; its referrers are listed', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const missing = { digest: sha256(Buffer.from('future image')), size: 12, mediaType: OCI_MANIFEST }
  const sig = await artifact(app, 'r', missing, 'application/vnd.example.sig')
  const put = await putManifest(app, 'r', 'sig', sig)
  t.equal(put.statusCode, 201, put.body)
  t.equal(put.headers['oci-subject'], missing.digest)
  const list = await app.inject({ method: 'GET', url: `/v2/r/referrers/${missing.digest}` })
  t.equal(list.json().manifests.length, 1)
})

t.test('no referrers: 200 with an empty index; bad digest: 400', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const empty = await app.inject({ method: 'GET', url: `/v2/r/referrers/${sha256(Buffer.from('x'))}` })
  t.equal(empty.statusCode, 200)
  t.same(empty.json(), { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] })
  const bad = await app.inject({ method: 'GET', url: '/v2/r/referrers/sha256:nope' })
  t.equal(bad.statusCode, 400)
  t.equal(errorCode(bad.body), 'DIGEST_INVALID')
})

t.test('many referrers are paginated with Link', async (t) => {
  const app = await buildRegistry({ limits: { tagsPageSize: 3 } })
  t.teardown(async () => await app.close())
  const image = await pushImage(app, 'r', 'v1')
  const digests: string[] = []
  for (let i = 0; i < 7; i++) {
    const a = await artifact(app, 'r', image, 'application/vnd.example.n', { n: String(i) })
    await putManifest(app, 'r', a.digest, a)
    digests.push(a.digest)
  }
  const seen: string[] = []
  let url: string | undefined = `/v2/r/referrers/${image.digest}`
  while (url !== undefined) {
    const page = await app.inject({ method: 'GET', url })
    t.equal(page.statusCode, 200)
    seen.push(...page.json().manifests.map((entry: { digest: string }) => entry.digest))
    const link = page.headers.link as string | undefined
    url = link === undefined ? undefined : new URL(/<([^>]+)>/.exec(link)![1], 'http://x').pathname + new URL(/<([^>]+)>/.exec(link)![1], 'http://x').search
  }
  t.same(seen, [...digests].sort(), 'every referrer once, in digest order')
})
