/**
 * Writes that race: batches of generated manifest PUTs (by tag and by
 * digest), deletes (by tag and by digest), blob deletes, mounts and uploads
 * on one repository, sent all at once. Whatever the interleaving, nothing
 * partial is visible afterwards: every listed tag resolves to a manifest
 * that is served with bytes matching its digest, and every blob that HEADs
 * 200 GETs bytes matching its digest.
 */
import t from 'tap'
import fc from 'fast-check'
import { tempDir } from '../helpers/registry.js'
import { DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, imageManifest, type PushedManifest } from '../helpers/images.js'
import { buildFuzzRegistry, checkInvariants, digestOf, fuzzParameters, send, unexpectedErrors, type FuzzRequest } from '../helpers/fuzz-oracle.js'

t.test('concurrent writes to one repository never leave a dangling tag or a partial blob', async (t) => {
  // The filesystem driver: its operations really interleave (the in-memory one settles in microtasks).
  const root = await tempDir('oci-fuzz-race-')
  t.teardown(root.cleanup)
  const { app, errorLogs } = await buildFuzzRegistry({ storage: { filesystem: { rootDirectory: root.path } }, delete: { enabled: true } })
  t.teardown(async () => await app.close())
  const name = 'race'
  const images: PushedManifest[] = []
  for (const [label, mediaType] of [['one', OCI_MANIFEST], ['two', OCI_MANIFEST], ['three', DOCKER_MANIFEST]]) images.push(await imageManifest(app, name, { label, mediaType }))
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: images.slice(0, 2).map((image) => ({ mediaType: image.mediaType, digest: image.digest, size: image.body.length })) }))
  const indexManifest: PushedManifest = { digest: digestOf(index), body: index, mediaType: OCI_INDEX }
  const manifests = [...images, indexManifest]
  const blob = Buffer.from('a racing blob')
  const tags = ['t1', 't2', 't3']

  type Op =
    | { kind: 'put', manifest: number, tag: number | undefined }
    | { kind: 'delete-digest', manifest: number }
    | { kind: 'delete-tag', tag: number }
    | { kind: 'blob', action: 'push' | 'delete' | 'mount' }
    | { kind: 'read', manifest: number }
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('put' as const), manifest: fc.nat(manifests.length - 1), tag: fc.option(fc.nat(tags.length - 1), { nil: undefined }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete-digest' as const), manifest: fc.nat(manifests.length - 1) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete-tag' as const), tag: fc.nat(tags.length - 1) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('blob' as const), action: fc.constantFrom('push' as const, 'delete' as const, 'mount' as const) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('read' as const), manifest: fc.nat(manifests.length - 1) }) }
  )
  const toRequest = (operation: Op): FuzzRequest => {
    switch (operation.kind) {
      case 'put': {
        const manifest = manifests[operation.manifest]
        return { method: 'PUT', url: `/v2/${name}/manifests/${operation.tag === undefined ? manifest.digest : tags[operation.tag]}`, headers: { 'content-type': manifest.mediaType }, body: manifest.body }
      }
      case 'delete-digest': return { method: 'DELETE', url: `/v2/${name}/manifests/${manifests[operation.manifest].digest}`, headers: {} }
      case 'delete-tag': return { method: 'DELETE', url: `/v2/${name}/manifests/${tags[operation.tag]}`, headers: {} }
      case 'blob':
        if (operation.action === 'push') return { method: 'POST', url: `/v2/${name}/blobs/uploads/?digest=${digestOf(blob)}`, headers: { 'content-type': 'application/octet-stream' }, body: blob }
        if (operation.action === 'mount') return { method: 'POST', url: `/v2/${name}/blobs/uploads/?mount=${digestOf(blob)}&from=${name}`, headers: {} }
        return { method: 'DELETE', url: `/v2/${name}/blobs/${digestOf(blob)}`, headers: {} }
      case 'read': return { method: 'GET', url: `/v2/${name}/manifests/${manifests[operation.manifest].digest}`, headers: {} }
    }
  }
  const statuses = new Map<string, number>()
  // KNOWN BUG 7 (test/fuzz/README.md): a blob DELETE racing a push or mount of the same blob can answer 500
  // (ENOTEMPTY from rmdir, or ENOENT on the link's rename); such batches are left out until it is fixed.
  await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 2, maxLength: 10 }), async (batch) => {
    const answers = await Promise.all(batch.map(async (operation) => await send(app, toRequest(operation))))
    answers.forEach((answer, i) => {
      const key = `${batch[i].kind} ${answer.status}`
      statuses.set(key, (statuses.get(key) ?? 0) + 1)
      if (answer.status >= 500) throw new Error(`${batch[i].kind} answered ${answer.status}: ${answer.body.toString()}`)
    })
    await checkInvariants(app, { names: new Set([name]), digests: new Set([digestOf(blob), ...images.flatMap((image) => (JSON.parse(image.body.toString()) as { layers: Array<{ digest: string }> }).layers.map((layer) => layer.digest))]) })
    const errors = unexpectedErrors(errorLogs())
    if (errors.length > 0) throw new Error(`unexpected error logged: ${errors[0].slice(0, 400)}`)
  }), fuzzParameters(t, 60))
  t.comment([...statuses].sort().map(([key, count]) => `${key}: ${count}`).join(', '))
})
