import t from 'tap'
import { VersionCheckedCache } from '../../lib/cache/version-checked-cache.js'

/** A fake storage: path -> version, and a counter of loads. */
function setup (capacity = 10): { versions: Map<string, string>, cache: VersionCheckedCache<string>, loads: string[], load: (path: string, value: string) => () => Promise<string> } {
  const versions = new Map<string, string>()
  const loads: string[] = []
  const cache = new VersionCheckedCache<string>((path) => {
    if (path === '/broken') throw new Error('cannot tell')
    return versions.get(path)
  }, capacity)
  const load = (path: string, value: string) => async () => {
    loads.push(path)
    return value
  }
  return { versions, cache, loads, load }
}

t.test('a value is loaded once and served while its version holds', async (t) => {
  const { versions, cache, loads, load } = setup()
  versions.set('/a', 'v1')
  t.equal(await cache.read('/a', load('/a', 'first')), 'first')
  t.equal(await cache.read('/a', load('/a', 'ignored')), 'first')
  t.same(loads, ['/a'])
  versions.set('/a', 'v2')
  t.equal(await cache.read('/a', load('/a', 'second')), 'second', 'a new version is loaded')
  t.same(loads, ['/a', '/a'])
})

t.test('a missing file is undefined without loading, and its entry is dropped', async (t) => {
  const { versions, cache, loads, load } = setup()
  t.equal(await cache.read('/gone', load('/gone', 'x')), undefined)
  versions.set('/gone', 'v1')
  await cache.read('/gone', load('/gone', 'x'))
  versions.delete('/gone')
  t.equal(await cache.read('/gone', load('/gone', 'x')), undefined)
  versions.set('/gone', 'v1') // the same version string coming back still reloads: the entry was dropped
  t.equal(await cache.read('/gone', load('/gone', 'y')), 'y')
  t.same(loads, ['/gone', '/gone'])
})

t.test('changed() forgets locally; an unreadable version falls back to loading every time', async (t) => {
  const { versions, cache, loads, load } = setup()
  versions.set('/a', 'v1')
  await cache.read('/a', load('/a', 'one'))
  await cache.changed('/a')
  t.equal(await cache.read('/a', load('/a', 'two')), 'two')
  t.equal(await cache.read('/broken', load('/broken', 'b1')), 'b1')
  t.equal(await cache.read('/broken', load('/broken', 'b2')), 'b2')
  t.same(loads, ['/a', '/a', '/broken', '/broken'])
})

t.test('a change during a load is never hidden: the version is taken before loading', async (t) => {
  const { versions, cache } = setup()
  versions.set('/tag', 'v1')
  // The file changes while the (slow) load runs; the load sees the new content.
  const read = cache.read('/tag', async () => {
    versions.set('/tag', 'v2')
    return 'new'
  })
  t.equal(await read, 'new')
  // The entry is filed under v1, so the next read (v2) loads again rather than trusting it.
  t.equal(await cache.read('/tag', async () => 'newer'), 'newer')
})

t.test('the cache is bounded', async (t) => {
  const { versions, cache, loads, load } = setup(2)
  for (const path of ['/1', '/2', '/3']) {
    versions.set(path, 'v')
    await cache.read(path, load(path, path))
  }
  await cache.read('/1', load('/1', '/1'))
  t.same(loads, ['/1', '/2', '/3', '/1'], 'the oldest entry was evicted')
})
