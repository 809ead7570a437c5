/**
 * The catalog's page-bounded walk (lib/store/repository-walk.ts through
 * RepositoryStore.list): names in exact `<` order, only the directories a
 * page needs listed, against a naive full sort over generated trees on the
 * in-memory and filesystem drivers.
 */
import t from 'tap'
import fc from 'fast-check'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { StorageDriver } from '../../lib/storage/driver.js'
import { FilesystemDriver } from '../../lib/storage/filesystem.js'
import { InMemoryDriver } from '../../lib/storage/inmemory.js'
import { paginate, pageOf } from '../../lib/http/pagination.js'
import { paths } from '../../lib/store/paths.js'
import { RepositoryStore } from '../../lib/store/repositories.js'
import { fuzzParameters } from '../helpers/fuzz-oracle.js'
import { buildRegistry, pushBlob, tempDir } from '../helpers/registry.js'

/** Records every directory listed, as a name relative to `repositories/` ('' for the root). */
class CountingDriver extends InMemoryDriver {
  readonly listed: string[] = []

  override async list (path: string): Promise<string[]> {
    this.listed.push(relativeName(path))
    return await super.list(path)
  }
}

function relativeName (path: string): string {
  return path === paths.repositoriesRoot ? '' : path.slice(paths.repositoriesRoot.length + 1)
}

type Kind = '_layers' | '_manifests' | '_uploads' | '_referrers'

/** A file that makes `name` a directory; a repository when `kind` is `_layers` or `_manifests`. */
interface Planted { name: string, kind: Kind }

async function plant (driver: StorageDriver, files: Planted[]): Promise<void> {
  for (const { name, kind } of files) await driver.putContent(`${paths.repository(name)}/${kind}/x/link`, Buffer.from('sha256:0'))
}

/** The naive answer: every directory from the planted paths, `_`-prefixed ones unreachable, then one full sort. */
function naiveRepositories (files: Planted[]): string[] {
  const relative = files.map(({ name, kind }) => `${name}/${kind}/x/link`)
  const directories = new Set<string>()
  for (const path of relative) {
    const parts = path.split('/')
    for (let i = 1; i < parts.length; i++) directories.add(parts.slice(0, i).join('/'))
  }
  return [...directories]
    .filter((directory) => !directory.split('/').some((part) => part.startsWith('_')))
    .filter((directory) => relative.some((path) => path.startsWith(`${directory}/_layers/`) || path.startsWith(`${directory}/_manifests/`)))
    .sort()
}

function repositories (...names: string[]): Planted[] {
  return names.map((name) => ({ name, kind: '_layers' }))
}

t.test('siblings that extend a name with - or . sort between it and its nested repositories', async (t) => {
  const driver = new InMemoryDriver()
  const names = ['a', 'a/b', 'a/b/c', 'a-c', 'a-c/d', 'a.b', 'a_b', 'a0', 'a--b', 'b', 'b/a-', 'b/a', 'b-']
  await plant(driver, [...repositories(...names), { name: '_x/y', kind: '_layers' }, { name: 'a/_uploads', kind: '_layers' }])
  const store = new RepositoryStore(driver)
  const sorted = [...names].sort()
  t.same(sorted.slice(0, 6), ['a', 'a--b', 'a-c', 'a-c/d', 'a.b', 'a/b'], 'the order the walk must produce')
  t.same(await store.list(), sorted, 'the whole list, in `<` order')
  const lasts = [...sorted, '', 'a-', 'a/', 'a/b/', 'a/b/c/d', 'a-c/', 'a/a', 'a0/z', 'b/', 'b/a/', '_', 'zzz', '0', 'A']
  for (const last of lasts) {
    const after = sorted.filter((name) => name > last)
    for (const limit of [0, 1, 2, 3, Infinity]) {
      t.same(await store.list(last, limit), after.slice(0, limit), `after ${JSON.stringify(last)}, at most ${limit}`)
    }
  }
})

t.test('directories that are not repositories are walked through, not listed', async (t) => {
  const driver = new InMemoryDriver()
  await plant(driver, [{ name: 'uploads-only', kind: '_uploads' }, { name: 'uploads-only/nested', kind: '_manifests' }, { name: 'parent/child', kind: '_layers' }, { name: 'referrers', kind: '_referrers' }])
  t.same(await new RepositoryStore(driver).list(), ['parent/child', 'uploads-only/nested'])
})

t.test('a page lists the directories on the way to `last` and the page, nothing else', async (t) => {
  const driver = new CountingDriver()
  const names = Array.from({ length: 1000 }, (_, i) => `cat-${String(i).padStart(4, '0')}`)
  await plant(driver, [...repositories(...names), { name: 'cat-0500/nested', kind: '_manifests' }, { name: 'cat-0500', kind: '_uploads' }])
  const page = await new RepositoryStore(driver).list('cat-0500', 11)
  t.same(page, ['cat-0500/nested', ...names.slice(501, 511)])
  t.same(driver.listed, ['', 'cat-0500', 'cat-0500/nested', ...names.slice(501, 511)], 'the root, the directory holding `last`, then the page in order')
})

t.test('a directory that vanishes mid-walk is skipped', async (t) => {
  class VanishingDriver extends InMemoryDriver {
    override async list (path: string): Promise<string[]> {
      // Listing `b` removes `c` (already seen in the root's listing) and `b-`'s nested repository.
      if (relativeName(path) === 'b') {
        await this.delete(paths.repository('c'))
        await this.delete(paths.repository('b-/x'))
      }
      return await super.list(path)
    }
  }
  const driver = new VanishingDriver()
  await plant(driver, repositories('a', 'b', 'b-', 'b-/x', 'c', 'd'))
  t.same(await new RepositoryStore(driver).list(), ['a', 'b', 'b-', 'd'])
})

/** One catalog page and the URL its `Link` header points to. */
async function catalogPage (app: FastifyInstance, url: string): Promise<{ page: string[], next: string | undefined }> {
  const response = await app.inject({ method: 'GET', url })
  const link = response.headers.link
  return {
    page: (response.json() as { repositories: string[] }).repositories,
    next: typeof link === 'string' ? /^<([^>]+)>; rel="next"$/.exec(link)?.[1] : undefined
  }
}

t.test('pages followed through the Link header cover the catalog once, in order', async (t) => {
  const app = await buildRegistry({ limits: { catalogPageSize: 5 } })
  t.teardown(async () => await app.close())
  const names = ['a', 'a/b', 'a-c', 'a.b', 'a/b/c', 'a--b/c', 'b', 'b.a/c', 'b/c-d', 'b/c/d']
  for (const name of names) await pushBlob(app, name, Buffer.from(name))
  for (let n = 1; n <= 5; n++) {
    const seen: string[] = []
    let url: string | undefined = `/v2/_catalog?n=${n}`
    while (url !== undefined) {
      const { page, next } = await catalogPage(app, url)
      seen.push(...page)
      if (next !== undefined) t.equal(new URL(next, 'http://x').searchParams.get('last'), page[page.length - 1], 'the next page starts after this one')
      url = next
    }
    t.same(seen, [...names].sort(), `pages of ${n}`)
  }
})

// Components with many shared prefixes and the characters around '/' ('-' '.' before it, '0' '_' after).
const component = fc.oneof(
  { weight: 12, arbitrary: fc.array(fc.constantFrom('a', 'b', '0', '-', '.', '_'), { minLength: 1, maxLength: 3 }).map((chars) => chars.join('')).filter((part) => part !== '.' && part !== '..') },
  { weight: 1, arbitrary: fc.constantFrom('_layers', '_manifests', '_uploads') }
)
const planted: fc.Arbitrary<Planted[]> = fc.array(fc.record({
  name: fc.array(component, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/')),
  kind: fc.constantFrom<Kind>('_layers', '_layers', '_manifests', '_uploads', '_referrers')
}), { maxLength: 25 })
/** `last`: none, a generated string, or a planted directory with a suffix that lands next to it in the order. */
const lastChoice = fc.oneof(
  fc.constant(undefined),
  fc.array(fc.constantFrom('a', 'b', '0', '-', '.', '_', '/'), { maxLength: 6 }).map((chars) => chars.join('')),
  fc.record({ pick: fc.nat(), suffix: fc.constantFrom('', '', '-', '.', '/', '0', '/0', '_', '/a') })
)
const limitChoice = fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constant(Infinity))

function resolveLast (choice: string | { pick: number, suffix: string } | undefined, files: Planted[]): string | undefined {
  if (choice === undefined || typeof choice === 'string' || files.length === 0) return typeof choice === 'string' ? choice : undefined
  const names = files.flatMap(({ name }) => name.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/')))
  return names[choice.pick % names.length] + choice.suffix
}

/** The walk's answer, checked against the naive sort, and the catalog page built from it against `paginate` on the full list. */
async function checkAgainstNaive (driver: StorageDriver, files: Planted[], last: string | undefined, limit: number): Promise<void> {
  const naive = naiveRepositories(files)
  const expected = naive.filter((name) => last === undefined || name > last).slice(0, limit)
  const store = new RepositoryStore(driver)
  const got = await store.list(last, limit)
  if (JSON.stringify(got) !== JSON.stringify(expected)) throw new Error(`after ${JSON.stringify(last)} limit ${limit}: got ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`)
  if (Number.isFinite(limit)) {
    const page = pageOf(await store.list(last, limit + 1), limit)
    const today = paginate(naive, { n: limit, last }, limit)
    if (JSON.stringify(page) !== JSON.stringify(today)) throw new Error(`page after ${JSON.stringify(last)} of ${limit}: ${JSON.stringify(page)}, paginate says ${JSON.stringify(today)}`)
  }
}

t.test('property: the bounded walk equals the naive full sort (in-memory driver)', async (t) => {
  await fc.assert(fc.asyncProperty(planted, lastChoice, limitChoice, async (files, choice, limit) => {
    const driver = new CountingDriver()
    await plant(driver, files)
    const last = resolveLast(choice, files)
    await checkAgainstNaive(driver, files, last, limit)
    driver.listed.length = 0
    const got = await new RepositoryStore(driver).list(last, limit)
    const listed = driver.listed
    // Cost: the root once, every other directory at most once...
    if (limit > 0 && listed[0] !== '') throw new Error(`the root first, not ${JSON.stringify(listed)}`)
    if (new Set(listed).size !== listed.length) throw new Error(`a directory listed twice: ${JSON.stringify(listed)}`)
    let pastEnd = 0
    for (const directory of listed.slice(1)) {
      if (directory.split('/').some((part) => part.startsWith('_'))) throw new Error(`descended into ${directory}`)
      // ...and only those whose subtree reaches past `last`...
      if (last !== undefined && last >= `${directory}0`) throw new Error(`listed ${directory}, wholly at or before ${last}`)
      if (got.length === limit && limit > 0 && directory > got[got.length - 1]) pastEnd++
    }
    // ...and past the page's end only the read-ahead window a run of non-repositories opens.
    if (pastEnd > 16) throw new Error(`listed ${pastEnd} directories past the page's end ${got[got.length - 1]}: ${JSON.stringify(listed)}`)
  }), fuzzParameters(t, 500))
  t.pass('checked')
})

t.test('property: the bounded walk equals the naive full sort (filesystem driver)', async (t) => {
  const root = await tempDir('oci-catalog-walk-')
  t.teardown(root.cleanup)
  let run = 0
  await fc.assert(fc.asyncProperty(planted, lastChoice, limitChoice, async (files, choice, limit) => {
    const driver = new FilesystemDriver({ rootDirectory: join(root.path, String(run++)) })
    await plant(driver, files)
    await checkAgainstNaive(driver, files, resolveLast(choice, files), limit)
  }), fuzzParameters(t, 100))
  t.pass('checked')
})
