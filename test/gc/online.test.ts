// Online garbage collection: the collector runs while the registry serves
// pushes and pulls on the same storage, and never deletes what an
// acknowledged push references. The last part of the protocol lives in the
// registry's manifest PUT, which checks its references again after writing
// its revision link (see lib/gc/garbage-collect.ts, "Online safety").
import t, { type Test } from 'tap'
import type { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { FilesystemDriver } from '../../lib/storage/filesystem.js'
import type { FileInfo, FileWriter, StorageDriver } from '../../lib/storage/driver.js'
import { parseDigest } from '../../lib/digest.js'
import { paths } from '../../lib/store/paths.js'
import { garbageCollect, type GarbageCollectSummary } from '../../lib/index.js'
import { buildRegistry, errorCode, pathOf, pushBlob, randomBlob, sha256, tempDir } from '../helpers/registry.js'
import { OCI_INDEX, OCI_MANIFEST, putManifest, type PushedManifest } from '../helpers/images.js'
import { pullProblem } from '../helpers/pull-check.js'

/** Lets a test stop a driver operation on a path until it says go. */
class HookedDriver implements StorageDriver {
  readonly name = 'hooked'
  readonly #inner: StorageDriver
  readonly #hooks: Array<{ operation: string, match: (path: string) => boolean, reached: () => void, release: Promise<void> }> = []

  constructor (inner: StorageDriver) {
    this.#inner = inner
  }

  /** The next `operation` on a matching path waits for `release`; `reached` resolves when it starts waiting. */
  hold (operation: string, match: (path: string) => boolean): { reached: Promise<void>, release: () => void } {
    let release!: () => void
    let reached!: () => void
    const reachedPromise = new Promise<void>((resolve) => { reached = resolve })
    this.#hooks.push({ operation, match, reached, release: new Promise<void>((resolve) => { release = resolve }) })
    return { reached: reachedPromise, release }
  }

  async #gate (operation: string, path: string): Promise<void> {
    const index = this.#hooks.findIndex((hook) => hook.operation === operation && hook.match(path))
    if (index === -1) return
    const [hook] = this.#hooks.splice(index, 1)
    hook.reached()
    await hook.release
  }

  async getContent (path: string): Promise<Buffer> { await this.#gate('getContent', path); return await this.#inner.getContent(path) }
  async putContent (path: string, content: Uint8Array): Promise<void> { await this.#gate('putContent', path); await this.#inner.putContent(path, content) }
  async reader (path: string, offset?: number, length?: number): Promise<Readable> { return await this.#inner.reader(path, offset, length) }
  async writer (path: string, append: boolean): Promise<FileWriter> { return await this.#inner.writer(path, append) }
  async stat (path: string): Promise<FileInfo> { await this.#gate('stat', path); return await this.#inner.stat(path) }
  async list (path: string): Promise<string[]> { return await this.#inner.list(path) }
  async move (sourcePath: string, destPath: string): Promise<void> { await this.#gate('move', destPath); await this.#inner.move(sourcePath, destPath) }
  async delete (path: string): Promise<void> { await this.#gate('delete', path); await this.#inner.delete(path) }
  walk (path: string): AsyncIterable<FileInfo> { return this.#inner.walk(path) }
}

interface Acknowledged {
  name: string
  tag: string
  digest: string
}

async function registryOnDisk (t: Test, wrap: (driver: StorageDriver) => StorageDriver = (driver) => driver): Promise<{ app: FastifyInstance, root: string }> {
  const root = await tempDir('oci-gc-online-')
  const app = await buildRegistry({ storage: wrap(new FilesystemDriver({ rootDirectory: root.path })), delete: { enabled: true } })
  t.teardown(async () => { await app.close(); await root.cleanup() })
  return { app, root: root.path }
}

function imageBody (config: Buffer, layers: Buffer[], note?: string): PushedManifest {
  const document: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: layers.map((layer) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }))
  }
  if (note !== undefined) document.annotations = { note }
  const body = Buffer.from(JSON.stringify(document))
  return { digest: sha256(body), body, mediaType: OCI_MANIFEST }
}

function indexBody (children: PushedManifest[]): PushedManifest {
  const body = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: children.map((child, index) => ({ mediaType: child.mediaType, digest: child.digest, size: child.body.length, platform: { architecture: index === 0 ? 'amd64' : 'arm64', os: 'linux' } }))
  }))
  return { digest: sha256(body), body, mediaType: OCI_INDEX }
}

type BlobStrategy = 'upload' | 'head' | 'mount' | 'chunked'

/** Makes a blob available in a repository the way a client might: always upload, upload unless present, mount from another repository, or a session upload. */
async function ensureBlob (app: FastifyInstance, name: string, content: Buffer, strategy: BlobStrategy, from: string): Promise<void> {
  const digest = sha256(content)
  if (strategy === 'head') {
    const head = await app.inject({ method: 'HEAD', url: `/v2/${name}/blobs/${digest}` })
    if (head.statusCode === 200) return
  }
  if (strategy === 'mount') {
    const mount = await app.inject({ method: 'POST', url: `/v2/${name}/blobs/uploads/?mount=${digest}&from=${from}` })
    if (mount.statusCode === 201) return
    if (mount.statusCode !== 202) throw new Error(`mount answered ${mount.statusCode} ${mount.body}`)
    const done = await app.inject({ method: 'PUT', url: `${pathOf(mount.headers.location)}&digest=${digest}`, payload: content, headers: { 'content-type': 'application/octet-stream' } })
    if (done.statusCode !== 201) throw new Error(`upload after a refused mount answered ${done.statusCode} ${done.body}`)
    return
  }
  if (strategy === 'chunked') {
    const start = await app.inject({ method: 'POST', url: `/v2/${name}/blobs/uploads/` })
    const patch = await app.inject({ method: 'PATCH', url: pathOf(start.headers.location), payload: content, headers: { 'content-type': 'application/octet-stream' } })
    const done = await app.inject({ method: 'PUT', url: `${pathOf(patch.headers.location)}&digest=${digest}` })
    if (done.statusCode !== 201) throw new Error(`chunked upload answered ${done.statusCode} ${done.body}`)
    return
  }
  await pushBlob(app, name, content)
}

/** PUT a manifest; true on 201, false on MANIFEST_BLOB_UNKNOWN (the collector took something: push again), throws otherwise. */
async function tryPut (app: FastifyInstance, name: string, reference: string, manifest: PushedManifest): Promise<boolean> {
  const response = await putManifest(app, name, reference, manifest)
  if (response.statusCode === 201) return true
  if (response.statusCode === 400 && errorCode(response.body) === 'MANIFEST_BLOB_UNKNOWN') return false
  throw new Error(`manifest PUT ${name}:${reference} answered ${response.statusCode} ${response.body}`)
}

interface LoopStats {
  runs: number
  blobsDeleted: number
  blobsRestored: number
  manifestsRestored: number
  untaggedDeleted: number
}

/** Runs the collector again and again on its own driver over the same root until `stop` resolves. */
function collectInLoop (root: string, options: { deleteUntagged: boolean }, stop: Promise<void>): Promise<LoopStats> {
  const driver = new FilesystemDriver({ rootDirectory: root })
  const stats: LoopStats = { runs: 0, blobsDeleted: 0, blobsRestored: 0, manifestsRestored: 0, untaggedDeleted: 0 }
  let stopped = false
  void stop.then(() => { stopped = true })
  return (async () => {
    while (!stopped) {
      // Grace 0 is the hardest case: only the protocol protects a push. Every other run keeps 5 ms of fresh writes.
      const summary: GarbageCollectSummary = await garbageCollect(driver, { gracePeriodMs: stats.runs % 2 === 0 ? 0 : 5, deleteUntagged: options.deleteUntagged, concurrency: 4 })
      stats.runs++
      stats.blobsDeleted += summary.blobsDeleted
      stats.blobsRestored += summary.blobsRestored
      stats.manifestsRestored += summary.manifestsRestored
      stats.untaggedDeleted += summary.untaggedManifestsDeleted
      await new Promise((resolve) => setImmediate(resolve))
    }
    return stats
  })()
}

const REPOSITORIES = ['online/a', 'online/b', 'online/c']
const STRATEGIES: BlobStrategy[] = ['upload', 'head', 'mount', 'chunked']

function pick<T> (items: readonly T[], random: () => number): T {
  return items[Math.floor(random() * items.length)]
}

/** A small deterministic generator, so a failure can be replayed. */
function seeded (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let value = state
    value = Math.imul(value ^ (value >>> 15), value | 1)
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61)
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296
  }
}

const MAX_ATTEMPTS = 40

t.test('GC in a loop during concurrent pushes of images sharing layers: every acknowledged image pulls', async (t) => {
  const { app, root } = await registryOnDisk(t)
  const shared = Array.from({ length: 6 }, (_unused, index) => randomBlob(1024 + index * 512).content)
  const acknowledged: Acknowledged[] = []
  let refused = 0
  let gaveUp = 0
  let deleted = 0

  let stopCollecting!: () => void
  const collecting = collectInLoop(root, { deleteUntagged: false }, new Promise<void>((resolve) => { stopCollecting = resolve }))

  const pusher = async (pusherIndex: number): Promise<void> => {
    const random = seeded(1000 + pusherIndex)
    const mine: Acknowledged[] = []
    for (let imageIndex = 0; imageIndex < 10; imageIndex++) {
      const name = REPOSITORIES[(pusherIndex + imageIndex) % REPOSITORIES.length]
      const tag = `p${pusherIndex}-i${imageIndex}`
      const layers = [pick(shared, random), pick(shared, random), randomBlob(700).content]
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', tag }))
      const manifest = imageBody(config, [...new Set(layers)])
      // Garbage for the collector: a blob nobody will reference.
      await pushBlob(app, name, randomBlob(300).content)
      let pushed = false
      for (let attempt = 0; attempt < MAX_ATTEMPTS && !pushed; attempt++) {
        for (const layer of layers) await ensureBlob(app, name, layer, pick(STRATEGIES, random), pick(REPOSITORIES, random))
        await ensureBlob(app, name, config, 'upload', name)
        pushed = await tryPut(app, name, tag, manifest)
        if (!pushed) refused++
      }
      if (!pushed) {
        gaveUp++
        continue
      }
      const entry = { name, tag, digest: manifest.digest }
      mine.push(entry)
      acknowledged.push(entry)
      // Now and then an image is deleted, so layers it shared become unreferenced and old, then are reused.
      if (imageIndex % 3 === 2 && mine.length > 1) {
        const victim = mine.splice(Math.floor(random() * (mine.length - 1)), 1)[0]
        const response = await app.inject({ method: 'DELETE', url: `/v2/${victim.name}/manifests/${victim.digest}` })
        t.equal(response.statusCode, 202, `deleted ${victim.name}:${victim.tag}`)
        acknowledged.splice(acknowledged.indexOf(victim), 1)
        deleted++
      }
    }
  }

  try {
    await Promise.all(Array.from({ length: 6 }, async (_unused, index) => { await pusher(index) }))
  } finally {
    stopCollecting()
  }
  const stats = await collecting
  t.comment(`collector runs: ${stats.runs}, blobs deleted: ${stats.blobsDeleted}, put back: ${stats.blobsRestored}; images acknowledged: ${acknowledged.length}, deleted: ${deleted}, PUTs refused: ${refused}, given up: ${gaveUp}`)
  t.ok(stats.runs >= 2, 'the collector ran during the pushes')
  t.ok(stats.blobsDeleted > 0, 'and deleted garbage')
  t.ok(acknowledged.length >= 20, 'most images were pushed')

  // Once more with nothing running: a quiet collection must keep every acknowledged image too.
  const quiet = await garbageCollect(new FilesystemDriver({ rootDirectory: root }), { gracePeriodMs: 0 })
  t.equal(quiet.blobsRestored, 0)
  for (const image of acknowledged) {
    t.equal(await pullProblem(app, image.name, image.tag, image.digest), undefined, `${image.name}:${image.tag} pulls`)
  }
})

t.test('delete-untagged in a loop during pushes of indexes (children by digest first), late tags and moved tags', async (t) => {
  const { app, root } = await registryOnDisk(t)
  const shared = Array.from({ length: 4 }, () => randomBlob(900).content)
  // The image each tag names last: a tag pushed again leaves its previous index untagged, for the collector.
  const acknowledged = new Map<string, Acknowledged>()
  let refused = 0

  let stopCollecting!: () => void
  const collecting = collectInLoop(root, { deleteUntagged: true }, new Promise<void>((resolve) => { stopCollecting = resolve }))

  const pusher = async (pusherIndex: number): Promise<void> => {
    const random = seeded(2000 + pusherIndex)
    for (let imageIndex = 0; imageIndex < 8; imageIndex++) {
      const slot = imageIndex % 4
      const name = REPOSITORIES[(pusherIndex + slot) % REPOSITORIES.length]
      const tag = `idx${pusherIndex}-${slot}`
      const children = [0, 1].map((child) => {
        const config = Buffer.from(JSON.stringify({ architecture: child === 0 ? 'amd64' : 'arm64', os: 'linux', tag, imageIndex }))
        return { config, layers: [pick(shared, random), randomBlob(500).content] }
      })
      const childManifests = children.map((child) => imageBody(child.config, child.layers))
      const index = indexBody(childManifests)
      await pushBlob(app, name, randomBlob(200).content)
      // Every other image is first pushed by digest only, and tagged a little later (as `crane tag` does).
      const lateTag = imageIndex % 2 === 1
      let pushed = false
      for (let attempt = 0; attempt < MAX_ATTEMPTS && !pushed; attempt++) {
        let childrenPushed = true
        for (const [childIndex, child] of children.entries()) {
          for (const layer of child.layers) await ensureBlob(app, name, layer, pick(STRATEGIES, random), pick(REPOSITORIES, random))
          await ensureBlob(app, name, child.config, 'upload', name)
          if (!await tryPut(app, name, childManifests[childIndex].digest, childManifests[childIndex])) childrenPushed = false
        }
        if (!childrenPushed) {
          refused++
          continue
        }
        if (lateTag) {
          if (!await tryPut(app, name, index.digest, index)) {
            refused++
            continue
          }
          await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 5)))
        }
        pushed = await tryPut(app, name, tag, index)
        if (!pushed) refused++
      }
      if (pushed) acknowledged.set(`${name}:${tag}`, { name, tag, digest: index.digest })
    }
  }

  try {
    await Promise.all(Array.from({ length: 5 }, async (_unused, index) => { await pusher(index) }))
  } finally {
    stopCollecting()
  }
  const stats = await collecting
  t.comment(`collector runs: ${stats.runs}, blobs deleted: ${stats.blobsDeleted}, untagged deleted: ${stats.untaggedDeleted}, put back: ${stats.blobsRestored} blobs, ${stats.manifestsRestored} manifests; tags acknowledged: ${acknowledged.size}, PUTs refused: ${refused}`)
  t.ok(stats.runs >= 2, 'the collector ran during the pushes')
  t.ok(stats.blobsDeleted > 0, 'and deleted garbage')
  t.ok(acknowledged.size >= 10, 'most tags were pushed')

  const quiet = await garbageCollect(new FilesystemDriver({ rootDirectory: root }), { gracePeriodMs: 0, deleteUntagged: true })
  t.equal(quiet.manifestsRestored, 0)
  for (const image of acknowledged.values()) {
    t.equal(await pullProblem(app, image.name, image.tag, image.digest), undefined, `${image.name}:${image.tag} pulls with its children`)
  }
})

/** An image whose blobs are in the repository but unreferenced and old: pushed, then its manifest deleted. */
async function staleBlobs (app: FastifyInstance, name: string): Promise<{ config: Buffer, layer: Buffer }> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', note: 'stale' }))
  const layer = randomBlob(2048).content
  await pushBlob(app, name, config)
  await pushBlob(app, name, layer)
  const manifest = imageBody(config, [layer], 'the old image')
  t.ok(await tryPut(app, name, 'old', manifest))
  t.equal((await app.inject({ method: 'DELETE', url: `/v2/${name}/manifests/${manifest.digest}` })).statusCode, 202)
  return { config, layer }
}

/** A collection for which everything written so far is old (its clock is a minute ahead, no grace period), one operation at a time. */
async function collectAhead (driver: StorageDriver, deleteUntagged = false): Promise<GarbageCollectSummary> {
  return await garbageCollect(driver, { gracePeriodMs: 0, now: () => Date.now() + 60_000, concurrency: 1, deleteUntagged })
}

t.test('a manifest PUT that passed its checks before the sweep and writes its revision after it is refused, not acknowledged', async (t) => {
  let hooked!: HookedDriver
  const { app, root } = await registryOnDisk(t, (driver) => { hooked = new HookedDriver(driver); return hooked })
  const { config, layer } = await staleBlobs(app, 'race')
  // A new image reuses the old blobs: uploading them again finds them in place.
  await pushBlob(app, 'race', config)
  await pushBlob(app, 'race', layer)
  const manifest = imageBody(config, [layer])
  const revision = paths.manifestRevisionLink('race', parseDigest(manifest.digest)!)
  const held = hooked.hold('putContent', (path) => path === revision)
  const put = putManifest(app, 'race', 'new', manifest)
  await held.reached // checked its references, about to write its revision link
  const summary = await collectAhead(new FilesystemDriver({ rootDirectory: root }))
  t.equal(summary.blobsDeleted, 4, 'the collector saw no manifest: config, layer, the old manifest and the new one\'s bytes go')
  held.release()
  const response = await put
  if (response.statusCode === 201) {
    t.equal(await pullProblem(app, 'race', 'new', manifest.digest), undefined, 'an acknowledged manifest pulls')
  } else {
    t.equal(response.statusCode, 400)
    t.equal(errorCode(response.body), 'MANIFEST_BLOB_UNKNOWN', 'the PUT rechecked its references after linking and refused')
    t.equal((await app.inject({ method: 'HEAD', url: `/v2/race/manifests/${manifest.digest}` })).statusCode, 404, 'and left no revision behind')
    t.equal((await app.inject({ method: 'HEAD', url: '/v2/race/manifests/new' })).statusCode, 404, 'nor a tag')
    // The client pushes again and succeeds.
    await pushBlob(app, 'race', config)
    await pushBlob(app, 'race', layer)
    t.ok(await tryPut(app, 'race', 'new', manifest))
    t.equal(await pullProblem(app, 'race', 'new', manifest.digest), undefined)
  }
})

t.test('a manifest acknowledged after the mark but before the sweep gets its blobs put back', async (t) => {
  const { app, root } = await registryOnDisk(t)
  const { config, layer } = await staleBlobs(app, 'late')
  const gcDriver = new HookedDriver(new FilesystemDriver({ rootDirectory: root }))
  // The collector stops at its first set-aside, after marking without the new manifest.
  const held = gcDriver.hold('move', (path) => path.endsWith('/data.gc'))
  const collecting = collectAhead(gcDriver)
  await held.reached
  await pushBlob(app, 'late', config)
  await pushBlob(app, 'late', layer)
  const manifest = imageBody(config, [layer])
  t.ok(await tryPut(app, 'late', 'new', manifest), 'the push is acknowledged while the collector is paused')
  held.release()
  const summary = await collecting
  t.equal(summary.blobsRestored, 2, 'config and layer set aside, then put back')
  t.equal(summary.blobsDeleted, 1, 'only the deleted manifest\'s blob goes')
  t.equal(await pullProblem(app, 'late', 'new', manifest.digest), undefined)
})

t.test('a layer link removed while the blob is pushed again is put back', async (t) => {
  const { app, root } = await registryOnDisk(t)
  const orphan = randomBlob(1500)
  await pushBlob(app, 'relink', orphan.content)
  const gcDriver = new HookedDriver(new FilesystemDriver({ rootDirectory: root }))
  const link = paths.layerLink('relink', parseDigest(orphan.digest)!)
  const held = gcDriver.hold('delete', (path) => path === link)
  const collecting = collectAhead(gcDriver)
  await held.reached // the blob is deleted; its link is about to be
  await pushBlob(app, 'relink', orphan.content)
  const config = Buffer.from('{"architecture":"amd64","os":"linux"}')
  await pushBlob(app, 'relink', config)
  const manifest = imageBody(config, [orphan.content])
  t.ok(await tryPut(app, 'relink', 'v1', manifest))
  held.release()
  const summary = await collecting
  t.equal(summary.blobsDeleted, 1)
  t.equal(summary.layerLinksRemoved, 0, 'the link was put back, not counted as removed')
  t.equal(await pullProblem(app, 'relink', 'v1', manifest.digest), undefined)
})

t.test('an untagged manifest removed just after a push tagged it is put back', async (t) => {
  const { app, root } = await registryOnDisk(t)
  const config = Buffer.from('{"architecture":"amd64","os":"linux","untagged":true}')
  const layer = randomBlob(800).content
  await pushBlob(app, 'retag', config)
  await pushBlob(app, 'retag', layer)
  const manifest = imageBody(config, [layer])
  t.ok(await tryPut(app, 'retag', manifest.digest, manifest), 'pushed by digest only')
  const gcDriver = new HookedDriver(new FilesystemDriver({ rootDirectory: root }))
  const held = gcDriver.hold('delete', (path) => path === paths.manifestRevisionDir('retag', parseDigest(manifest.digest)!))
  const collecting = collectAhead(gcDriver, true)
  await held.reached // found untagged and old, about to be removed
  // The client tags it now (crane tag: the same manifest PUT again, by tag).
  t.ok(await tryPut(app, 'retag', 'v1', manifest), 'tagged')
  held.release()
  const summary = await collecting
  t.equal(summary.untaggedManifestsDeleted, 1, 'the collector removed it...')
  t.equal(summary.manifestsRestored, 1, '...and put it back when it found the tag')
  t.equal(summary.blobsRestored, 3, 'with its config, layer and content')
  t.equal(summary.blobsDeleted, 0)
  t.equal(await pullProblem(app, 'retag', 'v1', manifest.digest), undefined, 'the tagged manifest pulls')
})
