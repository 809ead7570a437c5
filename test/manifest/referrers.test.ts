import t from 'tap'
import { readFileSync } from 'node:fs'
import { digestOf } from '../../lib/digest.js'
import { parseManifest, type ParsedManifest } from '../../lib/manifest/parse.js'
import { referrerDescriptor } from '../../lib/manifest/referrers.js'
import * as MT from '../../lib/manifest/media-types.js'

function fixture (name: string): Buffer {
  return readFileSync(new URL(`../fixtures/manifests/${name}`, import.meta.url))
}

function stored (body: Buffer, contentType?: string): { parsed: ParsedManifest, digest: string, size: number } {
  return { parsed: parseManifest(body, contentType), digest: digestOf(body), size: body.length }
}

const SUBJECT = 'sha256:a9491f4c1bf7b0cffbadcba2db8f028e4b3f2867cb59e1f3a0bc1968f3c51242'

t.test('artifact with artifactType: the manifest artifactType and its annotations', async (t) => {
  const body = fixture('artifact-empty-config.json')
  const { parsed, digest, size } = stored(body, MT.OCI_IMAGE_MANIFEST)
  t.equal(parsed.subject?.digest, SUBJECT)
  const descriptor = referrerDescriptor(parsed, digest, size)
  t.strictSame(descriptor, {
    mediaType: MT.OCI_IMAGE_MANIFEST,
    digest,
    size: body.length,
    artifactType: 'application/spdx+json',
    annotations: {
      'org.opencontainers.image.created': '2024-05-01T12:00:00Z',
      'org.example.sbom.format': 'spdx'
    }
  })
  t.strictSame(Object.keys(descriptor), ['mediaType', 'digest', 'size', 'artifactType', 'annotations'])
})

t.test('image manifest without artifactType: the config mediaType', async (t) => {
  const signature = stored(fixture('signature-with-subject.json'))
  t.equal(referrerDescriptor(signature.parsed, signature.digest, signature.size).artifactType, 'application/vnd.cncf.notary.signature')
  const chart = stored(fixture('artifact-custom-config.json'))
  t.equal(referrerDescriptor(chart.parsed, chart.digest, chart.size).artifactType, 'application/vnd.cncf.helm.config.v1+json')
  // the distribution-spec says config.mediaType even for an ordinary image config
  const image = stored(fixture('oci-manifest.json'))
  t.equal(referrerDescriptor(image.parsed, image.digest, image.size).artifactType, MT.OCI_IMAGE_CONFIG)
})

t.test('index: artifactType only when it declares one', async (t) => {
  const plain = stored(fixture('oci-index.json'))
  const descriptor = referrerDescriptor(plain.parsed, plain.digest, plain.size)
  t.notOk('artifactType' in descriptor)
  t.strictSame(descriptor, {
    mediaType: MT.OCI_IMAGE_INDEX,
    digest: plain.digest,
    size: plain.size,
    annotations: { 'org.opencontainers.image.ref.name': '1.2.3' }
  })
  const source = JSON.parse(fixture('oci-index.json').toString())
  source.artifactType = 'application/vnd.example.bundle'
  source.subject = { mediaType: MT.OCI_IMAGE_MANIFEST, digest: SUBJECT, size: 1 }
  delete source.annotations
  const typed = stored(Buffer.from(JSON.stringify(source)))
  t.strictSame(referrerDescriptor(typed.parsed, typed.digest, typed.size), {
    mediaType: MT.OCI_IMAGE_INDEX, digest: typed.digest, size: typed.size, artifactType: 'application/vnd.example.bundle'
  })
})

t.test('no annotations, or empty annotations: the field is omitted', async (t) => {
  const source = JSON.parse(fixture('signature-with-subject.json').toString())
  delete source.annotations
  const none = stored(Buffer.from(JSON.stringify(source)))
  t.notOk('annotations' in referrerDescriptor(none.parsed, none.digest, none.size))
  source.annotations = {}
  const empty = stored(Buffer.from(JSON.stringify(source)))
  t.notOk('annotations' in referrerDescriptor(empty.parsed, empty.digest, empty.size))
})

t.test('only the referrers fields: no subject, config, platform or urls leak in', async (t) => {
  const { parsed, digest, size } = stored(fixture('artifact-empty-config.json'))
  const descriptor = referrerDescriptor(parsed, digest, size) as unknown as Record<string, unknown>
  for (const key of ['subject', 'config', 'platform', 'urls', 'blobs', 'manifests', 'kind']) t.notOk(key in descriptor, key)
})

t.test('annotations are copied, not shared', async (t) => {
  const { parsed, digest, size } = stored(fixture('artifact-empty-config.json'))
  const descriptor = referrerDescriptor(parsed, digest, size)
  t.not(descriptor.annotations, parsed.annotations)
  if (descriptor.annotations !== undefined) descriptor.annotations.added = 'x'
  t.notOk(Object.hasOwn(parsed.annotations ?? {}, 'added'))
})

t.test('the mediaType is the stored one, whatever the Content-Type spelling', async (t) => {
  const { parsed, digest, size } = stored(fixture('signature-with-subject.json'), 'Application/VND.OCI.image.manifest.v1+json; charset=utf-8')
  t.equal(referrerDescriptor(parsed, digest, size).mediaType, MT.OCI_IMAGE_MANIFEST)
})

t.test('a hand-built ParsedManifest for an image without artifactType falls back to its config', async (t) => {
  const config = { mediaType: 'application/vnd.example.config', digest: MT.OCI_EMPTY_DIGEST, size: 2 }
  const parsed: ParsedManifest = { kind: 'image', mediaType: MT.OCI_IMAGE_MANIFEST, blobs: [config], manifests: [], config }
  t.equal(referrerDescriptor(parsed, MT.OCI_EMPTY_DIGEST, 2).artifactType, 'application/vnd.example.config')
  const bare: ParsedManifest = { kind: 'image', mediaType: MT.OCI_IMAGE_MANIFEST, blobs: [], manifests: [] }
  t.notOk('artifactType' in referrerDescriptor(bare, MT.OCI_EMPTY_DIGEST, 2))
})

t.test('serialises to the distribution-spec example shape', async (t) => {
  const { parsed, digest, size } = stored(fixture('artifact-empty-config.json'))
  const index = { schemaVersion: 2, mediaType: MT.OCI_IMAGE_INDEX, manifests: [referrerDescriptor(parsed, digest, size)] }
  const reparsed = parseManifest(Buffer.from(JSON.stringify(index)), MT.OCI_IMAGE_INDEX)
  t.equal(reparsed.manifests[0].artifactType, 'application/spdx+json', 'a referrers response is itself a valid index')
})

t.test('caller bugs are TypeErrors', async (t) => {
  const { parsed } = stored(fixture('artifact-empty-config.json'))
  t.throws(() => referrerDescriptor(parsed, 'sha256:nope', 1), TypeError)
  t.throws(() => referrerDescriptor(parsed, MT.OCI_EMPTY_DIGEST, -1), TypeError)
  t.throws(() => referrerDescriptor(parsed, MT.OCI_EMPTY_DIGEST, 1.5), TypeError)
  t.throws(() => referrerDescriptor(parsed, MT.OCI_EMPTY_DIGEST, Number.NaN), TypeError)
})
