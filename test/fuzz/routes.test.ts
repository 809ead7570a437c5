/**
 * Property-based tests over every route and method of the route table,
 * through app.inject (fast; see raw-http.test.ts for what inject normalises
 * away). Each run sends one generated request — adversarial names,
 * references, digests, upload ids, query values, headers and bodies mixed
 * with values a seeded registry knows — and checks:
 *
 * - the answer is a success the input justified, or the spec's error
 *   envelope with a 4xx status and a code consistent with it (the judge in
 *   test/helpers/fuzz-oracle.ts); never a 5xx, an unexpected-error log or a hang;
 * - the write had exactly its effect: a refused manifest PUT leaves every
 *   tag it named as it was and its digest unknown, a refused blob write
 *   leaves the digest as visible as before, a 202 delete removes;
 * - nothing partial is visible afterwards: every tag serves bytes matching
 *   its digest, every blob that HEADs 200 GETs bytes matching its digest.
 *
 * Replay a failure with FUZZ_SEED=<seed>; FUZZ_RUNS_SCALE=10 for a soak.
 */
import t, { type Test } from 'tap'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import { RegistryError, type AccessController } from '../../lib/index.js'
import { matchRoute, routes } from '../../routes/table.js'
import {
  type RequestSpec, type World, headersValue, holdingsOf, injectedUrl, materialize, mixedSpec, requestSpec, routerCanDecode, seedWorld, specName, startUpload,
  unparseableContentType, usesPlaceholder
} from '../helpers/fuzz-arbitraries.js'
import {
  type Holdings, assertJudged, buildFuzzRegistry, checkEffects, checkInvariants, describe, envelopeCode, fuzzParameters,
  header, resolveTag, send, snapshot, subpathOf, unexpectedErrors
} from '../helpers/fuzz-oracle.js'

const WRITES = new Set(['PUT', 'POST', 'PATCH', 'DELETE'])

interface Run {
  app: FastifyInstance
  world: World
  holdings: Holdings
  deleteEnabled: boolean
  errorLogs: () => string[]
  counts: Map<string, number>
}

/** Runs one generated request and checks the answer, its effects and the invariants. */
async function exercise (run: Run, spec: RequestSpec, strict = true): Promise<void> {
  const { app } = run
  const live = usesPlaceholder(spec, 'uuid') || usesPlaceholder(spec, 'state') || usesPlaceholder(spec, 'tamperedState') || usesPlaceholder(spec, 'liveDigest')
    ? await startUpload(app, specName(spec), spec.preload)
    : undefined
  const other = usesPlaceholder(spec, 'otherState') ? await startUpload(app, 'library/alpine', Buffer.alloc(0)) : undefined
  const request = materialize(spec, live, other)
  // Judge what the registry receives: inject resolves dot segments like a browser would.
  request.url = injectedUrl(request.url)
  // KNOWN BUG 1 (test/fuzz/README.md): a path Fastify's router cannot percent-decode is answered
  // by Fastify itself, outside the registry; that class is covered by the lenient property below.
  fc.pre(routerCanDecode(request.url))
  const before = await snapshot(app, request)
  const answer = await send(app, request)
  const key = `${request.method} ${matchRoute(subpathOf(request.url) ?? '\u0000')?.route.name ?? '-'} ${answer.status} ${answer.status >= 400 ? envelopeCode(answer).code ?? '' : ''}`
  run.counts.set(key, (run.counts.get(key) ?? 0) + 1)
  if (strict) assertJudged(request, answer, { deleteEnabled: run.deleteEnabled })
  await checkEffects(app, request, answer, before)
  const created = header(answer, 'docker-content-digest')
  if (created !== undefined) run.holdings.digests.add(created)
  if (before.name !== undefined) run.holdings.names.add(before.name)
  if (WRITES.has(request.method)) {
    // The repository written to, its seeded tags and blobs and what this request named; full sweeps come after the run.
    const extra = { digests: [...(created === undefined ? [] : [created]), ...(before.blobDigest === undefined ? [] : [before.blobDigest])], tags: before.tags.keys() }
    await checkInvariants(app, holdingsOf(run.world, before.name ?? 'a', extra))
  }
  const errors = unexpectedErrors(run.errorLogs())
  if (errors.length > 0) throw new Error(`unexpected error logged: ${errors[0].slice(0, 600)}\n  request: ${describe(request)}`)
}

function summary (counts: Map<string, number>): string {
  const successes = [...counts].filter(([key]) => / [23]\d\d /.test(key)).reduce((sum, [, count]) => sum + count, 0)
  const total = [...counts.values()].reduce((sum, count) => sum + count, 0)
  const detail = process.env.FUZZ_VERBOSE === undefined ? '' : `\n${[...counts].sort().map(([key, count]) => `  ${key}: ${count}`).join('\n')}`
  return `${total} requests, ${successes} successes, ${counts.size} distinct (method, route, status, code)${detail}`
}

async function setup (t: Test, options: { deleteEnabled: boolean, accessController?: AccessController }): Promise<Run> {
  const { app, errorLogs } = await buildFuzzRegistry({ delete: { enabled: options.deleteEnabled }, ...(options.accessController === undefined ? {} : { accessController: options.accessController }) })
  t.teardown(async () => await app.close())
  const world = options.accessController === undefined ? await seedWorld(app) : await seedWorldAsAdmin(app)
  const holdings: Holdings = { names: new Set(world.names), digests: new Set([...world.blobs.map((blob) => blob.digest), ...world.manifests.map((manifest) => manifest.digest), ...world.unknownDigests]) }
  return { app, world, holdings, deleteEnabled: options.deleteEnabled, errorLogs, counts: new Map() }
}

t.test('every route and method, deletion enabled: justified success or spec error; effects exact; nothing partial visible', async (t) => {
  const run = await setup(t, { deleteEnabled: true })
  await fc.assert(fc.asyncProperty(mixedSpec(run.world), async (spec) => { await exercise(run, spec) }), fuzzParameters(t, 400))
  await checkInvariants(run.app, run.holdings)
  t.comment(summary(run.counts))
  t.ok(run.counts.size > 60, 'the generator reaches many (method, route, status, code) combinations')
  t.ok([...run.counts.keys()].some((key) => key.startsWith('PUT manifest 201')), 'some manifest PUTs succeed')
  t.ok([...run.counts.keys()].some((key) => key.startsWith('PUT blob-upload-chunk 201')), 'some uploads complete')
  t.ok([...run.counts.keys()].some((key) => key.startsWith('PATCH blob-upload-chunk 202')), 'some chunks are accepted')
})

t.test('every route and method, deletion disabled: DELETE is 405 UNSUPPORTED and nothing is removed', async (t) => {
  const run = await setup(t, { deleteEnabled: false })
  await fc.assert(fc.asyncProperty(mixedSpec(run.world), async (spec) => { await exercise(run, spec) }), fuzzParameters(t, 150))
  await checkInvariants(run.app, run.holdings)
  for (const manifest of run.world.manifests) {
    if (await resolveTag(run.app, manifest.name, manifest.tag) === undefined) t.fail(`${manifest.name}:${manifest.tag} disappeared with deletion disabled`)
  }
  t.comment(summary(run.counts))
})

const GOOD_CREDENTIAL = 'Basic ZnV6ejpmdXp6'

/** Lets in only GOOD_CREDENTIAL; any other Authorization is challenged, as the real controllers do. */
const challengeController: AccessController = {
  async authorized (request, access) {
    if (request.headers.authorization === GOOD_CREDENTIAL) return { access }
    throw new RegistryError('UNAUTHORIZED', { headers: { 'WWW-Authenticate': 'Basic realm="fuzz"' } })
  }
}

async function seedWorldAsAdmin (app: FastifyInstance): Promise<World> {
  // The seeding helpers send no credentials: lend them one for the duration.
  type Inject = (options: { headers?: Record<string, string> }) => Promise<unknown>
  const patched = app as unknown as { inject: Inject }
  const inject = patched.inject.bind(app)
  patched.inject = async (options) => await inject({ ...options, headers: { ...options.headers, authorization: GOOD_CREDENTIAL } })
  try {
    return await seedWorld(app)
  } finally {
    patched.inject = inject
  }
}

t.test('behind an access controller: any Authorization but the right one is 401 with a challenge and changes nothing', async (t) => {
  const run = await setup(t, { deleteEnabled: true, accessController: challengeController })
  const headers = headersValue(run.world).chain((base) => fc.constantFrom<string | undefined>(undefined, GOOD_CREDENTIAL, `${GOOD_CREDENTIAL} `, 'Basic ZnV6ejpub3Bl', GOOD_CREDENTIAL.toLowerCase(), '').map((authorization) => {
    const copy = { ...base }
    delete copy.authorization
    return authorization === undefined ? copy : { ...copy, authorization }
  }))
  const before = new Map<string, string | undefined>()
  await fc.assert(fc.asyncProperty(requestSpec(run.world, { headers }), async (spec) => {
    if (spec.headers.authorization === GOOD_CREDENTIAL) return // the granted path is what the other properties cover
    const request = materialize(spec)
    request.url = injectedUrl(request.url)
    fc.pre(routerCanDecode(request.url))
    for (const manifest of run.world.manifests) before.set(`${manifest.name}:${manifest.tag}`, manifest.digest)
    const answer = await send(run.app, request)
    const match = matchRoute(subpathOf(request.url) ?? '\u0000')
    // The grammar, route and method checks come before the access decision; then everything is challenged.
    if (answer.status < 400 || answer.status >= 500) throw new Error(`unauthenticated request answered ${answer.status}: ${describe(request)}`)
    assertJudged(request, answer, { deleteEnabled: true })
    if (match !== undefined && match.route.name !== 'base' && (match.route.methods as readonly string[]).includes(request.method) && answer.status !== 401) {
      const code = envelopeCode(answer).code
      // A name, reference, digest or upload id that fails its grammar is refused before access is decided.
      if (!['NAME_INVALID', 'TAG_INVALID', 'DIGEST_INVALID', 'BLOB_UPLOAD_UNKNOWN'].includes(code ?? '')) throw new Error(`unauthenticated request answered ${answer.status} ${code}: ${describe(request)}`)
    }
    if (answer.status === 401 && header(answer, 'www-authenticate') === undefined) throw new Error('401 without WWW-Authenticate')
    if (unexpectedErrors(run.errorLogs()).length > 0) throw new Error(`unexpected error logged: ${run.errorLogs()[0]}`)
  }), fuzzParameters(t, 150))
  const admin = { authorization: GOOD_CREDENTIAL }
  for (const manifest of run.world.manifests) {
    const head = await run.app.inject({ method: 'HEAD', url: `/v2/${manifest.name}/manifests/${manifest.tag}`, headers: admin })
    t.equal(head.headers['docker-content-digest'], manifest.digest, `${manifest.name}:${manifest.tag} unchanged`)
  }
  const catalog = await run.app.inject({ method: 'GET', url: '/v2/_catalog', headers: admin })
  t.same(catalog.json().repositories, [...run.world.names].sort(), 'no repository was created')
})

/**
 * KNOWN BUG 1 (test/fuzz/README.md): paths Fastify cannot percent-decode are
 * answered by Fastify before the registry (400 FST_ERR_BAD_URL without the
 * envelope), so this property only asks for a 4xx refusal. Content-Types
 * Fastify cannot parse reach the registry now (bodies are raw bytes).
 */
t.test('malformed escapes (refused by Fastify, known bug 1) and unparsable Content-Types: never a 5xx', async (t) => {
  const run = await setup(t, { deleteEnabled: true })
  const badEscape = fc.constantFrom('%', '%zz', '%e', '%c0%af', '%ed%a0%80', '%ff', 'a%2', '%%')
  const scoped = routes.filter((route) => route.scoped)
  const badPath = fc.tuple(requestSpec(run.world), fc.constantFrom(...scoped), badEscape, fc.nat()).map(([base, route, escape, pick]): RequestSpec => {
    const where = route.params[pick % route.params.length]
    return { ...base, route, method: route.methods[pick % route.methods.length], params: { ...base.params, [where]: `a${escape}` } }
  })
  const badType = fc.tuple(requestSpec(run.world), unparseableContentType, fc.uint8Array({ minLength: 1, maxLength: 100 }), fc.constantFrom('POST', 'PUT', 'PATCH', 'DELETE')).map(([base, type, body, method]): RequestSpec =>
    ({ ...base, method, headers: { ...base.headers, 'content-type': type }, body: Buffer.from(body), lengthLie: 'honest', pieces: 1 }))
  await fc.assert(fc.asyncProperty(fc.oneof(badPath, badType), async (generated) => {
    const live = usesPlaceholder(generated, 'uuid') ? await startUpload(run.app, specName(generated), Buffer.alloc(0)) : undefined
    const request = materialize(generated, live)
    request.url = injectedUrl(request.url)
    const answer = await send(run.app, request)
    // A bad escape is refused; a body with an unparsable label is raw bytes like any other, so it may succeed.
    const refusedOnly = generated.headers['content-type'] === undefined || !['POST', 'PUT', 'PATCH', 'DELETE'].includes(generated.method)
    if (answer.status >= 500 || (refusedOnly && answer.status < 400)) throw new Error(`answered ${answer.status}: ${describe(request)} ${answer.body.toString().slice(0, 200)}`)
    const errors = unexpectedErrors(run.errorLogs())
    if (errors.length > 0) throw new Error(`unexpected error logged: ${errors[0]}`)
  }), fuzzParameters(t, 100))
  await checkInvariants(run.app, run.holdings)
})

t.test('pagination: following Link from any n and last lists every tag and repository once, in order', async (t) => {
  const { app } = await buildFuzzRegistry({ limits: { tagsPageSize: 50, catalogPageSize: 50 } })
  t.teardown(async () => await app.close())
  const tags = ['0', '9', 'A', 'Z', '_', 'a', 'a-b', 'a.b', 'a_b', 'aa', 'latest', 'v1', 'v1.0', 'v1.0.0', 'v10', 'v2', 'z'.repeat(128)]
  const names = ['a', 'a-b', 'a.b', 'a/b', 'a/b/c', 'a_b', 'ab', 'b', 'b/a', 'z9']
  const { pushImage } = await import('../helpers/images.js')
  const image = await pushImage(app, 'p', tags[0])
  for (const tag of tags.slice(1)) {
    const put = await app.inject({ method: 'PUT', url: `/v2/p/manifests/${tag}`, payload: image.body, headers: { 'content-type': image.mediaType } })
    t.equal(put.statusCode, 201)
  }
  for (const name of names) await pushImage(app, name, 'x')
  const sortedTags = [...tags].sort()
  const sortedNames = [...new Set([...names, 'p'])].sort()
  await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 20 }), fc.option(fc.constantFrom(...sortedTags, '', '!', 'a', 'b', '~', 'v1.0.00'), { nil: undefined }), async (n, last) => {
    for (const [url, key, all] of [[`/v2/p/tags/list`, 'tags', sortedTags], ['/v2/_catalog', 'repositories', sortedNames]] as const) {
      let next: string | undefined = `${url}?n=${n}${last === undefined ? '' : `&last=${encodeURIComponent(last)}`}`
      const seen: string[] = []
      for (let pages = 0; next !== undefined; pages++) {
        if (pages > 40) throw new Error(`pagination of ${url} does not end`)
        const page: Awaited<ReturnType<typeof app.inject>> = await app.inject({ method: 'GET', url: next })
        if (page.statusCode !== 200) throw new Error(`${next} answered ${page.statusCode}`)
        const entries = (page.json() as Record<string, string[]>)[key]
        if (entries.length > n) throw new Error(`${next} gave ${entries.length} entries for n=${n}`)
        seen.push(...entries)
        const link: string | string[] | number | undefined = page.headers.link
        next = link === undefined ? undefined : /^<([^>]+)>; rel="next"$/.exec(String(link))?.[1]
        if (link !== undefined && next === undefined) throw new Error(`malformed Link ${String(link)}`)
      }
      const expected = last === undefined ? all : all.filter((entry) => entry > last)
      if (JSON.stringify(seen) !== JSON.stringify(expected)) throw new Error(`${url} n=${n} last=${String(last)}: got ${JSON.stringify(seen)}, expected ${JSON.stringify(expected)}`)
    }
  }), fuzzParameters(t, 60))
})

t.test('conditional GETs: If-None-Match naming the current ETag answers 304 on blobs and manifests, anything else 200', async (t) => {
  const { app } = await buildFuzzRegistry()
  t.teardown(async () => await app.close())
  const world = await seedWorld(app)
  const target = fc.oneof(
    fc.constantFrom(...world.manifests).map((manifest) => ({ url: `/v2/${manifest.name}/manifests/${manifest.tag}`, digest: manifest.digest, manifest: true })),
    fc.constantFrom(...world.blobs).map((blob) => ({ url: `/v2/${blob.name}/blobs/${blob.digest}`, digest: blob.digest, manifest: false }))
  )
  const other = fc.constantFrom<string>('"sha256:0000"', '"x"', 'garbage', '""')
  await fc.assert(fc.asyncProperty(target, fc.array(other, { maxLength: 3 }), fc.boolean(), fc.nat(3), fc.constantFrom('GET', 'HEAD'), async (resource, others, includeCurrent, at, method) => {
    const tags = [...others]
    // The current ETag in any of its matching forms: itself, weak, or `*`.
    const current = [`"${resource.digest}"`, `W/"${resource.digest}"`, '*'][at % 3]
    if (includeCurrent) tags.splice(at % (tags.length + 1), 0, current)
    const answer = await app.inject({ method: method as 'GET', url: resource.url, headers: tags.length === 0 ? {} : { 'if-none-match': tags.join(at % 2 === 0 ? ', ' : ',') } })
    const expected = includeCurrent ? 304 : 200
    if (answer.statusCode !== expected) throw new Error(`${method} ${resource.url} with If-None-Match ${tags.join(', ')}: ${answer.statusCode}, expected ${expected}`)
    if (answer.headers.etag !== `"${resource.digest}"`) throw new Error(`ETag ${String(answer.headers.etag)} for ${resource.digest}`)
    if (expected === 304 && answer.rawPayload.length !== 0) throw new Error('304 with a body')
  }), fuzzParameters(t, 150))
})
