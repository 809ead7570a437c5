import t, { type Test } from 'tap'
import { utimes } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { InMemoryDriver } from '../../lib/storage/inmemory.js'
import { FilesystemDriver } from '../../lib/storage/filesystem.js'
import type { StorageDriver } from '../../lib/storage/driver.js'
import { parseDigest, type ParsedDigest } from '../../lib/digest.js'
import { paths } from '../../lib/store/paths.js'
import { garbageCollect, type GarbageCollectOptions, type GarbageCollectProgress, type GarbageCollectSummary } from '../../lib/index.js'
import { buildRegistry, pushBlob, randomBlob, sha256, tempDir } from '../helpers/registry.js'
import { OCI_INDEX, OCI_MANIFEST, imageManifest, putManifest, pushImage, type PushedManifest } from '../helpers/images.js'
import { pullProblem } from '../helpers/pull-check.js'

/** Offline collection: no grace period, and a clock a minute ahead so everything just written counts as old. */
async function collect (driver: StorageDriver, options: GarbageCollectOptions = {}): Promise<GarbageCollectSummary> {
  return await garbageCollect(driver, { gracePeriodMs: 0, now: () => Date.now() + 60_000, ...options })
}

async function setup (t: Test): Promise<{ driver: InMemoryDriver, app: FastifyInstance }> {
  const driver = new InMemoryDriver()
  const app = await buildRegistry({ storage: driver, delete: { enabled: true } })
  t.teardown(async () => { await app.close() })
  return { driver, app }
}

function digest (value: string): ParsedDigest {
  const parsed = parseDigest(value)
  if (parsed === undefined) throw new Error(`not a digest: ${value}`)
  return parsed
}

/** Every file in storage with its size. */
async function snapshot (driver: StorageDriver): Promise<string[]> {
  const files: string[] = []
  for await (const info of driver.walk('/')) if (!info.isDir) files.push(`${info.path} ${info.size}`)
  return files.sort()
}

async function blobExists (driver: StorageDriver, value: string): Promise<boolean> {
  try {
    await driver.stat(paths.blobData(digest(value)))
    return true
  } catch {
    return false
  }
}

/** Pushes an image whose layers are the given contents (shared or not) and a config of its own. */
async function pushLayers (app: FastifyInstance, name: string, tag: string | undefined, layers: Buffer[], options: { subject?: PushedManifest, label?: string } = {}): Promise<PushedManifest> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', label: options.label ?? `${name}:${tag ?? 'untagged'}:${Math.random()}` }))
  const configDigest = await pushBlob(app, name, config)
  const layerDescriptors = []
  for (const layer of layers) layerDescriptors.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await pushBlob(app, name, layer), size: layer.length })
  const document: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: layerDescriptors
  }
  if (options.subject !== undefined) document.subject = { mediaType: options.subject.mediaType, digest: options.subject.digest, size: options.subject.body.length }
  const body = Buffer.from(JSON.stringify(document))
  const manifest = { digest: sha256(body), body, mediaType: OCI_MANIFEST }
  const response = await putManifest(app, name, tag ?? manifest.digest, manifest)
  if (response.statusCode !== 201) throw new Error(`manifest push failed: ${response.statusCode} ${response.body}`)
  return manifest
}

async function pushIndex (app: FastifyInstance, name: string, tag: string | undefined, children: PushedManifest[]): Promise<PushedManifest> {
  const body = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: children.map((child) => ({ mediaType: child.mediaType, digest: child.digest, size: child.body.length, platform: { architecture: 'amd64', os: 'linux' } }))
  }))
  const manifest = { digest: sha256(body), body, mediaType: OCI_INDEX }
  const response = await putManifest(app, name, tag ?? manifest.digest, manifest)
  if (response.statusCode !== 201) throw new Error(`index push failed: ${response.statusCode} ${response.body}`)
  return manifest
}

t.test('layers shared across repositories are kept, orphans are deleted with their links', async (t) => {
  const { driver, app } = await setup(t)
  const shared = randomBlob(300).content
  await pushLayers(app, 'team/a', 'v1', [shared, randomBlob(100).content])
  await pushLayers(app, 'team/b', 'v1', [shared])
  const orphan = randomBlob(1234)
  await pushBlob(app, 'team/a', orphan.content)
  await pushBlob(app, 'team/b', orphan.content)

  const summary = await collect(driver)
  t.match(summary, {
    dryRun: false,
    repositories: 2,
    manifests: 2,
    manifestsMarked: 2,
    blobs: 7, // 2 manifests, 2 configs, 2 layers, 1 orphan
    blobsMarked: 6,
    blobsDeleted: 1,
    bytesFreed: 1234,
    layerLinksRemoved: 2,
    blobsRestored: 0,
    untaggedManifestsDeleted: 0
  })
  t.notOk(await blobExists(driver, orphan.digest), 'the orphan is gone')
  t.notOk(await driver.stat(paths.layerLink('team/a', digest(orphan.digest))).catch(() => undefined), 'its link in team/a is gone')
  t.equal(await pullProblem(app, 'team/a', 'v1'), undefined)
  t.equal(await pullProblem(app, 'team/b', 'v1'), undefined)
  t.equal((await app.inject({ method: 'HEAD', url: `/v2/team/a/blobs/${orphan.digest}` })).statusCode, 404)

  const again = await collect(driver)
  t.match(again, { blobsDeleted: 0, layerLinksRemoved: 0, blobsMarked: 6 }, 'a second collection finds nothing more')
})

t.test('a deleted manifest frees its own blobs but not those other images share', async (t) => {
  const { driver, app } = await setup(t)
  const shared = randomBlob(500).content
  const own = randomBlob(700).content
  const gone = await pushLayers(app, 'repo', 'old', [shared, own])
  await pushLayers(app, 'repo', 'new', [shared])
  t.equal((await app.inject({ method: 'DELETE', url: `/v2/repo/manifests/${gone.digest}` })).statusCode, 202)

  const summary = await collect(driver)
  t.equal(summary.manifests, 1)
  t.equal(summary.blobsDeleted, 3, 'the deleted manifest, its config and its own layer')
  t.notOk(await blobExists(driver, sha256(own)))
  t.notOk(await blobExists(driver, gone.digest))
  t.ok(await blobExists(driver, sha256(shared)))
  t.equal(await pullProblem(app, 'repo', 'new'), undefined)
})

t.test('a dry run changes nothing and reports what a real run then does', async (t) => {
  const { driver, app } = await setup(t)
  const shared = randomBlob(64).content
  await pushLayers(app, 'x', 'keep', [shared])
  const untagged = await pushLayers(app, 'x', undefined, [shared, randomBlob(32).content])
  await pushBlob(app, 'x', randomBlob(10).content)
  await pushBlob(app, 'y', randomBlob(20).content)
  const nowhere = randomBlob(1).digest
  await driver.putContent(paths.layerLink('y', digest(nowhere)), Buffer.from(nowhere))
  t.ok(untagged)

  for (const deleteUntagged of [false, true]) {
    const before = await snapshot(driver)
    const dry = await collect(driver, { dryRun: true, deleteUntagged })
    t.same(await snapshot(driver), before, `dry run (deleteUntagged ${deleteUntagged}) leaves storage as it was`)
    t.equal(dry.dryRun, true)
    if (!deleteUntagged) {
      t.match(dry, { blobsDeleted: 2, bytesFreed: 30, layerLinksRemoved: 3 })
      continue
    }
    t.match(dry, { untaggedManifestsDeleted: 1 })
    const real = await collect(driver, { deleteUntagged })
    const keys = ['repositories', 'manifests', 'manifestsMarked', 'untaggedManifestsDeleted', 'blobs', 'blobsMarked', 'blobsYoung', 'blobsDeleted', 'bytesFreed', 'layerLinksRemoved'] as const
    for (const key of keys) t.equal(real[key], dry[key], `${key} as the dry run said`)
    t.equal(await pullProblem(app, 'x', 'keep'), undefined)
  }
})

t.test('delete-untagged keeps index children, referrers of kept manifests, and what they reference', async (t) => {
  const { driver, app } = await setup(t)
  const amd = await pushLayers(app, 'multi', undefined, [randomBlob(40).content])
  const arm = await pushLayers(app, 'multi', undefined, [randomBlob(41).content])
  const index = await pushIndex(app, 'multi', 'latest', [amd, arm])
  const signature = await pushLayers(app, 'multi', undefined, [randomBlob(42).content], { subject: index })
  const signatureOfChild = await pushLayers(app, 'multi', undefined, [randomBlob(43).content], { subject: amd })
  const attestationOfSignature = await pushLayers(app, 'multi', undefined, [randomBlob(44).content], { subject: signature })
  // Not reached from any tag:
  const oldLayer = randomBlob(45).content
  const stray = await pushLayers(app, 'multi', undefined, [oldLayer])
  const strayReferrer = await pushLayers(app, 'multi', undefined, [randomBlob(46).content], { subject: stray })
  const orphanedIndex = await pushIndex(app, 'multi', undefined, [stray])
  // A tag moved away leaves its old image untagged.
  const previous = await pushLayers(app, 'multi', 'stable', [randomBlob(47).content])
  await pushLayers(app, 'multi', 'stable', [randomBlob(48).content])

  const summary = await collect(driver, { deleteUntagged: true })
  t.equal(summary.untaggedManifestsDeleted, 4, 'stray, its referrer, the untagged index, the previous stable')
  t.equal(summary.manifests, 11)
  t.equal(summary.manifestsMarked, 7)
  for (const kept of [amd, arm, index, signature, signatureOfChild, attestationOfSignature]) {
    t.equal(await pullProblem(app, 'multi', kept.digest), undefined, `kept ${kept.digest}`)
  }
  for (const removed of [stray, strayReferrer, orphanedIndex, previous]) {
    t.equal((await app.inject({ method: 'HEAD', url: `/v2/multi/manifests/${removed.digest}` })).statusCode, 404, `removed ${removed.digest}`)
    t.notOk(await blobExists(driver, removed.digest), 'and its blob')
  }
  t.notOk(await blobExists(driver, sha256(oldLayer)), 'a layer only removed manifests used is deleted')
  const referrers = JSON.parse((await app.inject({ method: 'GET', url: `/v2/multi/referrers/${index.digest}` })).body) as { manifests: Array<{ digest: string }> }
  t.same(referrers.manifests.map((m) => m.digest), [signature.digest])
  t.same(await driver.list(paths.referrersOf('multi', digest(stray.digest))).catch(() => []), [], 'the removed referrer left the referrers index')
  t.equal(await pullProblem(app, 'multi', 'latest'), undefined)
  t.equal(await pullProblem(app, 'multi', 'stable'), undefined)
})

t.test('without delete-untagged, untagged manifests and their blobs are kept', async (t) => {
  const { driver, app } = await setup(t)
  const untagged = await pushLayers(app, 'r', undefined, [randomBlob(10).content])
  const child = await pushLayers(app, 'r', undefined, [randomBlob(11).content])
  await pushIndex(app, 'r', undefined, [child])
  const summary = await collect(driver)
  t.match(summary, { manifests: 3, manifestsMarked: 3, blobsDeleted: 0 })
  t.equal(await pullProblem(app, 'r', untagged.digest), undefined)
})

t.test('schema1 manifests keep their fsLayers; unreadable ones keep every blob their repository links', async (t) => {
  const driver = new InMemoryDriver()
  const layer = randomBlob(50)
  const otherLayer = randomBlob(51)
  const orphan = randomBlob(52)
  for (const blob of [layer, otherLayer, orphan]) await driver.putContent(paths.blobData(digest(blob.digest)), blob.content)
  const schema1 = Buffer.from(JSON.stringify({
    schemaVersion: 1,
    name: 'old/image',
    tag: 'latest',
    architecture: 'amd64',
    fsLayers: [{ blobSum: layer.digest }, { blobSum: layer.digest }],
    history: [{ v1Compatibility: '{}' }, { v1Compatibility: '{}' }],
    signatures: [{ header: { alg: 'ES256' }, signature: 'x', protected: 'y' }]
  }))
  const schema1Digest = digest(sha256(schema1))
  await driver.putContent(paths.blobData(schema1Digest), schema1)
  await driver.putContent(paths.manifestRevisionLink('old/image', schema1Digest), Buffer.from(schema1Digest.digest))
  await driver.putContent(paths.tagCurrentLink('old/image', 'latest'), Buffer.from(schema1Digest.digest))
  await driver.putContent(paths.layerLink('old/image', digest(layer.digest)), Buffer.from(layer.digest))

  const garbled = Buffer.from('\u0000not json at all')
  const garbledDigest = digest(sha256(garbled))
  await driver.putContent(paths.blobData(garbledDigest), garbled)
  await driver.putContent(paths.manifestRevisionLink('odd', garbledDigest), Buffer.from(garbledDigest.digest))
  await driver.putContent(paths.tagCurrentLink('odd', 'v1'), Buffer.from(garbledDigest.digest))
  await driver.putContent(paths.layerLink('odd', digest(otherLayer.digest)), Buffer.from(otherLayer.digest))
  // An untagged manifest beside it must survive delete-untagged: the unreadable one might be an index naming it.
  const untagged = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: otherLayer.digest, size: 51 }, layers: [] }))
  const untaggedDigest = digest(sha256(untagged))
  await driver.putContent(paths.blobData(untaggedDigest), untagged)
  await driver.putContent(paths.manifestRevisionLink('odd', untaggedDigest), Buffer.from(untaggedDigest.digest))

  const summary = await collect(driver, { deleteUntagged: true })
  t.match(summary, { manifests: 3, manifestsMarked: 3, unreadableManifests: 1, untaggedManifestsDeleted: 0, blobsDeleted: 1, bytesFreed: 52 })
  t.ok(await blobExists(driver, layer.digest), 'the schema1 layer is kept')
  t.ok(await blobExists(driver, otherLayer.digest), 'the layer an unreadable manifest may use is kept')
  t.ok(await blobExists(driver, schema1Digest.digest))
  t.ok(await blobExists(driver, garbledDigest.digest))
  t.notOk(await blobExists(driver, orphan.digest))
})

t.test('a revision whose manifest content is missing is kept, and keeps its repository\'s blobs', async (t) => {
  const driver = new InMemoryDriver()
  const layer = randomBlob(60)
  await driver.putContent(paths.blobData(digest(layer.digest)), layer.content)
  await driver.putContent(paths.layerLink('lost', digest(layer.digest)), Buffer.from(layer.digest))
  const missing = digest(randomBlob(1).digest)
  await driver.putContent(paths.manifestRevisionLink('lost', missing), Buffer.from(missing.digest))
  const summary = await collect(driver)
  t.match(summary, { unreadableManifests: 1, blobsDeleted: 0, layerLinksRemoved: 0 })
  t.ok(await blobExists(driver, layer.digest))
})

t.test('dangling _layers links are removed; young ones are kept within the grace period', async (t) => {
  const { driver, app } = await setup(t)
  await pushImage(app, 'links', 'v1')
  const nowhere = digest(randomBlob(8).digest)
  await driver.putContent(paths.layerLink('links', nowhere), Buffer.from(nowhere.digest))
  await driver.putContent(paths.layerLink('links/nested', nowhere), Buffer.from(nowhere.digest))

  const young = await garbageCollect(driver, { gracePeriodMs: 3_600_000 })
  t.equal(young.layerLinksRemoved, 0, 'links written just now are young')

  const summary = await collect(driver)
  t.equal(summary.layerLinksRemoved, 2)
  t.equal(summary.repositories, 2)
  await t.rejects(driver.stat(paths.layerLink('links', nowhere)))
  await t.rejects(driver.stat(paths.layerLink('links/nested', nowhere)))
  t.equal(await pullProblem(app, 'links', 'v1'), undefined)
})

t.test('the grace period keeps young blobs, and a fresh link keeps an old blob pushed again', async (t) => {
  const root = await tempDir('oci-gc-grace-')
  t.teardown(root.cleanup)
  const app = await buildRegistry({ storage: { filesystem: { rootDirectory: root.path } } })
  t.teardown(async () => { await app.close() })
  const driver = new FilesystemDriver({ rootDirectory: root.path })
  const age = async (path: string): Promise<void> => {
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000)
    await utimes(join(root.path, path), twoHoursAgo, twoHoursAgo)
  }
  const orphan = randomBlob(99)
  const orphanDigest = digest(orphan.digest)
  await pushBlob(app, 'g', orphan.content)
  const young = await garbageCollect(driver, { gracePeriodMs: 3_600_000 })
  t.match(young, { blobsDeleted: 0, blobsYoung: 1 })

  await age(paths.blobData(orphanDigest))
  await age(paths.layerLink('g', orphanDigest))
  // Old data, pushed again (to another repository): the upload finds the blob and only writes a link.
  await pushBlob(app, 'h', orphan.content)
  const relinked = await garbageCollect(driver, { gracePeriodMs: 3_600_000 })
  t.match(relinked, { blobsDeleted: 0, blobsYoung: 1 }, 'the fresh link keeps it')
  t.ok(await blobExists(driver, orphan.digest))

  await age(paths.layerLink('h', orphanDigest))
  const deleted = await garbageCollect(driver, { gracePeriodMs: 3_600_000 })
  t.match(deleted, { blobsDeleted: 1, bytesFreed: 99, layerLinksRemoved: 2 })
  t.notOk(await blobExists(driver, orphan.digest))
  t.equal((await app.inject({ method: 'HEAD', url: `/v2/h/blobs/${orphan.digest}` })).statusCode, 404)
})

t.test('delete-untagged spares manifests younger than the grace period (a push by digest in progress)', async (t) => {
  const { driver, app } = await setup(t)
  const child = await pushLayers(app, 'p', undefined, [randomBlob(12).content])
  const summary = await garbageCollect(driver, { deleteUntagged: true, gracePeriodMs: 60_000 })
  t.match(summary, { untaggedManifestsDeleted: 0, blobsDeleted: 0 })
  t.equal(await pullProblem(app, 'p', child.digest), undefined)
  await pushIndex(app, 'p', 'v1', [child])
  const later = await collect(driver, { deleteUntagged: true })
  t.match(later, { untaggedManifestsDeleted: 0, blobsDeleted: 0 })
})

t.test('blobs set aside by an interrupted collection are put back', async (t) => {
  const { driver, app } = await setup(t)
  const image = await imageManifest(app, 'i', { label: 'interrupted' })
  t.equal((await putManifest(app, 'i', 'v1', image)).statusCode, 201)
  const config = (JSON.parse(image.body.toString()) as { config: { digest: string } }).config.digest
  // As if a collection had set the config aside and died.
  await driver.move(paths.blobData(digest(config)), `${paths.blobDir(digest(config))}/data.gc`)
  t.not(await pullProblem(app, 'i', 'v1'), undefined, 'the image is broken meanwhile')
  const summary = await collect(driver)
  t.equal(summary.quarantineRecovered, 1)
  t.equal(await pullProblem(app, 'i', 'v1'), undefined, 'and whole again')
})

t.test('progress goes through the phases in order with growing counts', async (t) => {
  const { driver, app } = await setup(t)
  await pushImage(app, 'prog/a', 'v1')
  await pushBlob(app, 'prog/a', randomBlob(77).content)
  const seen: GarbageCollectProgress[] = []
  await collect(driver, { onProgress: (progress) => { seen.push(progress) } })
  const phases = seen.map((progress) => progress.phase).filter((phase, index, all) => all[index - 1] !== phase)
  t.same(phases, ['mark', 'scan', 'quarantine', 'verify', 'delete', 'links', 'done'])
  const last = seen[seen.length - 1]
  t.match(last, { phase: 'done', repositories: 1, manifests: 1, blobsScanned: 4, blobsToDelete: 1, bytesToFree: 77, blobsDeleted: 1, bytesFreed: 77, linksRemoved: 1 })
})

t.test('options are checked', async (t) => {
  const driver = new InMemoryDriver()
  await t.rejects(garbageCollect(driver, { gracePeriodMs: -1 }), TypeError)
  await t.rejects(garbageCollect(driver, { gracePeriodMs: Number.NaN }), TypeError)
  await t.rejects(garbageCollect(driver, { concurrency: 0 }), TypeError)
  const empty = await garbageCollect(driver)
  t.match(empty, { repositories: 0, blobs: 0, blobsDeleted: 0, gracePeriodMs: 3_600_000 })
})
