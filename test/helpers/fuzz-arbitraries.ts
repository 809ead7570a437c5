/**
 * fast-check generators for the fuzz suites (test/fuzz): repository names,
 * references, digests, upload ids, query strings, headers and bodies, valid
 * and adversarial, drawn partly from a seeded registry (the World) so that
 * success paths are reached as often as refusals.
 *
 * A generated request is a RequestSpec; values that only exist at run time
 * (a fresh upload's id and `_state`, the digest of the body being sent) are
 * placeholders that `materialize` fills in.
 */
import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import fc from 'fast-check'
import { routes, type RouteDefinition } from '../../routes/table.js'
import { pushBlob, sha512 } from './registry.js'
import { DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, pushImage, type PushedManifest } from './images.js'
import { digestOf, type FuzzRequest, type Holdings } from './fuzz-oracle.js'

export const OCI_EMPTY_CONFIG = 'application/vnd.oci.empty.v1+json'

export interface WorldManifest extends PushedManifest {
  name: string
  tag: string
}

/** What a seeded registry holds: the pools the generators draw known-good values from. */
export interface World {
  names: string[]
  tags: string[]
  manifests: WorldManifest[]
  blobs: Array<{ name: string, digest: string, content: Buffer }>
  /** Valid digests nothing in the registry has. */
  unknownDigests: string[]
}

/**
 * Seeds a registry: images in `library/alpine` and `a`, an index and an
 * artifact with a subject in `a`, a sha512 blob, an empty blob, and a
 * repository holding blobs only.
 */
export async function seedWorld (app: FastifyInstance): Promise<World> {
  const world: World = { names: ['library/alpine', 'a', 'b/c-d.e__f'], tags: [], manifests: [], blobs: [], unknownDigests: [] }
  const remember = (name: string, tag: string, manifest: PushedManifest): void => {
    world.manifests.push({ ...manifest, name, tag })
    if (!world.tags.includes(tag)) world.tags.push(tag)
  }
  remember('library/alpine', 'latest', await pushImage(app, 'library/alpine', 'latest', { label: 'alpine' }))
  remember('library/alpine', 'v1', await pushImage(app, 'library/alpine', 'v1', { label: 'alpine-v1', mediaType: DOCKER_MANIFEST }))
  const image = await pushImage(app, 'a', 'latest', { label: 'a' })
  remember('a', 'latest', image)
  const index = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [{ mediaType: OCI_MANIFEST, digest: image.digest, size: image.body.length, platform: { architecture: 'amd64', os: 'linux' } }]
  }))
  await putOrThrow(app, 'a', 'index', index, OCI_INDEX)
  remember('a', 'index', { digest: digestOf(index), body: index, mediaType: OCI_INDEX })
  remember('a', 'sig', await pushImage(app, 'a', 'sig', { label: 'signature', subject: image, artifactType: 'application/vnd.example.signature' }))

  for (const [name, content] of [['a', Buffer.from('{}')], ['a', randomBytes(3000)], ['b/c-d.e__f', Buffer.alloc(0)], ['b/c-d.e__f', Buffer.from('hello blob')]] as const) {
    world.blobs.push({ name, digest: await pushBlob(app, name, content), content })
  }
  const big = randomBytes(700)
  const big512 = sha512(big)
  const pushed = await app.inject({ method: 'POST', url: `/v2/a/blobs/uploads/?digest=${big512}`, payload: big, headers: { 'content-type': 'application/octet-stream' } })
  if (pushed.statusCode !== 201) throw new Error(`seed: sha512 push answered ${pushed.statusCode}`)
  world.blobs.push({ name: 'a', digest: big512, content: big })
  for (const manifest of world.manifests) {
    const parsed = JSON.parse(manifest.body.toString('utf8')) as { config?: { digest: string }, layers?: Array<{ digest: string }> }
    for (const descriptor of [parsed.config, ...(parsed.layers ?? [])]) {
      if (descriptor !== undefined && !world.blobs.some((blob) => blob.digest === descriptor.digest && blob.name === manifest.name)) {
        const got = await app.inject({ method: 'GET', url: `/v2/${manifest.name}/blobs/${descriptor.digest}` })
        world.blobs.push({ name: manifest.name, digest: descriptor.digest, content: got.rawPayload })
      }
    }
  }
  world.unknownDigests = [digestOf(Buffer.from('nobody has this')), sha512(Buffer.from('nobody has this either'))]
  return world
}

async function putOrThrow (app: FastifyInstance, name: string, reference: string, body: Buffer, mediaType: string): Promise<void> {
  const response = await app.inject({ method: 'PUT', url: `/v2/${name}/manifests/${reference}`, payload: body, headers: { 'content-type': mediaType } })
  if (response.statusCode !== 201) throw new Error(`seed: manifest PUT answered ${response.statusCode} ${response.body}`)
}

/** What to check after a write to `name`: its seeded tags and blobs, plus `extra` digests and tags. */
export function holdingsOf (world: World, name: string, extra: { digests?: Iterable<string>, tags?: Iterable<string> } = {}): Holdings {
  return {
    names: new Set([name]),
    digests: new Set([...world.blobs.filter((blob) => blob.name === name).map((blob) => blob.digest), ...(extra.digests ?? [])]),
    tags: new Set([...world.manifests.filter((manifest) => manifest.name === name).map((manifest) => manifest.tag), ...(extra.tags ?? [])])
  }
}

// ---------------------------------------------------------------- placeholders

/** A value known only when the request runs. */
export type Placeholder =
  | { live: 'uuid' } // a fresh upload in the request's repository
  | { live: 'state' } // that upload's `_state`
  | { live: 'otherState' } // the `_state` of another fresh upload
  | { live: 'tamperedState' } // the upload's `_state` with one character changed
  | { live: 'bodyDigest', algorithm: 'sha256' | 'sha512' } // digest of this request's body
  | { live: 'liveDigest' } // digest of the live upload's bytes plus this request's body

export type Value = string | Placeholder

export function isPlaceholder (value: Value): value is Placeholder {
  return typeof value !== 'string'
}

/** A request as generated: the route template's params, query pairs, headers and body. */
export interface RequestSpec {
  method: string
  route: RouteDefinition
  /** Alternative spelling of the path's fixed parts (`/v2` for the base, no trailing slash on uploads). */
  variant: boolean
  params: Partial<Record<'name' | 'reference' | 'digest' | 'uuid', Value>>
  query: Array<[string, Value]>
  headers: Record<string, string>
  body?: Buffer
  /** Send the body in these many pieces (a streamed body). */
  pieces: number
  /** Bytes to PATCH into the live upload before the request. */
  preload: Buffer
  /** What Content-Length says relative to the body: honest, absent, or a lie by this many bytes. */
  lengthLie: number | 'honest' | 'absent'
}

// ---------------------------------------------------------------- names, references, digests

const nameComponent = fc.stringMatching(/^[a-z0-9]{1,6}(?:(?:\.|_|__|-{1,2})[a-z0-9]{1,4}){0,2}$/)

/** Names the grammar accepts. */
export const validName = fc.array(nameComponent, { minLength: 1, maxLength: 3 }).map((parts) => parts.join('/')).filter((name) => name.length <= 255)

/** Raw (as sent in the URL) names the grammar refuses: traversal, reserved `_` directories, look-alikes, overlong. */
export const adversarialName = fc.oneof(
  fc.constantFrom(
    '..', '.', 'a/..', '../a', 'a/../b', 'a/./b', './a', '%2e%2e', '%2E%2e', '%2e%2E/a', 'a/%2e%2e/b', 'a%2f..%2fb', 'a%2Fb', 'a%2f%2e%2e',
    '%5c', 'a%5cb', 'a%5c..%5cb', 'a%00', '%00', 'a%00b', 'a%0ab', 'a%0d%0ab',
    '_layers', 'a/_layers', 'a/_uploads', 'a/_manifests', 'a/_manifests/tags', '_uploads/x', '_catalog', 'a/_referrers', '__a', '_',
    'a/', 'a//b', '/a', 'A', 'aB', 'a-', '-a', 'a..b', 'a.-b', 'a___b', 'a_-b', 'a.', 'a/.', 'a/..',
    '%ef%bc%8f', 'a%ef%bc%8fb', 'a%ef%bc%8e%ef%bc%8e', '%e2%80%a4%e2%80%a4', 'a%e2%80%a4b', 'a%e2%80%a5b', 'a%e2%81%84b', 'a%e2%88%95b', 'a%c3%a9',
    'a%20b', 'a+b', 'a;b', 'a,b', 'a:b', 'a@b', 'a~b', 'a*b', 'a!b', "a'b", 'a%22b', 'a%3cb', 'a%7cb', 'a%25b', 'a%252e%252e'
  ),
  fc.integer({ min: 256, max: 400 }).map((length) => 'a'.repeat(length)),
  fc.constant(`${'a'.repeat(127)}/${'b'.repeat(128)}`), // 256 with a slash
  fc.string({ unit: fc.constantFrom('a', 'b', '0', '/', '.', '_', '-', '%2e', '%2f', '%5c', '%00', 'A', ':', '@', '~'), minLength: 1, maxLength: 12 })
)

/** Names: known, valid and new, or adversarial. */
export function nameValue (world: World): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...world.names) },
    { weight: 2, arbitrary: validName },
    { weight: 1, arbitrary: fc.constant('a'.repeat(255)) },
    { weight: 3, arbitrary: adversarialName }
  )
}

const hex = (length: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length })

/** Digest strings, raw (before URL encoding): known, unknown but valid, and malformed. */
export function digestString (world: World): fc.Arbitrary<string> {
  const known = [...new Set([...world.blobs.map((blob) => blob.digest), ...world.manifests.map((manifest) => manifest.digest)])]
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...known) },
    { weight: 1, arbitrary: fc.constantFrom(...world.unknownDigests) },
    { weight: 2, arbitrary: hex(64).map((value) => `sha256:${value}`) },
    { weight: 1, arbitrary: hex(128).map((value) => `sha512:${value}`) },
    {
      weight: 3,
      arbitrary: fc.oneof(
        fc.constantFrom(...known).map((digest) => digest.toUpperCase()),
        fc.constantFrom(...known).map((digest) => digest.slice(0, -1)),
        fc.constantFrom(...known).map((digest) => `${digest}0`),
        fc.constantFrom(...known).map((digest) => digest.replace(':', '')),
        hex(32).map((value) => `md5:${value}`),
        hex(64).map((value) => `sha384:${value}`),
        fc.constantFrom('sha256:', ':', 'sha256', 'sha256:../../../etc/passwd', 'sha256:..', `sha256:${'g'.repeat(64)}`, `sha256+b64:${'A'.repeat(43)}=`,
          `sha256:${'a'.repeat(63)}/`, `sha256:${'a'.repeat(64)}\u0000`, `sha256: ${'a'.repeat(63)}`, '..', '.', 'latest', `sha256:${'A'.repeat(64)}`)
      )
    }
  )
}

/** A tag, valid or not (raw). */
export function tagString (world: World): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...world.tags) },
    { weight: 3, arbitrary: fc.stringMatching(/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}$/) },
    { weight: 1, arbitrary: fc.constantFrom(`t${'a'.repeat(127)}`, `_${'.'.repeat(127)}`) },
    {
      weight: 2,
      arbitrary: fc.oneof(
        fc.constantFrom(`t${'a'.repeat(128)}`, '.', '..', '.a', '-a', 'a/b', 'a\\b', 'a b', 'a\u0000b', '', 'tag:x', 'ａ', 'a\u2024b', '_layers/..', '%2e%2e'),
        fc.integer({ min: 129, max: 300 }).map((length) => 'x'.repeat(length)),
        fc.string({ unit: fc.constantFrom('a', 'Z', '0', '.', '_', '-', '/', '%', ':', ' ', '\u00e9'), minLength: 1, maxLength: 10 })
      )
    }
  )
}

/** Encodes one path segment as a client would, or leaves it raw (the colon, sometimes everything). */
function segment (raw: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.tuple(raw, fc.constantFrom<'component' | 'keep-colon' | 'encode-colon'>('component', 'keep-colon', 'keep-colon', 'encode-colon')).map(([value, style]) => {
    const encoded = encodeURIComponent(value)
    if (style === 'component') return encoded
    if (style === 'keep-colon') return encoded.replace(/%3A/g, ':')
    return encoded.replace(/:/g, '%3A')
  })
}

/** A reference path segment (tag or digest), encoded, or a placeholder for the digest of the body. */
export function referenceValue (world: World): fc.Arbitrary<Value> {
  return fc.oneof(
    { weight: 3, arbitrary: segment(tagString(world)) },
    { weight: 3, arbitrary: segment(digestString(world)) },
    { weight: 1, arbitrary: fc.constant<Value>({ live: 'bodyDigest', algorithm: 'sha256' }) },
    { weight: 1, arbitrary: fc.constantFrom('%2e%2e', '%2E%2e', '..%2f..%2fx', '%5c..', 'a%00', '%ef%bc%8f', 'a%e2%80%a4b') }
  )
}

export function digestValue (world: World): fc.Arbitrary<Value> {
  return fc.oneof(
    { weight: 5, arbitrary: segment(digestString(world)) },
    { weight: 1, arbitrary: fc.constantFrom('%2e%2e', 'sha256%3A..%2f..%2fx', 'sha256:%2e%2e', 'uploads', '%00', 'sha256:%00') }
  )
}

export function uuidValue (): fc.Arbitrary<Value> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant<Value>({ live: 'uuid' }) },
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: fc.constantFrom('..', '.', 'a.b', '%2e%2e', '%2e%2e%2f%2e%2e', '_x', '-x', `a${'b'.repeat(128)}`, 'a%00', 'a%2fb', '%5c', 'data', 'startedat', 'ａ') }
  )
}

// ---------------------------------------------------------------- queries

const numberish = fc.constantFrom('0', '1', '2', '3', '1000', '1001', '-1', '1.5', '1e3', '0x10', ' 1', '+1', '00001', '999999999', '9999999999', '', 'abc', '1 ', '%31', '\u0661')

export function queryValue (world: World): fc.Arbitrary<Value> {
  return fc.oneof(
    { weight: 3, arbitrary: numberish },
    { weight: 4, arbitrary: digestString(world) },
    { weight: 2, arbitrary: nameValue(world) },
    { weight: 2, arbitrary: tagString(world) },
    { weight: 1, arbitrary: fc.constant<Value>({ live: 'bodyDigest', algorithm: 'sha256' }) },
    { weight: 1, arbitrary: fc.constant<Value>({ live: 'bodyDigest', algorithm: 'sha512' }) },
    { weight: 2, arbitrary: fc.constant<Value>({ live: 'liveDigest' }) },
    { weight: 2, arbitrary: fc.constantFrom<Value>({ live: 'state' }, { live: 'otherState' }, { live: 'tamperedState' }) },
    { weight: 1, arbitrary: fc.constantFrom('application/vnd.example.signature', 'application/vnd.oci.image.config.v1+json', 'x/y', '') },
    { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
    { weight: 1, arbitrary: fc.integer({ min: 1000, max: 70_000 }).map((length) => 'x'.repeat(length)) }
  )
}

const QUERY_KEYS = ['n', 'last', 'digest', 'mount', 'from', '_state', 'tag', 'artifactType']

export function queryPairs (world: World): fc.Arbitrary<Array<[string, Value]>> {
  const key = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...QUERY_KEYS) }, { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'n[]', 'digest[0]', 'x', '') })
  return fc.array(fc.tuple(key, queryValue(world)), { maxLength: 5 })
}

// ---------------------------------------------------------------- headers

export const MANIFEST_TYPES = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST]

/**
 * Content types Fastify can parse. KNOWN BUG 2 (test/fuzz/README.md): a
 * Content-Type that is not a parseable media type ("", ";", "a", "a/b c")
 * is refused by Fastify with 415 before any handler runs; those are left to
 * the lenient property in routes.test.ts.
 */
export const contentType = fc.oneof(
  fc.constantFrom(...MANIFEST_TYPES),
  fc.constantFrom('application/octet-stream', 'application/json', 'text/plain', 'application/vnd.docker.distribution.manifest.v1+prettyjws',
    'application/vnd.docker.distribution.manifest.v1+json', `${OCI_MANIFEST}; charset=utf-8`, 'APPLICATION/VND.OCI.IMAGE.MANIFEST.V1+JSON',
    'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', '*/*', 'image/png')
)

/** Content types Fastify refuses with 415 (KNOWN BUG 2). */
export const unparseableContentType = fc.constantFrom('', ' ', ';', 'a', 'a/', '/b', 'a/b c', 'ü/x', 'a/b/c', '\t')

const rangeHeader = fc.oneof(
  fc.tuple(fc.nat(4000), fc.nat(4000)).map(([a, b]) => `bytes=${a}-${b}`),
  fc.nat(4000).map((a) => `bytes=${a}-`),
  fc.nat(4000).map((a) => `bytes=-${a}`),
  fc.constantFrom('bytes=0-0', 'bytes=-0', 'bytes=0-99999999999999', 'bytes=999999999999999-', 'bytes=a-b', 'bytes=0-1,2-3', 'items=0-1', 'bytes=', '', 'bytes=--1', `bytes=0-${'9'.repeat(40)}`)
)

const contentRangeHeader = fc.oneof(
  fc.tuple(fc.nat(5000), fc.nat(200)).map(([start, length]) => `${start}-${start + length}`),
  fc.nat(200).map((end) => `0-${end}`),
  fc.tuple(fc.nat(5000), fc.nat(200)).map(([start, length]) => `bytes ${start}-${start + length}/*`),
  fc.constantFrom('5-2', 'x', '0-', '-5', '0--1', '999999999999999-999999999999999', `0-${'9'.repeat(30)}`, 'bytes */10', '0-0, 1-1', '')
)

const headerPool = (world: World): Record<string, fc.Arbitrary<string>> => ({
  'content-type': contentType,
  'content-range': contentRangeHeader,
  accept: fc.array(fc.constantFrom(...MANIFEST_TYPES, '*/*', 'application/json', 'text/html;q=0.1', 'x', ''), { minLength: 1, maxLength: 4 }).map((types) => types.join(', ')),
  authorization: fc.oneof(
    fc.constantFrom('Basic dXNlcjpwYXNz', 'Basic', 'Basic !!!', 'Bearer ', 'Bearer a.b.c', 'Digest x', 'basic dXNlcjpwYXNz', 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.'),
    fc.string({ maxLength: 60 }).map((value) => `Bearer ${value.replace(/[\r\n]/g, '')}`),
    fc.integer({ min: 1000, max: 8000 }).map((length) => `Bearer ${'A'.repeat(length)}`)
  ),
  range: rangeHeader,
  'if-none-match': fc.oneof(
    fc.constantFrom(...world.manifests.map((manifest) => `"${manifest.digest}"`), ...world.blobs.map((blob) => `"${blob.digest}"`)),
    fc.constantFrom('*', 'W/"x"', '"x", *', 'garbage', '', `W/"${world.blobs[0].digest}"`)
  ),
  'x-forwarded-host': fc.constantFrom('evil.example', 'a b', '[::1]:5000', ''),
  'x-forwarded-proto': fc.constantFrom('https', 'gopher', '')
})

/** A subset of the interesting headers with values, valid and not. Content-Length is added by `materialize`. */
export function headersValue (world: World): fc.Arbitrary<Record<string, string>> {
  return fc.record(headerPool(world), { requiredKeys: [] }) as fc.Arbitrary<Record<string, string>>
}

// ---------------------------------------------------------------- bodies

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** A value that is wrong for almost any manifest field. */
const junk: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(null, true, false, 0, -1, 1.5, 1e308, 2 ** 53, '', 'x', [], {}, [1], { a: 1 }, 'sha256:abc', 'application/x', '../../etc/passwd'),
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>
)

const MUTABLE_PATHS = [
  ['schemaVersion'], ['mediaType'], ['config'], ['config', 'digest'], ['config', 'size'], ['config', 'mediaType'], ['config', 'urls'], ['config', 'data'],
  ['layers'], ['layers', 0], ['layers', 0, 'digest'], ['layers', 0, 'size'], ['layers', 0, 'mediaType'], ['layers', 0, 'urls'], ['layers', 0, 'annotations'],
  ['annotations'], ['subject'], ['subject', 'digest'], ['subject', 'mediaType'], ['artifactType'],
  ['manifests'], ['manifests', 0], ['manifests', 0, 'digest'], ['manifests', 0, 'platform'], ['manifests', 0, 'platform', 'os']
] as const

type Mutation =
  | { kind: 'set', path: readonly (string | number)[], value: Json }
  | { kind: 'delete', path: readonly (string | number)[] }
  | { kind: 'digest', path: readonly (string | number)[], digest: string }
  | { kind: 'extra', key: string, depth: number }

function mutation (world: World): fc.Arbitrary<Mutation> {
  const path = fc.constantFrom(...MUTABLE_PATHS)
  return fc.oneof(
    fc.record({ kind: fc.constant('set' as const), path, value: junk }),
    fc.record({ kind: fc.constant('delete' as const), path }),
    fc.record({ kind: fc.constant('digest' as const), path: fc.constantFrom(['config', 'digest'], ['layers', 0, 'digest'], ['subject', 'digest'], ['manifests', 0, 'digest']), digest: digestString(world) }),
    fc.record({ kind: fc.constant('extra' as const), key: fc.constantFrom('__proto__', 'constructor', 'x-extra', 'schemaVersion ', ''), depth: fc.constantFrom(1, 10, 1000, 10_000) })
  )
}

/** Deep nesting is spliced in as text: building it as an object would overflow the test's own stack. */
const DEEP = /"\\u0000deep:(\d+)"/g

function nested (depth: number): Json {
  return `\u0000deep:${depth}`
}

function deepText (depth: number): string {
  return '[{"d":'.repeat(depth) + '"deep"' + '}]'.repeat(depth)
}

function applyMutation (document: Record<string, Json>, change: Mutation): void {
  if (change.kind === 'extra') {
    // JSON.parse of the serialised text gives an own "__proto__" key, as a client's JSON would.
    Object.defineProperty(document, change.key, { value: nested(change.depth), enumerable: true, configurable: true, writable: true })
    return
  }
  const path = change.path
  let target: Json = document
  for (let i = 0; i < path.length - 1; i++) {
    if (target === null || typeof target !== 'object') return
    target = (target as Record<string | number, Json>)[path[i]]
  }
  if (target === null || typeof target !== 'object') return
  const last = path[path.length - 1]
  const holder = target as Record<string | number, Json>
  if (change.kind === 'delete') delete holder[last]
  else holder[last] = change.kind === 'set' ? change.value : change.digest
}

/** How the mutated document becomes bytes: plain, pretty, or broken on purpose. */
const serialisation = fc.oneof(
  { weight: 6, arbitrary: fc.constant<{ kind: 'plain' }>({ kind: 'plain' }) },
  { weight: 1, arbitrary: fc.constant<{ kind: 'pretty' }>({ kind: 'pretty' }) },
  { weight: 1, arbitrary: fc.constant<{ kind: 'bom' }>({ kind: 'bom' }) },
  { weight: 1, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }).map((at) => ({ kind: 'truncate' as const, at })) },
  { weight: 1, arbitrary: fc.constantFrom('}', ' x', '\u0000', '{}', '\n\n').map((tail) => ({ kind: 'trailing' as const, tail })) },
  { weight: 1, arbitrary: fc.constant<{ kind: 'duplicate-key' }>({ kind: 'duplicate-key' }) },
  { weight: 1, arbitrary: fc.constant<{ kind: 'invalid-utf8' }>({ kind: 'invalid-utf8' }) }
)

type Serialisation = typeof serialisation extends fc.Arbitrary<infer T> ? T : never

function serialise (document: Json, how: Serialisation): Buffer {
  const text = JSON.stringify(document, undefined, how.kind === 'pretty' ? 2 : undefined).replace(DEEP, (_whole, depth: string) => deepText(Number(depth)))
  switch (how.kind) {
    case 'plain':
    case 'pretty':
      return Buffer.from(text)
    case 'bom':
      return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)])
    case 'truncate':
      return Buffer.from(text).subarray(0, Math.floor(how.at * text.length))
    case 'trailing':
      return Buffer.from(text + how.tail)
    case 'duplicate-key':
      return Buffer.from(text.replace(/^\{/, '{"schemaVersion":1,'))
    case 'invalid-utf8':
      return Buffer.concat([Buffer.from(text.slice(0, -1)), Buffer.from([0x2c, 0x22, 0x78, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22]), Buffer.from('}')])
  }
}

/** Manifest bodies: a seeded manifest or a new image over seeded blobs, mutated and serialised in many ways. */
export function manifestBody (world: World, options: { maxMutations?: number, plain?: boolean, name?: string } = {}): fc.Arbitrary<Buffer> {
  const blobsOfA = world.blobs.filter((blob) => blob.name === 'a')
  const freshImage = fc.tuple(fc.constantFrom(...blobsOfA), fc.subarray(blobsOfA, { maxLength: 3 }), fc.constantFrom(OCI_MANIFEST, DOCKER_MANIFEST), fc.string({ maxLength: 8 })).map(([config, layers, mediaType, label]): Json => ({
    schemaVersion: 2,
    mediaType,
    config: { mediaType: mediaType === OCI_MANIFEST ? OCI_EMPTY_CONFIG : 'application/vnd.docker.container.image.v1+json', digest: config.digest, size: config.content.length },
    layers: layers.map((layer) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer.digest, size: layer.content.length })),
    ...(label === '' ? {} : { annotations: { label } })
  }))
  const freshIndex = fc.subarray(world.manifests.filter((manifest) => manifest.name === 'a'), { minLength: 1 }).map((children): Json => ({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: children.map((child) => ({ mediaType: child.mediaType, digest: child.digest, size: child.body.length }))
  }))
  const seeded = fc.constantFrom(...world.manifests.filter((manifest) => options.name === undefined || manifest.name === options.name)).map((manifest) => JSON.parse(manifest.body.toString('utf8')) as Json)
  const changes = options.maxMutations === 0 ? fc.constant([]) : fc.oneof(fc.constant([]), fc.array(mutation(world), { minLength: 1, maxLength: options.maxMutations ?? 3 }))
  const how = options.plain === true ? fc.constantFrom<Serialisation>({ kind: 'plain' }, { kind: 'pretty' }) : serialisation
  return fc.tuple(fc.oneof(seeded, freshImage, freshIndex), changes, how).map(([base, changes, how]) => {
    const document = structuredClone(base) as Record<string, Json>
    for (const change of changes) applyMutation(document, change)
    return serialise(document, how)
  })
}

const bigBodies = new Map<string, Buffer>()

/** Big bodies are built once: generating them on every run would dominate the suite's time. */
function bigBody (key: string, build: () => Buffer): Buffer {
  let body = bigBodies.get(key)
  if (body === undefined) {
    body = build()
    bigBodies.set(key, body)
  }
  return body
}

/** Request bodies of every kind: none, random bytes, JSON junk, deep nesting, big JSON, manifests. */
export function bodyValue (world: World): fc.Arbitrary<Buffer | undefined> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) },
    { weight: 3, arbitrary: fc.uint8Array({ maxLength: 2000 }).map((bytes) => Buffer.from(bytes)) },
    { weight: 2, arbitrary: fc.constantFrom(...world.blobs.map((blob) => blob.content)) },
    { weight: 1, arbitrary: (fc.jsonValue({ maxDepth: 4 }) as fc.Arbitrary<Json>).map((value) => Buffer.from(JSON.stringify(value) ?? 'null')) },
    { weight: 1, arbitrary: fc.constantFrom(1000, 100_000, 1_000_000).map((depth) => bigBody(`nested-${depth}`, () => Buffer.from('['.repeat(depth) + ']'.repeat(depth)))) },
    { weight: 1, arbitrary: fc.constantFrom(10_000, 200_000).map((count) => bigBody(`layers-${count}`, () => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: {}, layers: Array.from({ length: count }, () => ({ a: 1 })) })))) },
    { weight: 5, arbitrary: manifestBody(world) }
  )
}

// ---------------------------------------------------------------- whole requests

const METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE']

/** Requests over every route of the table and every method (the route's own most of the time). */
export function requestSpec (world: World, options: { headers?: fc.Arbitrary<Record<string, string>> } = {}): fc.Arbitrary<RequestSpec> {
  return fc.constantFrom(...routes).chain((route) => fc.record({
    method: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...route.methods) }, { weight: 1, arbitrary: fc.constantFrom(...METHODS, 'OPTIONS') }),
    route: fc.constant(route),
    variant: fc.boolean(),
    params: fc.record({
      name: nameValue(world) as fc.Arbitrary<Value>,
      reference: referenceValue(world),
      digest: digestValue(world),
      uuid: uuidValue()
    }),
    query: queryPairs(world),
    headers: options.headers ?? headersValue(world),
    body: bodyValue(world),
    pieces: fc.constantFrom(1, 1, 1, 2, 7),
    preload: fc.oneof(fc.constant(Buffer.alloc(0)), fc.uint8Array({ minLength: 1, maxLength: 300 }).map((bytes) => Buffer.from(bytes))),
    lengthLie: fc.oneof({ weight: 6, arbitrary: fc.constant<'honest'>('honest') }, { weight: 2, arbitrary: fc.constant<'absent'>('absent') }, { weight: 2, arbitrary: fc.integer({ min: -5, max: 5 }).filter((lie) => lie !== 0) })
  }))
}

// ---------------------------------------------------------------- materialising

export interface LiveUpload {
  name: string
  uuid: string
  state: string
  /** The bytes it holds. */
  bytes: Buffer
}

/** The repository a spec addresses, when its raw name is valid (used for live uploads). */
export function specName (spec: RequestSpec): string {
  const name = spec.params.name
  return typeof name === 'string' && /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/.test(name) && name.length <= 255 ? name : 'a'
}

export function usesPlaceholder (spec: RequestSpec, live: Placeholder['live']): boolean {
  const values = [...Object.values(spec.params), ...spec.query.map(([, value]) => value)]
  return values.some((value) => value !== undefined && isPlaceholder(value) && value.live === live)
}

/** Starts an upload and PATCHes `bytes` into it. */
export async function startUpload (app: FastifyInstance, name: string, bytes: Buffer): Promise<LiveUpload> {
  const started = await app.inject({ method: 'POST', url: `/v2/${name}/blobs/uploads/` })
  if (started.statusCode !== 202) throw new Error(`could not start an upload in ${name}: ${started.statusCode} ${started.body}`)
  let location = new URL(String(started.headers.location), 'http://localhost')
  if (bytes.length > 0) {
    const patched = await app.inject({ method: 'PATCH', url: location.pathname + location.search, payload: bytes, headers: { 'content-type': 'application/octet-stream' } })
    if (patched.statusCode !== 202) throw new Error(`could not patch the upload: ${patched.statusCode} ${patched.body}`)
    location = new URL(String(patched.headers.location), 'http://localhost')
  }
  return { name, uuid: String(started.headers['docker-upload-uuid']), state: location.searchParams.get('_state') ?? '', bytes }
}

function tamper (state: string): string {
  if (state.length < 10) return `${state}x`
  const at = Math.floor(state.length / 2)
  return state.slice(0, at) + (state[at] === 'A' ? 'B' : 'A') + state.slice(at + 1)
}

function resolveValue (value: Value, body: Buffer, live: LiveUpload | undefined, other: LiveUpload | undefined, encode: boolean): string {
  if (!isPlaceholder(value)) return encode ? encodeURIComponent(value) : value
  switch (value.live) {
    case 'uuid': return live?.uuid ?? 'no-live-upload'
    case 'state': return live?.state ?? ''
    case 'otherState': return other?.state ?? ''
    case 'tamperedState': return tamper(live?.state ?? '')
    case 'bodyDigest': return digestOf(body, value.algorithm)
    case 'liveDigest': return digestOf(Buffer.concat([live?.bytes ?? Buffer.alloc(0), body]))
  }
}

/**
 * Builds the request: fills the route template, resolves placeholders (for
 * which `live` and `other` are fresh uploads when the spec uses them) and
 * sets Content-Length honestly, not at all, or as a lie.
 */
export function materialize (spec: RequestSpec, live?: LiveUpload, other?: LiveUpload): FuzzRequest {
  const body = spec.body ?? Buffer.alloc(0)
  const param = (key: 'name' | 'reference' | 'digest' | 'uuid'): string => resolveValue(spec.params[key] ?? '', body, live, other, false)
  let path = spec.route.path.replace(/<(name|reference|digest|uuid)>/g, (_whole, key: 'name' | 'reference' | 'digest' | 'uuid') => param(key))
  if (spec.variant && spec.route.name === 'base') path = '/v2'
  if (spec.variant && spec.route.name === 'blob-upload') path = path.replace(/\/$/, '')
  const query = spec.query.map(([key, value]) => `${encodeURIComponent(key)}=${resolveValue(value, body, live, other, true)}`).join('&')
  const headers: Record<string, string> = { ...spec.headers }
  const request: FuzzRequest = { method: spec.method, url: query === '' ? path : `${path}?${query}`, headers }
  if (spec.body !== undefined && spec.method !== 'GET' && spec.method !== 'HEAD') {
    const pieces = Math.min(Math.max(spec.pieces, spec.lengthLie === 'absent' ? 1 : 0), spec.body.length)
    if (pieces > 1 || (spec.lengthLie === 'absent' && spec.body.length > 0)) {
      // A stream: light-my-request then sets no Content-Length of its own.
      const size = Math.ceil(spec.body.length / pieces)
      request.chunks = Array.from({ length: pieces }, (_unused, i) => spec.body!.subarray(i * size, (i + 1) * size)).filter((piece) => piece.length > 0)
    } else {
      request.body = spec.body
    }
    if (spec.lengthLie === 'honest') headers['content-length'] = String(spec.body.length)
    else if (typeof spec.lengthLie === 'number') headers['content-length'] = String(Math.max(0, spec.body.length + spec.lengthLie))
    else if (request.chunks !== undefined) headers['transfer-encoding'] = 'chunked'
  }
  return request
}

/** The path and query as light-my-request delivers them (it resolves dot segments and backslashes like a browser). */
export function injectedUrl (url: string): string {
  const parsed = new URL(url.startsWith('//') ? `http://localhost${url}` : url, 'http://localhost')
  return parsed.pathname + parsed.search
}

/** Whether Fastify's router can percent-decode the path (KNOWN BUG 1 in test/fuzz/README.md when it cannot). */
export function routerCanDecode (url: string): boolean {
  const path = url.split('?')[0]
  try {
    decodeURIComponent(path)
    return true
  } catch {
    return false
  }
}

// ---------------------------------------------------------------- coherent requests

function spec (route: RouteDefinition['name'], method: string, rest: Partial<RequestSpec> = {}): RequestSpec {
  return { method, route: routes.find((definition) => definition.name === route)!, variant: false, params: {}, query: [], headers: {}, pieces: 1, preload: Buffer.alloc(0), lengthLie: 'honest', ...rest }
}

/** A plain `type/subtype`: always a Content-Type Fastify parses (see KNOWN BUG 2 for the ones it does not). */
export function isPlainMediaType (value: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$/.test(value)
}

/** The body's `mediaType`, to send as Content-Type, when it is one Fastify parses. */
export function declaredMediaType (body: Buffer): string | undefined {
  try {
    const value = (JSON.parse(body.toString('utf8')) as { mediaType?: unknown }).mediaType
    return typeof value === 'string' && isPlainMediaType(value) ? value : undefined
  } catch {
    return undefined
  }
}

/**
 * Requests a well-behaved client would send, on every route: they reach the
 * success paths (manifest PUTs, chunked uploads, mounts, ranged reads,
 * deletes) that chaotic requests rarely do. `perturbed` then changes one
 * thing about some of them.
 */
export function coherentSpec (world: World): fc.Arbitrary<RequestSpec> {
  const manifest = fc.constantFrom(...world.manifests)
  const blob = fc.constantFrom(...world.blobs)
  const bytes = fc.uint8Array({ maxLength: 600 }).map((value) => Buffer.from(value))
  const newTag = fc.stringMatching(/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,12}$/)
  const page = fc.array(fc.tuple(fc.constantFrom('n', 'last'), fc.oneof(fc.constantFrom('1', '2', '0', '5'), tagString(world))), { maxLength: 2 }) as fc.Arbitrary<Array<[string, Value]>>
  const pull = fc.oneof(
    fc.tuple(manifest, fc.constantFrom('GET', 'HEAD'), fc.boolean(), fc.boolean()).map(([m, method, byDigest, conditional]) => spec('manifest', method, {
      params: { name: m.name, reference: byDigest ? m.digest : m.tag },
      headers: { accept: MANIFEST_TYPES.join(', '), ...(conditional ? { 'if-none-match': `"${m.digest}"` } : {}) }
    })),
    fc.tuple(blob, fc.constantFrom('GET', 'HEAD'), fc.option(rangeHeader, { nil: undefined }), fc.boolean()).map(([b, method, range, conditional]) => spec('blob', method, {
      params: { name: b.name, digest: b.digest },
      headers: { ...(range === undefined ? {} : { range }), ...(conditional ? { 'if-none-match': `"${b.digest}"` } : {}) }
    })),
    fc.tuple(fc.constantFrom(...world.names), page).map(([name, query]) => spec('tags', 'GET', { params: { name }, query })),
    page.map((query) => spec('catalog', 'GET', { query })),
    fc.tuple(manifest, fc.option(fc.constantFrom('application/vnd.example.signature', 'x/y'), { nil: undefined })).map(([m, type]) => spec('referrers', 'GET', { params: { name: m.name, digest: m.digest }, query: type === undefined ? [] : [['artifactType', type]] }))
  )
  const manifestPut = fc.tuple(
    manifestBody(world, { maxMutations: 1, plain: true }),
    fc.oneof(newTag, fc.constantFrom(...world.tags)).map((tag): Value => tag),
    fc.constantFrom<'tag' | 'digest' | 'wrong-digest'>('tag', 'tag', 'digest', 'wrong-digest'),
    fc.array(newTag, { maxLength: 2 }),
    fc.constantFrom<'declared' | 'none' | 'octet'>('declared', 'declared', 'none', 'octet'),
    fc.constantFrom(1, 1, 3)
  ).map(([body, tag, by, extra, typing, pieces]) => {
    const type = typing === 'declared' ? declaredMediaType(body) : typing === 'octet' ? 'application/octet-stream' : undefined
    const reference: Value = by === 'tag' ? tag : by === 'digest' ? { live: 'bodyDigest', algorithm: 'sha256' } : world.manifests[0].digest
    return spec('manifest', 'PUT', { params: { name: 'a', reference }, query: extra.map((value): [string, Value] => ['tag', value]), headers: type === undefined ? {} : { 'content-type': type }, body, pieces })
  })
  const remove = fc.oneof(
    fc.tuple(manifest, fc.boolean()).map(([m, byDigest]) => spec('manifest', 'DELETE', { params: { name: m.name, reference: byDigest ? m.digest : m.tag } })),
    blob.map((b) => spec('blob', 'DELETE', { params: { name: b.name, digest: b.digest } }))
  )
  const octet = { 'content-type': 'application/octet-stream' }
  const upload = fc.oneof(
    fc.constantFrom(...world.names).map((name) => spec('blob-upload', 'POST', { params: { name } })),
    fc.tuple(fc.constantFrom(...world.names), bytes, fc.constantFrom<'sha256' | 'sha512'>('sha256', 'sha256', 'sha512'), fc.constantFrom(1, 4)).map(([name, body, algorithm, pieces]) =>
      spec('blob-upload', 'POST', { params: { name }, query: [['digest', { live: 'bodyDigest', algorithm }]], headers: octet, body, pieces })),
    fc.tuple(blob, fc.constantFrom(...world.names)).map(([b, name]) => spec('blob-upload', 'POST', { params: { name }, query: [['mount', b.digest], ['from', b.name]] })),
    fc.tuple(fc.constantFrom(...world.names), bytes, bytes, fc.boolean(), fc.boolean(), fc.constantFrom(1, 3)).map(([name, preload, body, withState, withRange, pieces]) => spec('blob-upload-chunk', 'PATCH', {
      params: { name, uuid: { live: 'uuid' } },
      query: withState ? [['_state', { live: 'state' }]] : [],
      headers: { ...octet, ...(withRange && body.length > 0 ? { 'content-range': `${preload.length}-${preload.length + body.length - 1}` } : {}) },
      body,
      preload,
      pieces
    })),
    fc.tuple(fc.constantFrom(...world.names), bytes, fc.option(bytes, { nil: undefined }), fc.boolean()).map(([name, preload, body, withState]) => spec('blob-upload-chunk', 'PUT', {
      params: { name, uuid: { live: 'uuid' } },
      query: [['digest', { live: 'liveDigest' }], ...(withState ? [['_state', { live: 'state' }] as [string, Value]] : [])],
      headers: body === undefined ? {} : octet,
      body,
      preload
    })),
    fc.tuple(fc.constantFrom(...world.names), bytes, fc.constantFrom('GET', 'DELETE')).map(([name, preload, method]) => spec('blob-upload-chunk', method, { params: { name, uuid: { live: 'uuid' } }, query: [['_state', { live: 'state' }]], preload }))
  )
  return fc.oneof({ weight: 3, arbitrary: pull }, { weight: 4, arbitrary: manifestPut }, { weight: 1, arbitrary: remove }, { weight: 4, arbitrary: upload })
}

/** One change to a coherent request: a header, a path value, a query pair, the length, the method or the pieces. */
export function perturbed (world: World, base: fc.Arbitrary<RequestSpec>): fc.Arbitrary<RequestSpec> {
  const pool = headerPool(world)
  const change: fc.Arbitrary<(spec: RequestSpec) => RequestSpec> = fc.oneof(
    fc.constantFrom(...Object.keys(pool)).chain((name) => pool[name].map((value) => (s: RequestSpec) => ({ ...s, headers: { ...s.headers, [name]: value } }))),
    nameValue(world).map((name) => (s: RequestSpec) => ({ ...s, params: { ...s.params, name } })),
    referenceValue(world).map((reference) => (s: RequestSpec) => ({ ...s, params: { ...s.params, reference } })),
    digestValue(world).map((digest) => (s: RequestSpec) => ({ ...s, params: { ...s.params, digest } })),
    uuidValue().map((uuid) => (s: RequestSpec) => ({ ...s, params: { ...s.params, uuid } })),
    fc.tuple(fc.constantFrom(...QUERY_KEYS), queryValue(world)).map((pair) => (s: RequestSpec) => ({ ...s, query: [...s.query, pair] })),
    fc.tuple(fc.constantFrom(...QUERY_KEYS), queryValue(world)).map((pair) => (s: RequestSpec) => ({ ...s, query: [pair, ...s.query] })),
    fc.integer({ min: -5, max: 5 }).filter((lie) => lie !== 0).map((lie) => (s: RequestSpec) => ({ ...s, lengthLie: lie })),
    fc.constant((s: RequestSpec) => ({ ...s, lengthLie: 'absent' as const })),
    fc.constant((s: RequestSpec) => ({ ...s, pieces: 5 })),
    fc.constantFrom(...METHODS).map((method) => (s: RequestSpec) => ({ ...s, method })),
    bodyValue(world).map((body) => (s: RequestSpec) => ({ ...s, body }))
  )
  return fc.tuple(base, fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: change })).map(([s, apply]) => apply === undefined ? s : apply(s))
}

/** Chaotic and coherent (sometimes perturbed) requests, half and half. */
export function mixedSpec (world: World): fc.Arbitrary<RequestSpec> {
  return fc.oneof(requestSpec(world), perturbed(world, coherentSpec(world)))
}
