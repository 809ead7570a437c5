import t from 'tap'
import { readFile } from 'node:fs/promises'
import { manifestReferences } from '../../lib/gc/references.js'
import { reachable } from '../../lib/gc/reachability.js'
import { formatBytes, formatDuration } from '../../lib/gc/format.js'

const fixture = async (name: string): Promise<Buffer> => await readFile(new URL(`../fixtures/manifests/${name}`, import.meta.url))
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value))
const d = (n: number): string => `sha256:${String(n).repeat(64).slice(0, 64)}`

t.test('manifests this registry accepts are read with its parser', async (t) => {
  const index = manifestReferences(await fixture('oci-index.json'))
  t.equal(index.source, 'parsed')
  t.ok(index.manifests.length > 0)
  t.same(index.blobs, [])
  const signature = manifestReferences(await fixture('signature-with-subject.json'))
  t.equal(signature.source, 'parsed')
  t.type(signature.subject, 'string')
  const foreign = manifestReferences(await fixture('docker-foreign-layers.json'))
  const parsed = JSON.parse((await fixture('docker-foreign-layers.json')).toString()) as { config: { digest: string }, layers: Array<{ digest: string }> }
  t.same(foreign.blobs.sort(), [...new Set([parsed.config.digest, ...parsed.layers.map((layer) => layer.digest)])].sort(), 'foreign layers are marked too, in case they were pushed')
})

t.test('schema1, artifact manifests and documents the parser refuses are read leniently', async (t) => {
  const schema1 = manifestReferences(await fixture('docker-schema1-signed.json'))
  t.equal(schema1.source, 'schema1')
  t.ok(schema1.blobs.length > 0)
  t.ok(schema1.blobs.every((digest) => digest.startsWith('sha256:')))

  const artifact = manifestReferences(json({ mediaType: 'application/vnd.oci.artifact.manifest.v1+json', artifactType: 'x/y', blobs: [{ digest: d(1) }, { digest: d(2) }], subject: { digest: d(3) } }))
  t.same(artifact, { source: 'lenient', blobs: [d(1), d(2)], manifests: [], subject: d(3) })

  // schemaVersion 3: refused by the parser, still readable.
  const odd = manifestReferences(json({ schemaVersion: 3, config: { digest: d(4) }, layers: [{ digest: d(5) }, 'junk', { digest: 7 }], manifests: [{ digest: d(6) }] }))
  t.same(odd, { source: 'lenient', blobs: [d(4), d(5)], manifests: [d(6)] })
})

t.test('anything else is opaque', async (t) => {
  for (const content of [Buffer.from('not json'), json([1, 2]), json({ hello: 'world' }), json({ schemaVersion: 1 }), Buffer.from([0xff, 0xfe])]) {
    t.equal(manifestReferences(content).source, 'opaque', content.toString('utf8'))
  }
})

t.test('reachability follows index children and referrers, within the present set', async (t) => {
  const refs = new Map([
    ['index', { source: 'parsed' as const, blobs: [], manifests: ['child', 'missing'] }],
    ['child', { source: 'parsed' as const, blobs: ['layer'], manifests: [] }],
    ['sig', { source: 'parsed' as const, blobs: [], manifests: [], subject: 'child' }],
    ['sig-of-sig', { source: 'parsed' as const, blobs: [], manifests: [], subject: 'sig' }],
    ['stray', { source: 'parsed' as const, blobs: [], manifests: [] }],
    ['stray-sig', { source: 'parsed' as const, blobs: [], manifests: [], subject: 'stray' }]
  ])
  const kept = reachable(refs.keys(), ['index', 'not-present'], (digest) => refs.get(digest))
  t.same([...kept].sort(), ['child', 'index', 'sig', 'sig-of-sig'])
})

t.test('formatting', async (t) => {
  t.equal(formatBytes(0), '0 B')
  t.equal(formatBytes(1023), '1023 B')
  t.equal(formatBytes(1536), '1.5 KiB')
  t.equal(formatBytes(50 * 1024 * 1024), '50 MiB')
  t.equal(formatDuration(0), '0 ms')
  t.equal(formatDuration(1500), '1.5 s')
  t.equal(formatDuration(75_000), '1m15s')
  t.equal(formatDuration(3_600_000), '1h')
  t.equal(formatDuration(5_400_000), '1h30m')
})
