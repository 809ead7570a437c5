/**
 * Referrers are read by a sorted walk that stops when the page is full: the
 * index's digests after `last`, a batch of manifests at a time (bounded).
 * 150 referrers of two artifact types, more than one batch, paged with and
 * without the filter: every referrer once, in digest order, and reads follow the page.
 */
import t from 'tap'
import { InMemoryDriver } from '../../lib/storage/inmemory.js'
import { buildRegistry, pushBlob, sha256 } from '../helpers/registry.js'
import { OCI_INDEX, OCI_MANIFEST, pushImage } from '../helpers/images.js'

const COUNT = 150

/** Counts the looks at manifest revision links: through the link cache's version check, or a read. */
class CountingDriver extends InMemoryDriver {
  reads = 0
  override async getContent (path: string): Promise<Buffer> {
    if (path.includes('/_manifests/revisions/')) this.reads++
    return await super.getContent(path)
  }

  override version (path: string): string | undefined {
    if (path.includes('/_manifests/revisions/')) this.reads++
    return super.version(path)
  }
}

async function followPages (app: Awaited<ReturnType<typeof buildRegistry>>, first: string): Promise<{ digests: string[], pages: number, types: Set<string>, links: string[] }> {
  const digests: string[] = []
  const types = new Set<string>()
  const links: string[] = []
  let pages = 0
  let url: string | undefined = first
  while (url !== undefined && pages < 100) {
    const page = await app.inject({ method: 'GET', url })
    if (page.statusCode !== 200) throw new Error(`${url}: ${page.statusCode} ${page.body}`)
    pages++
    for (const entry of page.json().manifests as Array<{ digest: string, artifactType: string }>) {
      digests.push(entry.digest)
      types.add(entry.artifactType)
    }
    const link = page.headers.link as string | undefined
    if (link !== undefined) links.push(link)
    url = link === undefined ? undefined : /^<([^>]+)>; rel="next"$/.exec(link)?.[1]
  }
  return { digests, pages, types, links }
}

t.test('150 referrers of two types, paged with and without a filter', async (t) => {
  const driver = new CountingDriver()
  const app = await buildRegistry({ storage: driver })
  t.teardown(async () => await app.close())
  const image = await pushImage(app, 'r', 'v1')
  const empty = await pushBlob(app, 'r', Buffer.from('{}'))
  const byType: Record<string, string[]> = { 'application/vnd.example.even': [], 'application/vnd.example.odd': [] }
  for (let i = 0; i < COUNT; i++) {
    const artifactType = i % 2 === 0 ? 'application/vnd.example.even' : 'application/vnd.example.odd'
    const body = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 }],
      subject: { mediaType: image.mediaType, digest: image.digest, size: image.body.length },
      annotations: { n: String(i) }
    }))
    const put = await app.inject({ method: 'PUT', url: `/v2/r/manifests/${sha256(body)}`, payload: body, headers: { 'content-type': OCI_MANIFEST } })
    t.equal(put.statusCode, 201)
    byType[artifactType].push(sha256(body))
  }
  const all = Object.values(byType).flat().sort()

  const whole = await app.inject({ method: 'GET', url: `/v2/r/referrers/${image.digest}` })
  t.equal(whole.headers['content-type'], OCI_INDEX)
  t.same(whole.json().manifests.map((entry: { digest: string }) => entry.digest), all, 'all 150 on one page (the default page is 1,000)')

  const paged = await followPages(app, `/v2/r/referrers/${image.digest}?n=10`)
  t.same(paged.digests, all, 'pages of 10: every referrer once, in digest order')
  t.equal(paged.pages, 15)

  const odd = await followPages(app, `/v2/r/referrers/${image.digest}?n=7&artifactType=application/vnd.example.odd`)
  t.same(odd.digests, [...byType['application/vnd.example.odd']].sort(), 'filtered pages of 7: every odd referrer once, in order')
  t.same([...odd.types], ['application/vnd.example.odd'])
  t.equal(odd.pages, Math.ceil(75 / 7))
  t.ok(odd.links.every((link) => link.includes('artifactType=application%2Fvnd.example.odd') || link.includes('artifactType=application/vnd.example.odd')), 'the filter is carried in Link')

  // A page after `last` reads the revision links of about one batch, not of all 150.
  const last = all[139]
  driver.reads = 0
  const tail = await app.inject({ method: 'GET', url: `/v2/r/referrers/${image.digest}?n=3&last=${last}` })
  t.same(tail.json().manifests.map((entry: { digest: string }) => entry.digest), all.slice(140, 143))
  t.ok(driver.reads > 0 && driver.reads <= 2 * 10, `a page after the 140th reads only the 10 after it (${driver.reads} looks at revision links)`)
  t.match(tail.headers.link, `last=${encodeURIComponent(all[142])}`)
  driver.reads = 0
  await app.inject({ method: 'GET', url: `/v2/r/referrers/${image.digest}?n=3` })
  t.ok(driver.reads <= 2 * 64, `a first page of 3 reads one batch, not all 150 (${driver.reads} looks at revision links)`)

  const none = await app.inject({ method: 'GET', url: `/v2/r/referrers/${image.digest}?n=0` })
  t.same(none.json().manifests, [])
  t.equal(none.headers.link, undefined)
})
