/**
 * Names and paths against filesystem storage, over real HTTP with raw
 * sockets (nothing normalises the path on the way).
 *
 * Canaries are planted outside the storage root: in its parent, in a
 * sibling directory whose name starts with the root's (`<root>x`, which a
 * prefix check would let through), and — named like the registry's own
 * layout — a blob, its repository link and a tag in the parent's
 * `docker/registry/v2`, so a request that climbed one level out of the root
 * would find a complete repository `canary` there. Then a few thousand
 * crafted requests (every route, every method, traversal in every path
 * parameter and query value; plus generated ones) must not read them (their
 * bytes never appear in an answer), write next to them (the parent's
 * listing is unchanged, byte for byte and by mtime) or delete them.
 *
 * The grammar: a component starting with `_` (`_layers`, `_uploads`,
 * `_manifests`) is never a repository name, names over 255 and tags over
 * 128 characters are refused, and the longest valid ones work on disk.
 */
import t from 'tap'
import fc from 'fast-check'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { join, relative } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { routes } from '../../routes/table.js'
import { pushImage } from '../helpers/images.js'
import { pushBlob, tempDir } from '../helpers/registry.js'
import { buildFuzzRegistry, digestOf, fuzzParameters, unexpectedErrors } from '../helpers/fuzz-oracle.js'
import { exchange, pool, serialize } from '../helpers/fuzz-raw.js'

const MARKER = `CANARY-${randomBytes(12).toString('hex')}`

interface Entry { path: string, size: number, mtimeMs: number, sha256?: string }

/** Every file and directory below `dir`, except the subtree `skip`, with sizes, mtimes and content hashes. */
async function listing (dir: string, skip: string): Promise<Entry[]> {
  const out: Entry[] = []
  const walk = async (current: string): Promise<void> => {
    for (const name of (await readdir(current)).sort()) {
      const full = join(current, name)
      if (full === skip) continue
      const info = await stat(full)
      out.push({ path: relative(dir, full), size: info.isDirectory() ? 0 : info.size, mtimeMs: info.mtimeMs, sha256: info.isFile() ? createHash('sha256').update(await readFile(full)).digest('hex') : undefined })
      if (info.isDirectory()) await walk(full)
    }
  }
  await walk(dir)
  return out
}

/** Writes a distribution-layout repository `canary` (blob, layer link, manifest and tag) under `base`. */
async function plantLayout (base: string, blob: Buffer, manifest: Buffer): Promise<void> {
  const v2 = join(base, 'docker', 'registry', 'v2')
  for (const content of [blob, manifest]) {
    const hex = createHash('sha256').update(content).digest('hex')
    await mkdir(join(v2, 'blobs', 'sha256', hex.slice(0, 2), hex), { recursive: true })
    await writeFile(join(v2, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data'), content)
  }
  const blobHex = createHash('sha256').update(blob).digest('hex')
  const manifestHex = createHash('sha256').update(manifest).digest('hex')
  const repository = join(v2, 'repositories', 'canary')
  await mkdir(join(repository, '_layers', 'sha256', blobHex), { recursive: true })
  await writeFile(join(repository, '_layers', 'sha256', blobHex, 'link'), `sha256:${blobHex}`)
  await mkdir(join(repository, '_manifests', 'revisions', 'sha256', manifestHex), { recursive: true })
  await writeFile(join(repository, '_manifests', 'revisions', 'sha256', manifestHex, 'link'), `sha256:${manifestHex}`)
  await mkdir(join(repository, '_manifests', 'tags', 'latest', 'current'), { recursive: true })
  await writeFile(join(repository, '_manifests', 'tags', 'latest', 'current', 'link'), `sha256:${manifestHex}`)
  await mkdir(join(repository, '_uploads', 'canary-upload'), { recursive: true })
  await writeFile(join(repository, '_uploads', 'canary-upload', 'startedat'), new Date().toISOString())
  await writeFile(join(repository, '_uploads', 'canary-upload', 'data'), blob)
}

/** Traversal spellings, as they appear raw in a request target. */
const TRAVERSALS = [
  '..', '../..', '../../..', '../../../..', '../canary', '../rootx', '..%2f..', '..%2F..%2F..', '%2e%2e', '%2E%2e', '%2e%2E%2f%2e%2e', '%2e%2e/%2e%2e',
  '.%2e', '%2e.', '..%5c..', '%5c..%5c..', '..\\..', '..\\canary', '..%00', '%00', 'a%00..', '..;', '..;/..', '....//', '..././', '.../...',
  '%ef%bc%8f..%ef%bc%8f..', '%e2%80%a4%e2%80%a4', '%e2%80%a5', '%c0%ae%c0%ae', '%25%32%65%25%32%65', '%252e%252e', '/..', '//..', '/etc/passwd',
  '%2fetc%2fpasswd', 'canary', 'docker/registry/v2/repositories/canary', '../docker/registry/v2/repositories/canary', '../../docker/registry/v2/repositories/canary',
  '_layers', 'canary/_layers', 'canary/_manifests', 'canary/_uploads', '_uploads/canary-upload', 'canary-upload', '..%2fcanary-upload'
]

const METHODS = ['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE', 'POST']

interface Crafted { method: string, target: string, body?: Buffer }

/** Every route, every method, a traversal in every path parameter and every query value. */
function craftedRequests (canaryBlob: string, canaryManifest: string, body: Buffer): Crafted[] {
  const out: Crafted[] = []
  const bodyDigest = digestOf(body)
  const fill = (template: string, values: Record<string, string>): string => template.replace(/<(name|reference|digest|uuid)>/g, (_whole, key: string) => values[key])
  const defaults = { name: 'canary', reference: 'latest', digest: canaryBlob, uuid: 'canary-upload' }
  for (const traversal of TRAVERSALS) {
    for (const route of routes) {
      const slots: Array<{ values: Record<string, string>, methods: readonly string[] }> = []
      for (const key of route.params) {
        // A method the route lacks is refused (405) before anything else; still, every method gets the traversal as the whole name.
        slots.push({ values: { [key]: traversal }, methods: key === 'name' ? METHODS : route.methods })
        if (key === 'name') slots.push({ values: { name: `a/${traversal}` }, methods: route.methods })
      }
      for (const slot of slots) {
        const path = fill(route.path, { ...defaults, ...slot.values })
        for (const method of slot.methods) out.push({ method, target: path, body: ['PUT', 'PATCH', 'POST'].includes(method) ? body : undefined })
      }
      // Every query value at once, on the route's own methods.
      const encoded = traversal
      const query = ['digest', 'mount', 'from', '_state', 'last', 'tag', 'n', 'artifactType'].map((key) => `${key}=${encoded}`).join('&')
      for (const method of route.methods) out.push({ method, target: `${fill(route.path, defaults)}?${query}`, body: ['PUT', 'PATCH', 'POST'].includes(method) ? body : undefined })
      // A write that would succeed if the name led somewhere: a valid digest of the body.
      if (route.name === 'blob-upload') out.push({ method: 'POST', target: `${fill(route.path, { name: traversal })}?digest=${bodyDigest}`, body })
      if (route.name === 'blob-upload') out.push({ method: 'POST', target: `${fill(route.path, { name: 'a' })}?mount=${canaryBlob}&from=${traversal}` })
      if (route.name === 'manifest') out.push({ method: 'GET', target: fill(route.path, { name: traversal, reference: canaryManifest }) })
    }
  }
  return out
}

async function send (port: number, request: Crafted): Promise<{ status: number, received: Buffer, timedOut: boolean }> {
  const headers: Array<[string, string]> = [['Host', 'fuzz.local'], ['Connection', 'close']]
  if (request.body !== undefined) headers.push(['Content-Type', 'application/octet-stream'], ['Content-Length', String(request.body.length)])
  const outcome = await exchange(port, serialize({ method: request.method, target: request.target, headers, body: request.body }), request.method)
  return { status: outcome.answer?.status ?? 0, received: outcome.received, timedOut: outcome.timedOut }
}

async function listen (app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return (app.server.address() as AddressInfo).port
}

t.test('no request reads, writes or deletes anything outside the filesystem root', async (t) => {
  const base = await tempDir('oci-fuzz-paths-')
  t.teardown(base.cleanup)
  const root = join(base.path, 'root')
  await mkdir(root)
  const canaryBlob = Buffer.from(`${MARKER} blob`)
  const canaryManifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(canaryBlob), size: canaryBlob.length }, layers: [], annotations: { marker: MARKER } }))
  // In the root's parent: a plain file, and the registry's layout one level too high.
  await writeFile(join(base.path, 'canary.txt'), `${MARKER} parent`)
  await plantLayout(base.path, canaryBlob, canaryManifest)
  // Next to the root, in a directory whose name extends the root's: `<root>x` passes a naive prefix check.
  await mkdir(join(base.path, 'rootx'))
  await writeFile(join(base.path, 'rootx', 'canary.txt'), `${MARKER} sibling`)
  await plantLayout(join(base.path, 'rootx'), canaryBlob, canaryManifest)
  // Positive control: a registry rooted one level up (or in the sibling) does serve the canaries, so an escape would find them.
  for (const escaped of [base.path, join(base.path, 'rootx')]) {
    const { app: control } = await buildFuzzRegistry({ storage: { filesystem: { rootDirectory: escaped } } })
    const manifest = await control.inject({ method: 'GET', url: '/v2/canary/manifests/latest' })
    const blob = await control.inject({ method: 'GET', url: `/v2/canary/blobs/${digestOf(canaryBlob)}` })
    t.ok(manifest.statusCode === 200 && manifest.body.includes(MARKER) && blob.body.includes(MARKER), `control: rooted at ${relative(base.path, escaped) || 'the parent'}, the canary repository is served`)
    await control.close()
  }
  const before = await listing(base.path, root)

  const { app, errorLogs } = await buildFuzzRegistry({ storage: { filesystem: { rootDirectory: root } }, delete: { enabled: true } })
  t.teardown(async () => await app.close())
  await pushImage(app, 'a', 'latest')
  await pushBlob(app, 'a', Buffer.from('a blob'))
  const port = await listen(app)

  const body = Buffer.from(`${MARKER} written`)
  const crafted = craftedRequests(digestOf(canaryBlob), digestOf(canaryManifest), body)
  const statuses = new Map<number, number>()
  const problems: string[] = []
  const started = Date.now()
  await pool(crafted, 4, async (request) => {
    const answer = await send(port, request)
    statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
    if (answer.timedOut) problems.push(`hang: ${request.method} ${request.target}`)
    if (answer.status >= 500 || answer.status === 0) problems.push(`${answer.status}: ${request.method} ${request.target}`)
    if (answer.received.includes(MARKER)) problems.push(`canary bytes in the answer to ${request.method} ${request.target}`)
  })
  t.comment(`${crafted.length} crafted requests in ${Date.now() - started} ms; statuses ${JSON.stringify(Object.fromEntries(statuses))}`)
  t.same(problems.slice(0, 20), [], 'no hang, no 5xx, no canary bytes in any answer')

  // Generated traversals in every slot.
  const piece = fc.constantFrom('..', '.', '%2e', '%2e%2e', '%2E', '%2f', '%2F', '/', '//', '%5c', '\\', '%00', '%25', 'canary', 'docker', 'registry', 'v2', 'repositories', 'blobs', 'rootx', 'root', '_layers', '_manifests', '_uploads', 'sha256', 'latest', ';', '%ef%bc%8f', '%e2%80%a4')
  const traversal = fc.array(piece, { minLength: 1, maxLength: 10 }).map((parts) => parts.join(''))
  const generated = fc.tuple(fc.constantFrom(...routes), fc.constantFrom(...METHODS), traversal, fc.nat(), fc.constantFrom('digest', 'mount', 'from', '_state', 'last', 'tag', 'n', 'artifactType'))
  await fc.assert(fc.asyncProperty(generated, async ([route, method, value, pick, key]) => {
    const slots = [...route.params, 'query'] as string[]
    const slot = slots[pick % slots.length]
    const values: Record<string, string> = { name: 'canary', reference: 'latest', digest: digestOf(canaryBlob), uuid: 'canary-upload' }
    if (slot !== 'query') values[slot] = value
    const path = route.path.replace(/<(name|reference|digest|uuid)>/g, (_whole, param: string) => values[param])
    const target = slot === 'query' ? `${path}?${key}=${value}` : path
    const answer = await send(port, { method, target, body: ['PUT', 'PATCH', 'POST'].includes(method) ? body : undefined })
    if (answer.timedOut) throw new Error(`hang: ${method} ${target}`)
    if (answer.status >= 500 || answer.status === 0) throw new Error(`${answer.status}: ${method} ${target}`)
    if (answer.received.includes(MARKER)) throw new Error(`canary bytes in the answer to ${method} ${target}`)
  }), fuzzParameters(t, 250))

  const after = await listing(base.path, root)
  t.same(after, before, 'the root\'s parent and the sibling directory are exactly as they were: nothing read into, written, created or deleted')
  t.equal(await readFile(join(base.path, 'canary.txt'), 'utf8'), `${MARKER} parent`, 'the parent canary is intact')
  // Inside the root: nothing but the layout's own names, no canary bytes.
  const inside = await listing(root, join(root, '\u0000none'))
  t.same(inside.filter((entry) => !/^docker(\/registry(\/v2(\/(blobs|repositories)(\/.*)?)?)?)?$/.test(entry.path)), [], 'everything written stays in the layout under the root')
  t.same(inside.filter((entry) => entry.path.split('/').some((part) => part === '..' || part === '.' || part.includes('\\') || part.includes('%'))), [], 'no path component inside the root is a traversal spelling')
  t.equal((await app.inject({ method: 'GET', url: '/v2/canary/manifests/latest' })).statusCode, 404, 'the planted repository one level up is not visible')
  t.same(unexpectedErrors(errorLogs()).map((line) => line.slice(0, 300)), [], 'no unexpected errors logged')
})

t.test('a component starting with _ is never a repository name, on any route', async (t) => {
  const { app } = await buildFuzzRegistry({ delete: { enabled: true } })
  t.teardown(async () => await app.close())
  await pushImage(app, 'a', 'latest')
  const component = fc.stringMatching(/^[a-z0-9]{1,6}$/)
  const reserved = fc.constantFrom('_layers', '_manifests', '_uploads', '_referrers', '_catalog', '_', '__a', '_a', '_0')
  const name = fc.tuple(fc.array(component, { maxLength: 2 }), reserved, fc.array(component, { maxLength: 2 })).map(([head, middle, tail]) => [...head, middle, ...tail].join('/'))
  await fc.assert(fc.asyncProperty(fc.constantFrom(...routes.filter((route) => route.scoped)), name, async (route, value) => {
    const method = route.methods[0]
    const url = route.path.replace('<name>', value).replace('<reference>', 'latest').replace('<digest>', digestOf(Buffer.from('x'))).replace('<uuid>', 'u')
    const answer = await app.inject({ method: method as 'GET', url })
    if (answer.statusCode !== 400 || (answer.json() as { errors: Array<{ code: string }> }).errors[0].code !== 'NAME_INVALID') throw new Error(`${method} ${url}: ${answer.statusCode} ${answer.body}`)
  }), fuzzParameters(t, 200))
  const catalog = await app.inject({ method: 'GET', url: '/v2/_catalog' })
  t.same(catalog.json().repositories, ['a'], 'no reserved directory ever shows up as a repository')
})

t.test('length limits: names over 255 and tags over 128 are refused; the longest valid ones work on disk', async (t) => {
  const dir = await tempDir('oci-fuzz-long-')
  t.teardown(dir.cleanup)
  const { app } = await buildFuzzRegistry({ storage: { filesystem: { rootDirectory: dir.path } }, delete: { enabled: true } })
  t.teardown(async () => await app.close())
  await fc.assert(fc.asyncProperty(fc.integer({ min: 256, max: 2000 }), fc.boolean(), async (length, slashes) => {
    const name = slashes ? Array.from({ length: Math.ceil(length / 10) }, () => 'abcdefghi').join('/').slice(0, length).replace(/\/$/, 'x') : 'n'.repeat(length)
    const answer = await app.inject({ method: 'GET', url: `/v2/${name}/tags/list` })
    if (answer.statusCode !== 400 || !answer.body.includes('NAME_INVALID')) throw new Error(`${name.length}-character name: ${answer.statusCode}`)
  }), fuzzParameters(t, 50))
  await fc.assert(fc.asyncProperty(fc.integer({ min: 129, max: 1000 }), async (length) => {
    const answer = await app.inject({ method: 'PUT', url: `/v2/a/manifests/${'t'.repeat(length)}`, payload: '{}', headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } })
    if (answer.statusCode !== 400 || !answer.body.includes('TAG_INVALID')) throw new Error(`${length}-character tag: ${answer.statusCode}`)
  }), fuzzParameters(t, 50))

  const longest = [`${'a'.repeat(255)}`, `${'b'.repeat(127)}/${'c'.repeat(127)}`, Array.from({ length: 128 }, () => 'd').join('/')]
  for (const name of longest) {
    t.equal(name.length, 255)
    const tag = `T${'g'.repeat(127)}`
    const image = await pushImage(app, name, tag)
    const list = await app.inject({ method: 'GET', url: `/v2/${name}/tags/list` })
    t.same(list.json(), { name, tags: [tag] }, `${name.slice(0, 20)}...: pushed with a 128-character tag and listed`)
    const got = await app.inject({ method: 'GET', url: `/v2/${name}/manifests/${tag}` })
    t.ok(got.rawPayload.equals(image.body), 'and served back')
    const removed = await app.inject({ method: 'DELETE', url: `/v2/${name}/manifests/${tag}` })
    t.equal(removed.statusCode, 202, 'and its tag deleted')
  }
  const catalog = await app.inject({ method: 'GET', url: '/v2/_catalog' })
  t.same(catalog.json().repositories, [...longest].sort(), 'the catalog lists the longest names')
})
