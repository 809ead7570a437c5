import t from 'tap'
import { setImmediate as tick } from 'node:timers/promises'
import { InMemoryDriver } from '../../lib/storage/inmemory.js'
import { BlobStore } from '../../lib/store/blobs.js'
import { TagStore } from '../../lib/store/tags.js'
import { ReferrersIndex } from '../../lib/store/referrers.js'
import { ManifestStore } from '../../lib/store/manifests.js'
import { LinkFiles } from '../../lib/store/link-files.js'
import { NoLinkCache } from '../../lib/store/link-cache.js'
import { paths } from '../../lib/store/paths.js'
import { parseDigest, type ParsedDigest } from '../../lib/digest.js'
import { FANOUT_PER_CALL, storageSlots } from '../../lib/storage-concurrency.js'
import { isRegistryError } from '../../errors/index.js'
import { sha256 } from '../helpers/registry.js'

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'

/** An in-memory driver whose reads take a turn of the event loop, counting how many are in flight at once and in all. */
class CountingDriver extends InMemoryDriver {
  inFlight = 0
  peak = 0
  reads = 0

  async #counted<R> (work: () => Promise<R>): Promise<R> {
    this.inFlight++
    this.reads++
    this.peak = Math.max(this.peak, this.inFlight)
    try {
      await tick()
      return await work()
    } finally {
      this.inFlight--
    }
  }

  override async getContent (path: string): Promise<Buffer> {
    return await this.#counted(async () => await super.getContent(path))
  }

  override async stat (path: string): ReturnType<InMemoryDriver['stat']> {
    return await this.#counted(async () => await super.stat(path))
  }

  reset (): void {
    this.peak = 0
    this.reads = 0
  }
}

function stores (driver: CountingDriver): { manifests: ManifestStore, tags: TagStore, blobs: BlobStore } {
  const links = new LinkFiles(driver, new NoLinkCache())
  const blobs = new BlobStore(driver, links)
  const tags = new TagStore(driver, links)
  return { manifests: new ManifestStore(links, blobs, tags, new ReferrersIndex(driver)), tags, blobs }
}

/** `count` small blobs stored and linked into `name`. */
async function seedBlobs (driver: CountingDriver, blobs: BlobStore, name: string, count: number): Promise<Array<{ digest: string, size: number }>> {
  const seeded = []
  for (let i = 0; i < count; i++) {
    const content = Buffer.from(`blob ${i}`)
    const digest = parseDigest(sha256(content))!
    await driver.putContent(paths.blobData(digest), content)
    await blobs.link(name, digest)
    seeded.push({ digest: digest.digest, size: content.length })
  }
  return seeded
}

function manifestOf (config: { digest: string, size: number }, layers: Array<{ digest: string, size: number }>): Buffer {
  return Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: layers.map((layer) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }))
  }))
}

t.test('the reference check of a 2,000-layer manifest is bounded, and every reference is checked', async (t) => {
  const driver = new CountingDriver()
  const { manifests, blobs } = stores(driver)
  const [config, ...layers] = await seedBlobs(driver, blobs, 'r', 2001)
  driver.reset()
  const stored = await manifests.put('r', manifestOf(config, layers), OCI_MANIFEST, { tags: ['big'] })
  t.ok(driver.peak <= FANOUT_PER_CALL, `at most ${FANOUT_PER_CALL} storage reads at once (saw ${driver.peak})`)
  t.ok(driver.peak > 1, 'and more than one: the check runs in parallel')
  t.ok(driver.reads >= 2 * 2001, 'a link read and a stat for every reference')
  t.equal(storageSlots.inUse, 0, 'every shared slot was given back')
  t.equal((await manifests.get('r', stored.digest))?.digest.digest, stored.digest.digest)
})

t.test('a duplicated layer is checked once', async (t) => {
  const driver = new CountingDriver()
  const { manifests, blobs } = stores(driver)
  const [config, layer] = await seedBlobs(driver, blobs, 'r', 2)
  driver.reset()
  await manifests.put('r', manifestOf(config, Array.from({ length: 500 }, () => layer)), OCI_MANIFEST, { tags: [] })
  t.ok(driver.reads < 50, `${driver.reads} reads for 500 copies of one layer and a config`)
})

t.test('the reference check stops at the first missing blob and names it', async (t) => {
  const driver = new CountingDriver()
  const { manifests, blobs } = stores(driver)
  const [config, ...layers] = await seedBlobs(driver, blobs, 'r', 101)
  const missing = { digest: sha256(Buffer.from('never stored')), size: 1 }
  const many = [missing, ...Array.from({ length: 3000 }, (_unused, i) => layers[i % layers.length]), { digest: sha256(Buffer.from('also missing')), size: 1 }]
  driver.reset()
  const error = await manifests.put('r', manifestOf(config, many), OCI_MANIFEST, { tags: ['x'] }).catch((error: unknown) => error)
  t.ok(isRegistryError(error))
  t.equal((error as { code: string }).code, 'MANIFEST_BLOB_UNKNOWN')
  t.same((error as { detail: unknown }).detail, { digests: [missing.digest] })
  t.ok(driver.reads < 100, `stopped early: ${driver.reads} reads`)
  t.equal(await stores(driver).tags.resolve('r', 'x'), undefined, 'nothing was tagged')
})

t.test('a missing child of an index is refused as before', async (t) => {
  const driver = new CountingDriver()
  const { manifests } = stores(driver)
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: OCI_MANIFEST, digest: sha256(Buffer.from('child')), size: 5 }] }))
  const error = await manifests.put('r', index, undefined, { tags: [] }).catch((error: unknown) => error)
  t.equal((error as { code: string }).code, 'MANIFEST_BLOB_UNKNOWN')
  t.same((error as { detail: unknown }).detail, { digests: [sha256(Buffer.from('child'))] })
})

t.test('deleting a manifest 600 tags name is bounded and removes exactly its tags', async (t) => {
  const driver = new CountingDriver()
  const { manifests, blobs, tags } = stores(driver)
  const [config, layer, other] = await seedBlobs(driver, blobs, 'r', 3)
  const doomed = await manifests.put('r', manifestOf(config, [layer]), OCI_MANIFEST, { tags: [] })
  const kept = await manifests.put('r', manifestOf(config, [other]), OCI_MANIFEST, { tags: ['kept-a', 'kept-b'] })
  const names = Array.from({ length: 600 }, (_unused, i) => `d${i}`)
  for (const tag of names) await tags.tag('r', tag, doomed.digest)
  driver.reset()
  t.equal(await manifests.delete('r', doomed.digest), true)
  t.ok(driver.peak <= FANOUT_PER_CALL, `at most ${FANOUT_PER_CALL} storage reads at once (saw ${driver.peak})`)
  t.same(await tags.list('r'), ['kept-a', 'kept-b'])
  t.equal((await tags.resolve('r', 'kept-a'))?.digest, kept.digest.digest)
  t.equal(await manifests.get('r', doomed.digest), undefined)
})

t.test('listAfter: the names after `last`, at most `limit`, from one listing', async (t) => {
  const driver = new CountingDriver()
  const { tags } = stores(driver)
  const digest: ParsedDigest = parseDigest(sha256(Buffer.from('m')))!
  const names = ['a', 'b', 'c', 'd', 'e'].map((letter) => `t-${letter}`)
  for (const tag of names) await tags.tag('r', tag, digest)
  driver.reset()
  t.same(await tags.listAfter('r', undefined, 2), ['t-a', 't-b'])
  t.same(await tags.listAfter('r', 't-b', 2), ['t-c', 't-d'])
  t.same(await tags.listAfter('r', 't-bb'), ['t-c', 't-d', 't-e'], 'last need not be a tag')
  t.same(await tags.listAfter('r', 't-e', 5), [])
  t.same(await tags.listAfter('r', undefined, 0), [])
  t.same(await tags.listAfter('missing', undefined, 5), [])
  t.equal(driver.reads, 0, 'no tag was read')
})

t.test('listAfter uses a driver\'s paged listing when it has one', async (t) => {
  const driver = new CountingDriver()
  const calls: Array<[string, string | undefined, number]> = []
  Object.assign(driver, {
    listNamesAfter: async (path: string, after: string | undefined, limit: number) => {
      calls.push([path, after, limit])
      return ['x', 'y'].slice(0, limit)
    }
  })
  const { tags } = stores(driver)
  t.same(await tags.listAfter('r', 'w', 2), ['x', 'y'])
  t.same(calls, [[paths.tagsRoot('r'), 'w', 2]])
  t.same(await tags.listAfter('r', undefined), [], 'a whole listing (no limit) goes through list')
})
