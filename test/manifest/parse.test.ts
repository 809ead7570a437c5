import t, { type Test } from 'tap'
import fc from 'fast-check'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { RegistryError } from '../../errors/registry-error.js'
import { parseManifest, type ParsedManifest } from '../../lib/manifest/parse.js'
import * as MT from '../../lib/manifest/media-types.js'

type Doc = any
type Path = Array<string | number>

function fixture (name: string): Buffer {
  return readFileSync(new URL(`../fixtures/manifests/${name}`, import.meta.url))
}

function doc (name: string): Doc {
  return JSON.parse(fixture(name).toString('utf8'))
}

function bytes (value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value))
}

function sha (text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`
}

function setPath (target: Doc, path: Path, value: unknown): Doc {
  const copy = structuredClone(target)
  let node = copy
  for (const key of path.slice(0, -1)) node = node[key]
  const last = path[path.length - 1]
  if (value === undefined) delete node[last]
  else node[last] = value
  return copy
}

/** Asserts that `fn` throws MANIFEST_INVALID (400), optionally naming `field`; returns the error. */
function invalid (t: Test, fn: () => unknown, field?: string, message?: RegExp): RegistryError | undefined {
  try {
    fn()
  } catch (error) {
    t.ok(error instanceof RegistryError, 'a RegistryError')
    if (!(error instanceof RegistryError)) return undefined
    t.equal(error.code, 'MANIFEST_INVALID')
    t.equal(error.status, 400)
    if (field !== undefined) t.equal((error.detail as { field?: string } | undefined)?.field, field, `detail.field is ${field}`)
    if (message !== undefined) t.match(error.message, message)
    return error
  }
  t.fail('expected MANIFEST_INVALID')
  return undefined
}

/** Only a RegistryError MANIFEST_INVALID may come out of parseManifest. */
function parsesOrRefuses (body: Uint8Array, contentType: string | undefined): ParsedManifest | undefined {
  try {
    return parseManifest(body, contentType)
  } catch (error) {
    if (error instanceof RegistryError && error.code === 'MANIFEST_INVALID' && error.status === 400) return undefined
    throw error
  }
}

t.test('media-types helpers', async (t) => {
  t.equal(MT.normalizeMediaType('Application/VND.OCI.Image.Manifest.v1+JSON ; charset=utf-8'), MT.OCI_IMAGE_MANIFEST)
  t.equal(MT.normalizeMediaType(''), undefined)
  t.equal(MT.normalizeMediaType(' ; q=1'), undefined)
  t.equal(MT.normalizeMediaType(undefined), undefined)
  t.ok(MT.isManifestMediaType(MT.OCI_IMAGE_MANIFEST))
  t.ok(MT.isManifestMediaType(`${MT.DOCKER_MANIFEST_V2}; charset=utf-8`))
  t.notOk(MT.isManifestMediaType(MT.OCI_IMAGE_INDEX))
  t.notOk(MT.isManifestMediaType(MT.DOCKER_MANIFEST_V1))
  t.notOk(MT.isManifestMediaType(undefined))
  t.ok(MT.isIndexMediaType(MT.OCI_IMAGE_INDEX))
  t.ok(MT.isIndexMediaType(MT.DOCKER_MANIFEST_LIST.toUpperCase()))
  t.notOk(MT.isIndexMediaType(MT.OCI_IMAGE_MANIFEST))
  t.ok(MT.isSchema1MediaType(MT.DOCKER_MANIFEST_V1_SIGNED))
  t.ok(MT.isSupportedManifestMediaType(MT.DOCKER_MANIFEST_LIST))
  t.notOk(MT.isSupportedManifestMediaType('application/json'))
  t.same([...MT.SUPPORTED_MANIFEST_MEDIA_TYPES].sort(), [MT.DOCKER_MANIFEST_LIST, MT.DOCKER_MANIFEST_V2, MT.OCI_IMAGE_INDEX, MT.OCI_IMAGE_MANIFEST].sort())
  t.ok(MT.isNonDistributableLayerMediaType(MT.DOCKER_FOREIGN_LAYER_TAR_GZIP))
  t.ok(MT.isNonDistributableLayerMediaType(MT.OCI_LAYER_NONDISTRIBUTABLE_TAR_ZSTD))
  t.notOk(MT.isNonDistributableLayerMediaType(MT.OCI_LAYER_TAR_GZIP))
  t.ok(MT.isWellFormedMediaType('application/vnd.cncf.helm.chart.content.v1.tar+gzip'))
  t.notOk(MT.isWellFormedMediaType('application/json; charset=utf-8'))
  t.notOk(MT.isWellFormedMediaType('application'))
  t.notOk(MT.isWellFormedMediaType('/json'))
  t.equal(MT.OCI_EMPTY_DIGEST, sha('{}'))
  t.equal(MT.OCI_EMPTY_SIZE, 2)
})

t.test('OCI image manifest', async (t) => {
  const body = fixture('oci-manifest.json')
  const source = doc('oci-manifest.json')
  const parsed = parseManifest(body, MT.OCI_IMAGE_MANIFEST)
  t.equal(parsed.kind, 'image')
  t.equal(parsed.mediaType, MT.OCI_IMAGE_MANIFEST)
  t.strictSame(parsed.blobs, [source.config, ...source.layers])
  t.strictSame(parsed.manifests, [])
  t.strictSame(parsed.config, source.config)
  t.strictSame(parsed.foreignLayers, [])
  t.equal(parsed.artifactType, MT.OCI_IMAGE_CONFIG, 'config.mediaType, per the referrers rules')
  t.strictSame(parsed.annotations, source.annotations)
  t.equal(parsed.subject, undefined)
  t.notOk('subject' in parsed, 'absent optional fields are not set to undefined')
  t.strictSame(JSON.parse(JSON.stringify(parsed)), parsed, 'serialises losslessly')
})

t.test('OCI image index with two platforms and an attestation', async (t) => {
  const source = doc('oci-index.json')
  const parsed = parseManifest(fixture('oci-index.json'), `${MT.OCI_IMAGE_INDEX}; charset=utf-8`)
  t.equal(parsed.kind, 'index')
  t.equal(parsed.mediaType, MT.OCI_IMAGE_INDEX)
  t.strictSame(parsed.blobs, [])
  t.strictSame(parsed.manifests, source.manifests)
  t.strictSame(parsed.manifests[1].platform, { architecture: 'arm64', os: 'linux', variant: 'v8' })
  t.equal(parsed.artifactType, undefined, 'an index has no artifactType unless it declares one')
  t.strictSame(parsed.annotations, { 'org.opencontainers.image.ref.name': '1.2.3' })
  t.equal(parsed.config, undefined)
})

t.test('Docker image manifest v2 schema 2', async (t) => {
  const source = doc('docker-manifest.json')
  const parsed = parseManifest(fixture('docker-manifest.json'), MT.DOCKER_MANIFEST_V2)
  t.equal(parsed.kind, 'image')
  t.equal(parsed.mediaType, MT.DOCKER_MANIFEST_V2)
  t.strictSame(parsed.blobs, [source.config, source.layers[0], source.layers[1]], 'a repeated layer is listed once')
  t.equal(parsed.artifactType, MT.DOCKER_CONTAINER_CONFIG)
  t.equal(parsed.annotations, undefined)
  // the same body with no Content-Type, or a generic one, is recognised by its mediaType
  t.equal(parseManifest(fixture('docker-manifest.json'), undefined).mediaType, MT.DOCKER_MANIFEST_V2)
  t.equal(parseManifest(fixture('docker-manifest.json'), 'application/json').mediaType, MT.DOCKER_MANIFEST_V2)
})

t.test('Docker schema 2: zero layers are accepted (as distribution does)', async (t) => {
  const parsed = parseManifest(bytes(setPath(doc('docker-manifest.json'), ['layers'], [])), MT.DOCKER_MANIFEST_V2)
  t.equal(parsed.blobs.length, 1)
})

t.test('Docker schema 2 ignores OCI-only fields', async (t) => {
  let source = doc('docker-manifest.json')
  source = setPath(source, ['subject'], { mediaType: MT.OCI_IMAGE_MANIFEST, digest: sha('x'), size: 1 })
  source = setPath(source, ['artifactType'], 'application/vnd.example')
  source = setPath(source, ['annotations'], { a: 'b' })
  const parsed = parseManifest(bytes(source), MT.DOCKER_MANIFEST_V2)
  t.equal(parsed.subject, undefined)
  t.equal(parsed.artifactType, MT.DOCKER_CONTAINER_CONFIG)
  t.equal(parsed.annotations, undefined)
})

t.test('Docker manifest list', async (t) => {
  const source = doc('docker-manifest-list.json')
  const parsed = parseManifest(fixture('docker-manifest-list.json'), MT.DOCKER_MANIFEST_LIST)
  t.equal(parsed.kind, 'index')
  t.equal(parsed.mediaType, MT.DOCKER_MANIFEST_LIST)
  t.strictSame(parsed.manifests, source.manifests)
  t.strictSame(parsed.manifests[2].platform, {
    architecture: 'amd64', os: 'windows', 'os.version': '10.0.17763.5820', 'os.features': ['win32k']
  })
  t.strictSame(parsed.manifests[1].platform?.features, ['sse4'])
  t.equal(parsed.artifactType, undefined)
  t.equal(parsed.subject, undefined)
})

t.test('artifact with artifactType, the empty config and a subject', async (t) => {
  const source = doc('artifact-empty-config.json')
  const parsed = parseManifest(fixture('artifact-empty-config.json'), MT.OCI_IMAGE_MANIFEST)
  t.equal(parsed.artifactType, 'application/spdx+json')
  t.strictSame(parsed.config, {
    mediaType: MT.OCI_EMPTY, digest: MT.OCI_EMPTY_DIGEST, size: 2
  }, 'data is validated but not copied')
  t.strictSame(parsed.blobs.map((d) => d.digest), [MT.OCI_EMPTY_DIGEST, source.layers[0].digest], 'the empty config must exist too')
  t.strictSame(parsed.subject, source.subject)
  t.strictSame(parsed.annotations, source.annotations)
})

t.test('artifact without artifactType: artifactType is config.mediaType', async (t) => {
  const parsed = parseManifest(fixture('artifact-custom-config.json'), undefined)
  t.equal(parsed.mediaType, MT.OCI_IMAGE_MANIFEST, 'inferred from config + layers')
  t.equal(parsed.artifactType, 'application/vnd.cncf.helm.config.v1+json')
  t.equal(parsed.blobs.length, 2)
})

t.test('artifactType "" or null counts as missing', async (t) => {
  for (const value of ['', null]) {
    const parsed = parseManifest(bytes(setPath(doc('artifact-custom-config.json'), ['artifactType'], value)), MT.OCI_IMAGE_MANIFEST)
    t.equal(parsed.artifactType, 'application/vnd.cncf.helm.config.v1+json')
  }
})

t.test('artifact whose only layer is the empty descriptor (same digest as the config)', async (t) => {
  const source = setPath(doc('artifact-empty-config.json'), ['layers'], [
    { mediaType: MT.OCI_EMPTY, digest: MT.OCI_EMPTY_DIGEST, size: 2 }
  ])
  const parsed = parseManifest(bytes(source), MT.OCI_IMAGE_MANIFEST)
  t.strictSame(parsed.blobs, [{ mediaType: MT.OCI_EMPTY, digest: MT.OCI_EMPTY_DIGEST, size: 2 }])
})

t.test('empty config without artifactType is accepted (reported with the empty type)', async (t) => {
  const parsed = parseManifest(bytes(setPath(doc('artifact-empty-config.json'), ['artifactType'], undefined)), undefined)
  t.equal(parsed.artifactType, MT.OCI_EMPTY)
})

t.test('OCI artifact with empty layers', async (t) => {
  const parsed = parseManifest(bytes(setPath(doc('artifact-empty-config.json'), ['layers'], [])), MT.OCI_IMAGE_MANIFEST)
  t.strictSame(parsed.blobs, [{ mediaType: MT.OCI_EMPTY, digest: MT.OCI_EMPTY_DIGEST, size: 2 }])
})

t.test('signature with a subject pointing at an index', async (t) => {
  const source = doc('signature-with-subject.json')
  const parsed = parseManifest(fixture('signature-with-subject.json'), MT.OCI_IMAGE_MANIFEST)
  t.equal(parsed.artifactType, 'application/vnd.cncf.notary.signature')
  t.strictSame(parsed.subject, source.subject)
  t.strictSame(parsed.annotations, source.annotations)
})

t.test('index with subject and artifactType', async (t) => {
  let source = doc('oci-index.json')
  source = setPath(source, ['subject'], { mediaType: MT.OCI_IMAGE_MANIFEST, digest: sha('s'), size: 7, annotations: { a: 'b' } })
  source = setPath(source, ['artifactType'], 'application/vnd.example.bundle')
  const parsed = parseManifest(bytes(source), MT.OCI_IMAGE_INDEX)
  t.strictSame(parsed.subject, { mediaType: MT.OCI_IMAGE_MANIFEST, digest: sha('s'), size: 7, annotations: { a: 'b' } })
  t.equal(parsed.artifactType, 'application/vnd.example.bundle')
})

t.test('a subject with a sha512 digest and any media type is accepted', async (t) => {
  const digest = `sha512:${createHash('sha512').update('x').digest('hex')}`
  const source = setPath(doc('oci-manifest.json'), ['subject'], { mediaType: 'application/vnd.example.thing', digest, size: 1 })
  t.equal(parseManifest(bytes(source), undefined).subject?.digest, digest)
})

t.test('Docker foreign layers are not required to exist', async (t) => {
  const source = doc('docker-foreign-layers.json')
  const parsed = parseManifest(fixture('docker-foreign-layers.json'), MT.DOCKER_MANIFEST_V2)
  t.strictSame(parsed.blobs, [source.config, source.layers[1]])
  t.strictSame(parsed.foreignLayers, [source.layers[0]])
  t.strictSame(parsed.foreignLayers?.[0].urls, source.layers[0].urls)
})

t.test('Docker foreign layers must carry fetchable URLs', async (t) => {
  const source = doc('docker-foreign-layers.json')
  invalid(t, () => parseManifest(bytes(setPath(source, ['layers', 0, 'urls'], undefined)), undefined), 'layers[0].urls', /foreign layer/)
  invalid(t, () => parseManifest(bytes(setPath(source, ['layers', 0, 'urls'], [])), undefined), 'layers[0].urls')
  invalid(t, () => parseManifest(bytes(setPath(source, ['layers', 0, 'urls'], ['ftp://example.com/x'])), undefined), 'layers[0].urls[0]', /http or https/)
  invalid(t, () => parseManifest(bytes(setPath(source, ['layers', 0, 'urls'], ['https://example.com/x#frag'])), undefined), 'layers[0].urls[0]')
  invalid(t, () => parseManifest(bytes(setPath(source, ['layers', 0, 'urls'], ['/relative/path'])), undefined), 'layers[0].urls[0]', /absolute URL/)
})

t.test('OCI non-distributable layers: skipped only when they carry urls', async (t) => {
  const source = doc('oci-nondistributable-layers.json')
  const parsed = parseManifest(fixture('oci-nondistributable-layers.json'), MT.OCI_IMAGE_MANIFEST)
  t.strictSame(parsed.foreignLayers, [source.layers[0]])
  t.strictSame(parsed.blobs, [source.config, source.layers[1], source.layers[2]], 'without urls, or distributable with urls: must exist')
})

t.test('a Docker foreign layer inside an OCI manifest is treated the same way', async (t) => {
  const foreign = doc('docker-foreign-layers.json').layers[0]
  const parsed = parseManifest(bytes(setPath(doc('oci-manifest.json'), ['layers'], [foreign])), undefined)
  t.strictSame(parsed.foreignLayers, [foreign])
  t.equal(parsed.blobs.length, 1)
})

t.test('urls on a config are checked loosely (absolute URL, any scheme)', async (t) => {
  const source = setPath(doc('oci-manifest.json'), ['config', 'urls'], ['s3://bucket/key'])
  t.strictSame(parseManifest(bytes(source), undefined).config?.urls, ['s3://bucket/key'])
  invalid(t, () => parseManifest(bytes(setPath(source, ['config', 'urls'], ['no scheme'])), undefined), 'config.urls[0]')
})

t.test('an index child of any media type must exist (distribution behaviour)', async (t) => {
  const child = { mediaType: 'application/vnd.example.not-a-manifest', digest: sha('other'), size: 10 }
  const source = setPath(doc('oci-index.json'), ['manifests', 3], child)
  const parsed = parseManifest(bytes(source), undefined)
  t.equal(parsed.manifests.length, 4)
  t.strictSame(parsed.manifests[3], child)
})

t.test('index children are deduplicated by digest', async (t) => {
  const source = doc('oci-index.json')
  source.manifests.push({ ...source.manifests[0], platform: { architecture: 'amd64', os: 'linux', variant: 'v3' } })
  const parsed = parseManifest(bytes(source), undefined)
  t.equal(parsed.manifests.length, 3)
  t.strictSame(parsed.manifests[0].platform, { architecture: 'amd64', os: 'linux' }, 'first wins')
})

t.test('empty index', async (t) => {
  const parsed = parseManifest(bytes({ schemaVersion: 2, mediaType: MT.OCI_IMAGE_INDEX, manifests: [] }), undefined)
  t.strictSame(parsed, { kind: 'index', mediaType: MT.OCI_IMAGE_INDEX, blobs: [], manifests: [] })
})

t.test('mixed media types inside documents are accepted', async (t) => {
  const list = setPath(doc('docker-manifest-list.json'), ['manifests', 0, 'mediaType'], MT.OCI_IMAGE_MANIFEST)
  t.equal(parseManifest(bytes(list), undefined).manifests[0].mediaType, MT.OCI_IMAGE_MANIFEST)
  const image = setPath(doc('oci-manifest.json'), ['layers', 0, 'mediaType'], MT.DOCKER_LAYER_TAR_GZIP)
  t.equal(parseManifest(bytes(image), undefined).blobs[1].mediaType, MT.DOCKER_LAYER_TAR_GZIP)
})

t.test('descriptors are plain copies of the known fields only', async (t) => {
  let source = doc('oci-manifest.json')
  source = setPath(source, ['layers', 0, 'x-vendor'], { nested: [1, 2, 3] })
  source = setPath(source, ['layers', 0, 'data'], 'e30=')
  source = setPath(source, ['layers', 0, 'artifactType'], 'application/vnd.example.part')
  source = setPath(source, ['config', 'platform'], { architecture: 'amd64', os: 'linux', extra: true })
  source = setPath(source, ['annotations'], { __proto__: 'proto-value', constructor: 'c' })
  // setPath + JSON would drop a literal __proto__ key; write it into the raw text instead.
  const text = JSON.stringify(source).replace('"annotations":{"constructor"', '"annotations":{"__proto__":"proto-value","constructor"')
  const parsed = parseManifest(Buffer.from(text), undefined)
  t.strictSame(Object.keys(parsed.blobs[1]), ['mediaType', 'digest', 'size', 'artifactType'])
  t.strictSame(parsed.config?.platform, { architecture: 'amd64', os: 'linux' })
  t.ok(Object.hasOwn(parsed.annotations ?? {}, '__proto__'), '__proto__ stays an own key')
  t.equal(Object.getPrototypeOf(parsed.annotations), Object.prototype)
  t.equal(parsed.annotations?.constructor, 'c')
  t.equal(({} as Record<string, unknown>).polluted, undefined)
  t.match(JSON.stringify(parsed), /"__proto__":"proto-value"/)
  // the result shares nothing with a second parse
  parsed.blobs[0].size = 999
  t.equal(parseManifest(Buffer.from(text), undefined).blobs[0].size, source.config.size)
})

t.test('null optional fields are treated as absent', async (t) => {
  let source = doc('oci-manifest.json')
  for (const field of ['annotations', 'subject', 'artifactType', 'manifests']) source = setPath(source, [field], null)
  source = setPath(source, ['layers', 0, 'urls'], null)
  source = setPath(source, ['layers', 0, 'annotations'], null)
  source = setPath(source, ['layers', 0, 'platform'], null)
  source = setPath(source, ['layers', 0, 'artifactType'], null)
  source = setPath(source, ['layers', 0, 'data'], null)
  source = setPath(source, ['mediaType'], null)
  const parsed = parseManifest(bytes(source), undefined)
  t.equal(parsed.mediaType, MT.OCI_IMAGE_MANIFEST)
  t.strictSame(Object.keys(parsed.blobs[1]), ['mediaType', 'digest', 'size'])
  t.equal(parsed.annotations, undefined)
})

t.test('unknown fields are ignored, whatever their shape', async (t) => {
  const source = setPath(doc('oci-manifest.json'), ['x-junk'], { a: [null, true, 1e300, { b: 'c' }] })
  t.equal(parseManifest(bytes(source), undefined).kind, 'image')
})

t.test('duplicate keys: the last wins, as in Go', async (t) => {
  const text = fixture('oci-manifest.json').toString('utf8').replace('"schemaVersion": 2,', '"schemaVersion": 1, "schemaVersion": 2,')
  t.equal(parseManifest(Buffer.from(text), undefined).kind, 'image')
})

t.test('Docker schema 1 is refused clearly', async (t) => {
  const schema1 = fixture('docker-schema1-signed.json')
  const message = /schema 1 is not supported/
  invalid(t, () => parseManifest(schema1, MT.DOCKER_MANIFEST_V1_SIGNED), undefined, message)
  invalid(t, () => parseManifest(schema1, MT.DOCKER_MANIFEST_V1), undefined, message)
  invalid(t, () => parseManifest(Buffer.from('not even json'), 'Application/VND.docker.distribution.manifest.v1+prettyjws; charset=utf-8'), undefined, message)
  invalid(t, () => parseManifest(schema1, 'application/json'), 'schemaVersion', message)
  invalid(t, () => parseManifest(schema1, undefined), 'schemaVersion', message)
  invalid(t, () => parseManifest(schema1, MT.OCI_IMAGE_MANIFEST), 'schemaVersion', message)
  const declared = setPath(doc('oci-manifest.json'), ['mediaType'], MT.DOCKER_MANIFEST_V1)
  invalid(t, () => parseManifest(bytes(declared), undefined), 'mediaType', message)
})

t.test('media type in the body and in Content-Type must agree', async (t) => {
  const oci = fixture('oci-manifest.json')
  const error = invalid(t, () => parseManifest(oci, MT.DOCKER_MANIFEST_V2), 'mediaType', /declares .* but was sent with Content-Type/)
  t.same(error?.detail, { field: 'mediaType', mediaType: MT.OCI_IMAGE_MANIFEST, contentType: MT.DOCKER_MANIFEST_V2 })
  invalid(t, () => parseManifest(oci, MT.OCI_IMAGE_INDEX), 'mediaType')
  invalid(t, () => parseManifest(fixture('docker-manifest.json'), MT.OCI_IMAGE_MANIFEST), 'mediaType')
  invalid(t, () => parseManifest(fixture('oci-index.json'), MT.DOCKER_MANIFEST_LIST), 'mediaType')
  // agreement ignores parameters and case, and a body type in capitals is canonicalised
  t.equal(parseManifest(oci, 'APPLICATION/vnd.oci.image.manifest.v1+json;charset=utf-8').mediaType, MT.OCI_IMAGE_MANIFEST)
  const shouting = setPath(doc('oci-manifest.json'), ['mediaType'], MT.OCI_IMAGE_MANIFEST.toUpperCase())
  t.equal(parseManifest(bytes(shouting), MT.OCI_IMAGE_MANIFEST).mediaType, MT.OCI_IMAGE_MANIFEST)
})

t.test('body mediaType must be a supported manifest type', async (t) => {
  const artifact = setPath(doc('oci-manifest.json'), ['mediaType'], 'application/vnd.oci.artifact.manifest.v1+json')
  invalid(t, () => parseManifest(bytes(artifact), undefined), 'mediaType', /not a supported manifest media type/)
  invalid(t, () => parseManifest(bytes(setPath(artifact, ['mediaType'], 42)), undefined), 'mediaType', /must be a string/)
  invalid(t, () => parseManifest(bytes(setPath(artifact, ['mediaType'], [MT.OCI_IMAGE_MANIFEST])), undefined), 'mediaType')
  invalid(t, () => parseManifest(bytes(setPath(artifact, ['mediaType'], `${MT.OCI_IMAGE_MANIFEST}; charset=utf-8`)), undefined), 'mediaType')
})

t.test('body mediaType "" counts as missing', async (t) => {
  const source = setPath(doc('oci-manifest.json'), ['mediaType'], '')
  t.equal(parseManifest(bytes(source), undefined).mediaType, MT.OCI_IMAGE_MANIFEST)
})

t.test('no mediaType in the body: every Content-Type case', async (t) => {
  const image = bytes(setPath(doc('oci-manifest.json'), ['mediaType'], undefined))
  const index = bytes(setPath(doc('oci-index.json'), ['mediaType'], undefined))
  const dockerImage = bytes(setPath(doc('docker-manifest.json'), ['mediaType'], undefined))
  const dockerList = bytes(setPath(doc('docker-manifest-list.json'), ['mediaType'], undefined))
  const notGiven = [undefined, '', ';', 'application/json', 'application/octet-stream', 'application/json; charset=utf-8', '  APPLICATION/JSON  ', 'Application/Octet-Stream']
  for (const contentType of notGiven) {
    t.equal(parseManifest(image, contentType).mediaType, MT.OCI_IMAGE_MANIFEST, `image, ${String(contentType)}`)
    t.equal(parseManifest(index, contentType).mediaType, MT.OCI_IMAGE_INDEX, `index, ${String(contentType)}`)
    // a Docker-shaped body without mediaType is taken as its OCI equivalent
    t.equal(parseManifest(dockerImage, contentType).mediaType, MT.OCI_IMAGE_MANIFEST)
    t.equal(parseManifest(dockerList, contentType).mediaType, MT.OCI_IMAGE_INDEX)
  }
  t.equal(parseManifest(image, MT.OCI_IMAGE_MANIFEST).mediaType, MT.OCI_IMAGE_MANIFEST)
  t.equal(parseManifest(image, `${MT.OCI_IMAGE_MANIFEST}; charset=utf-8`).mediaType, MT.OCI_IMAGE_MANIFEST)
  t.equal(parseManifest(index, MT.OCI_IMAGE_INDEX).mediaType, MT.OCI_IMAGE_INDEX)
  // the Content-Type decides, and the shape must then fit it
  invalid(t, () => parseManifest(image, MT.OCI_IMAGE_INDEX), 'config', /must not have "config"/)
  invalid(t, () => parseManifest(index, MT.OCI_IMAGE_MANIFEST), 'manifests', /must not have "manifests"/)
  // Docker types must say so in the body, as distribution requires
  invalid(t, () => parseManifest(dockerImage, MT.DOCKER_MANIFEST_V2), 'mediaType', /required in a Docker schema 2 manifest/)
  invalid(t, () => parseManifest(dockerList, MT.DOCKER_MANIFEST_LIST), 'mediaType', /required in a Docker manifest list/)
  // anything else is refused before the body is read
  for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'garbage', '*/*', 'application/vnd.oci.image.config.v1+json']) {
    const error = invalid(t, () => parseManifest(image, contentType), undefined, /Content-Type .* is not a supported manifest media type/)
    t.equal((error?.detail as { contentType?: string }).contentType, contentType.toLowerCase())
  }
})

t.test('no media type anywhere: the shape must be unambiguous', async (t) => {
  invalid(t, () => parseManifest(bytes({ schemaVersion: 2 }), undefined), undefined, /cannot determine the manifest type/)
  invalid(t, () => parseManifest(bytes({}), 'application/json'), undefined, /cannot determine/)
  const both = { ...doc('oci-index.json'), mediaType: undefined, config: doc('oci-manifest.json').config, layers: [] }
  invalid(t, () => parseManifest(bytes(both), undefined), undefined, /both "manifests" and "config"/)
  // only config, or only layers: taken as an image manifest, then the missing part is named
  invalid(t, () => parseManifest(bytes({ schemaVersion: 2, config: doc('oci-manifest.json').config }), undefined), 'layers', /required/)
  invalid(t, () => parseManifest(bytes({ schemaVersion: 2, layers: [] }), undefined), 'config', /required/)
})

t.test('documents that are not manifests at all', async (t) => {
  const notJson = /not valid JSON/
  invalid(t, () => parseManifest(Buffer.alloc(0), undefined), undefined, notJson)
  invalid(t, () => parseManifest(Buffer.from('not json'), MT.OCI_IMAGE_MANIFEST), undefined, notJson)
  invalid(t, () => parseManifest(Buffer.from('{"schemaVersion": 2,'), undefined), undefined, notJson)
  invalid(t, () => parseManifest(Buffer.from([0x00, 0x01, 0x02, 0x7f]), undefined), undefined, notJson)
  invalid(t, () => parseManifest(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), undefined), undefined, /not valid UTF-8/)
  invalid(t, () => parseManifest(Buffer.from([0xc3, 0x28]), MT.OCI_IMAGE_MANIFEST), undefined, /not valid UTF-8/)
  invalid(t, () => parseManifest(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), fixture('oci-manifest.json')]), undefined), undefined, notJson)
  const gzipMagic = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03])
  invalid(t, () => parseManifest(gzipMagic, 'application/octet-stream'), undefined, /not valid UTF-8/)
  const notObject = /must be a JSON object/
  for (const text of ['null', '[]', '[{"schemaVersion":2}]', '42', '"application/vnd.oci.image.manifest.v1+json"', 'true', '1e400']) {
    invalid(t, () => parseManifest(Buffer.from(text), undefined), undefined, notObject)
  }
  const error = invalid(t, () => parseManifest(Buffer.from('{oops}'), undefined))
  t.type((error?.detail as { reason?: string }).reason, 'string', 'the parser error is in detail.reason')
})

t.test('schemaVersion must be 2', async (t) => {
  const base = doc('oci-manifest.json')
  invalid(t, () => parseManifest(bytes(setPath(base, ['schemaVersion'], undefined)), undefined), 'schemaVersion', /required/)
  for (const value of [3, 0, '2', 2.5, null, true, [2], { v: 2 }]) {
    invalid(t, () => parseManifest(bytes(setPath(base, ['schemaVersion'], value)), undefined), 'schemaVersion', /must be 2/)
  }
  invalid(t, () => parseManifest(bytes(setPath(doc('oci-index.json'), ['schemaVersion'], undefined)), undefined), 'schemaVersion')
  t.equal(parseManifest(Buffer.from(fixture('oci-manifest.json').toString().replace('"schemaVersion": 2', '"schemaVersion": 2.0')), undefined).kind, 'image')
})

interface Case { path: Path, value: unknown, field: string, message?: RegExp }

const IMAGE_CASES: Case[] = [
  { path: ['config'], value: undefined, field: 'config', message: /required/ },
  { path: ['config'], value: null, field: 'config', message: /required/ },
  { path: ['config'], value: 'sha256:abc', field: 'config', message: /descriptor object, got "sha256:abc"/ },
  { path: ['config'], value: [], field: 'config', message: /got an array/ },
  { path: ['config', 'mediaType'], value: undefined, field: 'config.mediaType', message: /required/ },
  { path: ['config', 'mediaType'], value: '', field: 'config.mediaType', message: /must not be empty/ },
  { path: ['config', 'mediaType'], value: 7, field: 'config.mediaType', message: /must be a string, got 7/ },
  { path: ['config', 'mediaType'], value: 'not a media type', field: 'config.mediaType', message: /not a valid media type/ },
  { path: ['config', 'mediaType'], value: 'application/json; charset=utf-8', field: 'config.mediaType' },
  { path: ['config', 'mediaType'], value: 'application/', field: 'config.mediaType' },
  { path: ['config', 'mediaType'], value: `application/${'x'.repeat(200)}`, field: 'config.mediaType' },
  { path: ['config', 'digest'], value: undefined, field: 'config.digest', message: /required/ },
  { path: ['config', 'digest'], value: 'sha256:abc', field: 'config.digest', message: /malformed sha256/ },
  { path: ['config', 'digest'], value: `sha256:${'A'.repeat(64)}`, field: 'config.digest', message: /malformed sha256/ },
  { path: ['config', 'digest'], value: `sha512:${'a'.repeat(64)}`, field: 'config.digest', message: /malformed sha512/ },
  { path: ['config', 'digest'], value: `md5:${'a'.repeat(32)}`, field: 'config.digest', message: /unsupported digest algorithm "md5"/ },
  { path: ['config', 'digest'], value: `blake3:${'a'.repeat(64)}`, field: 'config.digest', message: /unsupported/ },
  { path: ['config', 'digest'], value: 'nocolon', field: 'config.digest', message: /not a valid digest/ },
  { path: ['config', 'digest'], value: `sha256:${'a'.repeat(64)} `, field: 'config.digest' },
  { path: ['config', 'digest'], value: 12, field: 'config.digest', message: /must be a string/ },
  { path: ['config', 'size'], value: undefined, field: 'config.size', message: /required/ },
  { path: ['config', 'size'], value: -1, field: 'config.size', message: /non-negative integer/ },
  { path: ['config', 'size'], value: 1.5, field: 'config.size' },
  { path: ['config', 'size'], value: '12', field: 'config.size', message: /got "12"/ },
  { path: ['config', 'size'], value: 2 ** 53, field: 'config.size' },
  { path: ['config', 'size'], value: null, field: 'config.size' },
  { path: ['config', 'size'], value: true, field: 'config.size', message: /got a boolean/ },
  { path: ['config', 'artifactType'], value: 5, field: 'config.artifactType' },
  { path: ['layers'], value: undefined, field: 'layers', message: /required/ },
  { path: ['layers'], value: null, field: 'layers', message: /required/ },
  { path: ['layers'], value: {}, field: 'layers', message: /must be an array of descriptors, got an object/ },
  { path: ['layers'], value: 'layer', field: 'layers' },
  { path: ['layers', 1], value: null, field: 'layers[1]', message: /got null/ },
  { path: ['layers', 1], value: 'sha256:abc', field: 'layers[1]' },
  { path: ['layers', 1], value: [], field: 'layers[1]' },
  { path: ['layers', 2, 'digest'], value: `sha384:${'a'.repeat(96)}`, field: 'layers[2].digest', message: /unsupported digest algorithm "sha384"/ },
  { path: ['layers', 2, 'size'], value: -5, field: 'layers[2].size' },
  { path: ['layers', 0, 'mediaType'], value: null, field: 'layers[0].mediaType' },
  { path: ['layers', 0, 'urls'], value: 'https://example.com/x', field: 'layers[0].urls', message: /array of strings/ },
  { path: ['layers', 0, 'urls'], value: [1], field: 'layers[0].urls[0]', message: /must be a string/ },
  { path: ['layers', 0, 'urls'], value: ['https://ok.example/x', 'not a url'], field: 'layers[0].urls[1]' },
  { path: ['layers', 0, 'urls'], value: ['file:///etc/passwd'], field: 'layers[0].urls[0]', message: /http or https/ },
  { path: ['layers', 2, 'annotations'], value: 'x', field: 'layers[2].annotations', message: /object of string values/ },
  { path: ['layers', 2, 'annotations'], value: [], field: 'layers[2].annotations' },
  { path: ['layers', 2, 'annotations'], value: { a: 1 }, field: 'layers[2].annotations["a"]', message: /must be a string, got 1/ },
  { path: ['layers', 2, 'annotations'], value: { a: { b: 'c' } }, field: 'layers[2].annotations["a"]' },
  { path: ['layers', 2, 'annotations'], value: { a: null }, field: 'layers[2].annotations["a"]' },
  { path: ['layers', 0, 'artifactType'], value: 'sbom', field: 'layers[0].artifactType', message: /not a valid media type/ },
  { path: ['layers', 0, 'platform'], value: 'linux', field: 'layers[0].platform' },
  { path: ['layers', 0, 'platform'], value: {}, field: 'layers[0].platform.architecture', message: /required/ },
  { path: ['layers', 0, 'platform'], value: { architecture: 'amd64' }, field: 'layers[0].platform.os', message: /required/ },
  { path: ['layers', 0, 'platform'], value: { architecture: 1, os: 'linux' }, field: 'layers[0].platform.architecture' },
  { path: ['layers', 0, 'platform'], value: { architecture: 'amd64', os: 'linux', 'os.version': 10 }, field: 'layers[0].platform["os.version"]' },
  { path: ['layers', 0, 'platform'], value: { architecture: 'amd64', os: 'windows', 'os.features': 'win32k' }, field: 'layers[0].platform["os.features"]' },
  { path: ['layers', 0, 'platform'], value: { architecture: 'arm', os: 'linux', variant: 7 }, field: 'layers[0].platform.variant' },
  { path: ['layers', 0, 'platform'], value: { architecture: 'amd64', os: 'linux', features: [1] }, field: 'layers[0].platform.features[0]' },
  { path: ['layers', 0, 'data'], value: 5, field: 'layers[0].data', message: /base64/ },
  { path: ['layers', 0, 'data'], value: 'not base64!', field: 'layers[0].data' },
  { path: ['annotations'], value: [], field: 'annotations' },
  { path: ['annotations'], value: 'x', field: 'annotations' },
  { path: ['annotations'], value: { k: 1 }, field: 'annotations["k"]' },
  { path: ['artifactType'], value: 7, field: 'artifactType' },
  { path: ['artifactType'], value: 'sbom', field: 'artifactType' },
  { path: ['subject'], value: 'sha256:abc', field: 'subject' },
  { path: ['subject'], value: [], field: 'subject' },
  { path: ['subject'], value: {}, field: 'subject.mediaType', message: /required/ },
  { path: ['subject'], value: { mediaType: MT.OCI_IMAGE_MANIFEST, digest: 'sha256:x', size: 1 }, field: 'subject.digest' },
  { path: ['subject'], value: { mediaType: MT.OCI_IMAGE_MANIFEST, digest: sha('s') }, field: 'subject.size' },
  { path: ['manifests'], value: [], field: 'manifests', message: /must not have "manifests"/ }
]

t.test('every malformed field of an image manifest is named', async (t) => {
  const base = doc('oci-manifest.json')
  for (const c of IMAGE_CASES) {
    t.test(`${c.field} = ${JSON.stringify(c.value) ?? 'missing'}`, async (t) => {
      invalid(t, () => parseManifest(bytes(setPath(base, c.path, c.value)), MT.OCI_IMAGE_MANIFEST), c.field, c.message)
    })
  }
})

const INDEX_CASES: Case[] = [
  { path: ['manifests'], value: undefined, field: 'manifests', message: /required/ },
  { path: ['manifests'], value: {}, field: 'manifests' },
  { path: ['manifests', 0], value: null, field: 'manifests[0]' },
  { path: ['manifests', 1, 'digest'], value: 'sha256:nothex', field: 'manifests[1].digest' },
  { path: ['manifests', 1, 'size'], value: 1e300, field: 'manifests[1].size' },
  { path: ['manifests', 1, 'platform', 'architecture'], value: 5, field: 'manifests[1].platform.architecture' },
  { path: ['manifests', 1, 'platform', 'os'], value: undefined, field: 'manifests[1].platform.os' },
  { path: ['manifests', 2, 'annotations'], value: { k: ['v'] }, field: 'manifests[2].annotations["k"]' },
  { path: ['config'], value: doc('oci-manifest.json').config, field: 'config', message: /index .* must not have "config"/ },
  { path: ['layers'], value: [], field: 'layers', message: /must not have "layers"/ },
  { path: ['subject'], value: { mediaType: MT.OCI_IMAGE_MANIFEST, digest: sha('s'), size: -1 }, field: 'subject.size' },
  { path: ['artifactType'], value: {}, field: 'artifactType' },
  { path: ['annotations'], value: [['k', 'v']], field: 'annotations' }
]

t.test('every malformed field of an index is named', async (t) => {
  const base = doc('oci-index.json')
  for (const c of INDEX_CASES) {
    t.test(`${c.field} = ${JSON.stringify(c.value) ?? 'missing'}`, async (t) => {
      invalid(t, () => parseManifest(bytes(setPath(base, c.path, c.value)), undefined), c.field, c.message)
    })
  }
})

t.test('Docker documents are validated the same way', async (t) => {
  const image = doc('docker-manifest.json')
  invalid(t, () => parseManifest(bytes(setPath(image, ['layers', 1, 'digest'], 'sha256:0')), undefined), 'layers[1].digest')
  invalid(t, () => parseManifest(bytes(setPath(image, ['manifests'], [])), undefined), 'manifests')
  const list = doc('docker-manifest-list.json')
  invalid(t, () => parseManifest(bytes(setPath(list, ['manifests', 2, 'platform', 'os.features'], [true])), undefined), 'manifests[2].platform["os.features"][0]')
  invalid(t, () => parseManifest(bytes(setPath(list, ['layers'], [])), undefined), 'layers')
})

t.test('messages are bounded even for huge offending values', async (t) => {
  const error = invalid(t, () => parseManifest(bytes(setPath(doc('oci-manifest.json'), ['config', 'digest'], 'x'.repeat(1_000_000))), undefined), 'config.digest')
  t.ok((error?.message.length ?? Infinity) < 300)
})

t.test('deep nesting never escapes as RangeError', async (t) => {
  const base = fixture('oci-manifest.json').toString('utf8')
  // Up to Go's limit (10 000 levels, as distribution), nesting is parsed and judged field by field.
  const depth = 9_990
  const arrays = '['.repeat(depth) + ']'.repeat(depth)
  const objects = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
  invalid(t, () => parseManifest(Buffer.from(arrays), undefined), undefined, /must be a JSON object/)
  invalid(t, () => parseManifest(Buffer.from(objects), undefined), undefined, /cannot determine/)
  const inAnnotation = base.replace('"annotations": {\n', `"annotations": {"deep": ${arrays},\n`)
  invalid(t, () => parseManifest(Buffer.from(inAnnotation), undefined), 'annotations["deep"]')
  const inLayers = base.replace('"layers": [', `"layers": [${arrays},`)
  invalid(t, () => parseManifest(Buffer.from(inLayers), undefined), 'layers[0]')
  const asLayers = base.replace('"layers": [', `"layers": [${objects}, `)
  invalid(t, () => parseManifest(Buffer.from(asLayers), undefined), 'layers[0].mediaType')
  const inPlatform = base.replace('"layers": [', `"layers": [{"mediaType":"a/b","digest":"${sha('d')}","size":1,"platform":{"architecture":${arrays},"os":"linux"}},`)
  invalid(t, () => parseManifest(Buffer.from(inPlatform), undefined), 'layers[0].platform.architecture')
  const ignored = base.replace('"schemaVersion": 2,', `"schemaVersion": 2, "x-deep": ${objects},`)
  t.equal(parseManifest(Buffer.from(ignored), undefined).kind, 'image', `unknown ${depth}-deep field ignored`)

  // Beyond it, a linear pre-scan refuses before JSON.parse spends time on the text; brackets inside strings do not count.
  for (const deep of [10_001, 100_000, 2_000_000]) {
    invalid(t, () => parseManifest(Buffer.from('['.repeat(deep) + ']'.repeat(deep)), undefined), undefined, /nests deeper than 10000 levels/)
    invalid(t, () => parseManifest(Buffer.from(base.replace('"layers": [', `"layers": [${'{"a":'.repeat(deep)}1${'}'.repeat(deep)}, `)), undefined), undefined, /nests deeper/)
  }
  const bracketsInStrings = base.replace('"schemaVersion": 2,', `"schemaVersion": 2, "x-text": "${'[{'.repeat(20_000)}\\"${'['.repeat(100)}",`)
  t.equal(parseManifest(Buffer.from(bracketsInStrings), undefined).kind, 'image', 'brackets inside strings (and escaped quotes) do not count as nesting')
})

t.test('a 4 MiB manifest with many layers parses fast', async (t) => {
  const limit = 4 * 1024 * 1024
  const layers = []
  let size = bytes({ ...doc('oci-manifest.json'), layers: [] }).length
  for (let i = 0; ; i++) {
    const layer = { mediaType: MT.OCI_LAYER_TAR_GZIP, digest: sha(`layer ${i}`), size: i * 1000, annotations: { 'org.opencontainers.image.title': `file-${i}.bin` } }
    const added = JSON.stringify(layer).length + (i === 0 ? 0 : 1)
    if (size + added > limit) break
    size += added
    layers.push(layer)
  }
  const body = bytes({ ...doc('oci-manifest.json'), layers })
  t.ok(body.length > 4 * 1024 * 1024 - 1024 && body.length <= 4 * 1024 * 1024, `body is ${body.length} bytes`)
  // Timing belongs to bench/, not here: this proves a 4 MiB manifest parses completely.
  const parsed = parseManifest(body, MT.OCI_IMAGE_MANIFEST)
  t.equal(parsed.blobs.length, layers.length + 1)
  // a 4 MiB index too
  const children = layers.map((l) => ({ mediaType: MT.OCI_IMAGE_MANIFEST, digest: l.digest, size: l.size, platform: { architecture: 'amd64', os: 'linux' } }))
  const indexBody = bytes({ schemaVersion: 2, mediaType: MT.OCI_IMAGE_INDEX, manifests: children })
  t.equal(parseManifest(indexBody, undefined).manifests.length, children.length)
})

t.test('fuzz: nothing but MANIFEST_INVALID ever comes out', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), fc.option(fc.string(), { nil: undefined }), (body, contentType) => {
    parsesOrRefuses(body, contentType)
  }), { numRuns: 500 })
  fc.assert(fc.property(fc.jsonValue(), fc.constantFrom(undefined, 'application/json', MT.OCI_IMAGE_MANIFEST, MT.OCI_IMAGE_INDEX, MT.DOCKER_MANIFEST_V2, MT.DOCKER_MANIFEST_LIST), (value, contentType) => {
    parsesOrRefuses(bytes(value), contentType)
  }), { numRuns: 500 })
  const image = doc('oci-manifest.json')
  const index = doc('oci-index.json')
  const imagePaths: Path[] = [['schemaVersion'], ['mediaType'], ['config'], ['config', 'digest'], ['config', 'size'], ['config', 'mediaType'], ['config', 'urls'], ['layers'], ['layers', 0], ['layers', 1, 'digest'], ['layers', 2, 'annotations'], ['layers', 0, 'platform'], ['layers', 0, 'urls'], ['annotations'], ['subject'], ['artifactType'], ['manifests']]
  const indexPaths: Path[] = [['manifests'], ['manifests', 0], ['manifests', 1, 'platform'], ['manifests', 1, 'platform', 'os.features'], ['subject'], ['config'], ['annotations']]
  fc.assert(fc.property(fc.constantFrom(...imagePaths), fc.jsonValue({ maxDepth: 4 }), (path, value) => {
    const parsed = parsesOrRefuses(bytes(setPath(image, path, value)), undefined)
    if (parsed !== undefined) JSON.stringify(parsed)
  }), { numRuns: 1000 })
  fc.assert(fc.property(fc.constantFrom(...indexPaths), fc.jsonValue({ maxDepth: 4 }), (path, value) => {
    parsesOrRefuses(bytes(setPath(index, path, value)), MT.OCI_IMAGE_INDEX)
  }), { numRuns: 500 })
  // truncations and byte flips of real manifests
  const real = fixture('oci-manifest.json')
  fc.assert(fc.property(fc.nat(real.length), fc.nat(real.length - 1), fc.integer({ min: 0, max: 255 }), (cut, at, byte) => {
    parsesOrRefuses(real.subarray(0, cut), undefined)
    const flipped = Buffer.from(real)
    flipped[at] = byte
    parsesOrRefuses(flipped, undefined)
  }), { numRuns: 1000 })
})
