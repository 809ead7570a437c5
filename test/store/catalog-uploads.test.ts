/**
 * The catalog past abandoned uploads (issue 20, point 6): 20,000 directories
 * that hold only `_uploads/<uuid>/{data,startedat}`, written straight onto disk
 * in distribution's layout, around a few real repositories. The catalog's pages
 * list exactly the real ones, in order, with the same pagination as ever. (How
 * long it takes is measured by bench/catalog-uploads.ts, not asserted here.)
 */
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { InMemoryDriver } from '../../lib/storage/inmemory.js'
import { paths } from '../../lib/store/paths.js'
import { RepositoryStore } from '../../lib/store/repositories.js'
import { buildRegistry, largeTreeDir } from '../helpers/registry.js'

// Seeding 60,000 directories and walking them a few times takes a minute or two on a busy machine.
t.setTimeout(600_000)

const ABANDONED = 20_000
// Before, among and after the upload-only directories (`upload-NNNNN`), nested and not.
const REAL = ['alpha/one', 'library/base', 'upload-09999/nested', 'upload-10000x', 'upload-19999/deep/er', 'zz-final']
const HEX = 'a'.repeat(64)

/** Seeded with synchronous calls: the test process has nothing else to do meanwhile, and it is many times faster. */
function seed (root: string): void {
  const repositories = join(root, ...paths.repositoriesRoot.split('/'))
  for (let next = 0; next < ABANDONED; next++) {
    const upload = join(repositories, `upload-${String(next).padStart(5, '0')}`, '_uploads', randomUUID())
    mkdirSync(upload, { recursive: true })
    writeFileSync(join(upload, 'data'), 'partial')
    writeFileSync(join(upload, 'startedat'), '2020-01-01T00:00:00Z')
  }
  for (const name of REAL) {
    const link = join(repositories, ...name.split('/'), name === 'library/base' ? '_manifests' : '_layers', 'sha256', HEX, 'link')
    mkdirSync(join(link, '..'), { recursive: true })
    writeFileSync(link, `sha256:${HEX}`)
  }
}

async function page (app: FastifyInstance, url: string): Promise<{ names: string[], next: string | undefined }> {
  const response = await app.inject({ method: 'GET', url })
  if (response.statusCode !== 200) throw new Error(`${url}: ${response.statusCode} ${response.body}`)
  const link = response.headers.link
  return {
    names: (response.json() as { repositories: string[] }).repositories,
    next: typeof link === 'string' ? /^<([^>]+)>; rel="next"$/.exec(link)?.[1] : undefined
  }
}

t.test('20,000 upload-only directories: the catalog lists exactly the real repositories', async (t) => {
  const root = await largeTreeDir('oci-catalog-uploads-')
  t.teardown(root.cleanup)
  const seeding = Date.now()
  seed(root.path)
  t.comment(`seeded in ${Date.now() - seeding} ms`)
  const app = await buildRegistry({ storage: { filesystem: { rootDirectory: root.path } }, limits: { catalogPageSize: 100 } })
  t.teardown(async () => await app.close())

  const sorted = [...REAL].sort()
  t.same(await page(app, '/v2/_catalog?n=5&last=junk'), { names: sorted.filter((name) => name > 'junk'), next: undefined }, 'the issue\'s request: n=5 after a name that is not there')
  t.same(await page(app, '/v2/_catalog?n=2&last=upload-05000'), {
    names: ['upload-09999/nested', 'upload-10000x'],
    next: '/v2/_catalog?n=2&last=upload-10000x'
  }, 'a page that starts among the abandoned directories, with the Link to the next')

  const seen: string[] = []
  let url: string | undefined = '/v2/_catalog?n=4'
  while (url !== undefined) {
    const { names, next } = await page(app, url)
    t.ok(names.length <= 4, 'a page of at most 4')
    seen.push(...names)
    url = next
  }
  t.same(seen, sorted, 'pages of 4 followed through Link cover the real repositories once, in order')
})

/** Counts the listings running at once, each taking a few milliseconds. */
class SlowDriver extends InMemoryDriver {
  running = 0
  most = 0
  listed = 0

  override async list (path: string): Promise<string[]> {
    this.listed++
    this.most = Math.max(this.most, ++this.running)
    try {
      await new Promise((resolve) => setTimeout(resolve, 2))
      return await super.list(path)
    } finally {
      this.running--
    }
  }
}

t.test('a run of directories that are not repositories is listed a bounded few at a time', async (t) => {
  const driver = new SlowDriver()
  for (let i = 0; i < 200; i++) await driver.putContent(`${paths.repository(`u${String(i).padStart(3, '0')}`)}/_uploads/x/startedat`, Buffer.from('x'))
  await driver.putContent(`${paths.repository('u150/real')}/_layers/sha256/${HEX}/link`, Buffer.from(`sha256:${HEX}`))
  await driver.putContent(`${paths.repository('u199-real')}/_manifests/revisions/sha256/${HEX}/link`, Buffer.from(`sha256:${HEX}`))
  const store = new RepositoryStore(driver)
  t.same(await store.list(), ['u150/real', 'u199-real'])
  t.ok(driver.most > 1, `listings overlap past the first few non-repositories (at most ${driver.most} at once)`)
  t.ok(driver.most <= 16, `at most 16 at once (${driver.most})`)
  t.equal(driver.listed, 1 + 200 + 2, 'every directory listed once: the root, the 200, u150/real and u199-real')

  driver.listed = 0
  driver.most = 0
  t.same(await store.list('u150', 1), ['u150/real'])
  t.equal(driver.most, 1, 'a page that finds a repository straight away lists one directory at a time')
  t.equal(driver.listed, 3, 'the root, u150 and u150/real')
})
