/**
 * The judge of the fuzz suites (test/fuzz): what a registry answer may look
 * like, the storage invariants that must hold after any request, and the
 * plumbing shared by the properties (seeded parameters, a registry whose
 * unexpected-error logs are captured, inject with a timeout).
 *
 * The oracle is written from the spec digest (/work/shared/DESIGN.md), not
 * from the handlers: an error is the JSON envelope with a code of the spec's
 * table whose status matches the code; a success must be one the route and
 * method can give and that the request justified.
 */
import { createHash } from 'node:crypto'
import { Readable, Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { registry, type RegistryOptions } from '../../lib/index.js'
import { matchRoute, type RouteName } from '../../routes/table.js'
import { isValidName, isValidTag } from '../../lib/reference.js'

/** One request, as the fuzzers describe it (inject or raw socket). */
export interface FuzzRequest {
  method: string
  /** Path and query exactly as sent. */
  url: string
  headers: Record<string, string | string[]>
  /** The body; `chunks` makes inject stream it in pieces. */
  body?: Buffer
  chunks?: Buffer[]
}

export interface Answer {
  status: number
  headers: Record<string, string | string[] | number | undefined>
  body: Buffer
}

/**
 * The statuses each code of the spec's table may come with. SIZE_INVALID is
 * 413 for an oversized body; BLOB_UPLOAD_INVALID is 400 or 404 (DESIGN.md).
 * UNSUPPORTED is 405 only: see KNOWN BUG 2 in test/fuzz/README.md (415 for an
 * unparseable Content-Type) — the generators leave that input class out of
 * the strict properties.
 */
export const CODE_STATUSES: Readonly<Record<string, readonly number[]>> = Object.freeze({
  BLOB_UNKNOWN: [404],
  BLOB_UPLOAD_INVALID: [400, 404],
  BLOB_UPLOAD_UNKNOWN: [404],
  DIGEST_INVALID: [400],
  MANIFEST_BLOB_UNKNOWN: [400],
  MANIFEST_INVALID: [400],
  MANIFEST_UNKNOWN: [404],
  NAME_INVALID: [400],
  NAME_UNKNOWN: [404],
  SIZE_INVALID: [400, 413],
  TAG_INVALID: [400],
  UNAUTHORIZED: [401],
  DENIED: [403],
  UNSUPPORTED: [405],
  TOOMANYREQUESTS: [429],
  RANGE_INVALID: [416],
  PAGINATION_NUMBER_INVALID: [400]
})

/** Codes any route may answer (method refused, no access, bad name, no such route). */
const COMMON_CODES = ['NAME_INVALID', 'NAME_UNKNOWN', 'UNSUPPORTED', 'UNAUTHORIZED', 'DENIED', 'TOOMANYREQUESTS']

/** The further codes a route may answer, by route and method. */
const ROUTE_CODES: Record<RouteName, Record<string, string[]>> = {
  base: {},
  catalog: { GET: ['PAGINATION_NUMBER_INVALID'] },
  tags: { GET: ['PAGINATION_NUMBER_INVALID'] },
  manifest: {
    GET: ['DIGEST_INVALID', 'MANIFEST_UNKNOWN'],
    HEAD: ['DIGEST_INVALID', 'MANIFEST_UNKNOWN'],
    PUT: ['DIGEST_INVALID', 'TAG_INVALID', 'MANIFEST_INVALID', 'MANIFEST_BLOB_UNKNOWN', 'SIZE_INVALID'],
    DELETE: ['DIGEST_INVALID', 'MANIFEST_UNKNOWN']
  },
  blob: {
    GET: ['DIGEST_INVALID', 'BLOB_UNKNOWN', 'RANGE_INVALID'],
    HEAD: ['DIGEST_INVALID', 'BLOB_UNKNOWN', 'RANGE_INVALID'],
    DELETE: ['DIGEST_INVALID', 'BLOB_UNKNOWN']
  },
  'blob-upload': { POST: ['DIGEST_INVALID', 'SIZE_INVALID', 'RANGE_INVALID'] },
  'blob-upload-chunk': {
    GET: ['BLOB_UPLOAD_UNKNOWN', 'BLOB_UPLOAD_INVALID', 'RANGE_INVALID'],
    PATCH: ['BLOB_UPLOAD_UNKNOWN', 'BLOB_UPLOAD_INVALID', 'RANGE_INVALID', 'SIZE_INVALID'],
    PUT: ['BLOB_UPLOAD_UNKNOWN', 'BLOB_UPLOAD_INVALID', 'RANGE_INVALID', 'SIZE_INVALID', 'DIGEST_INVALID'],
    DELETE: ['BLOB_UPLOAD_UNKNOWN', 'BLOB_UPLOAD_INVALID', 'RANGE_INVALID']
  },
  referrers: { GET: ['DIGEST_INVALID', 'PAGINATION_NUMBER_INVALID'] }
}

/** The success statuses each route and method can give. */
const SUCCESS_STATUSES: Record<RouteName, Record<string, number[]>> = {
  base: { GET: [200], HEAD: [200] },
  catalog: { GET: [200] },
  tags: { GET: [200] },
  manifest: { GET: [200, 304], HEAD: [200, 304], PUT: [201], DELETE: [202] },
  blob: { GET: [200, 206, 304], HEAD: [200, 206, 304], DELETE: [202] },
  'blob-upload': { POST: [201, 202] },
  'blob-upload-chunk': { GET: [204], PATCH: [202], PUT: [201], DELETE: [204] },
  referrers: { GET: [200] }
}

export function header (answer: Answer, name: string): string | undefined {
  const value = answer.headers[name.toLowerCase()]
  if (value === undefined) return undefined
  return Array.isArray(value) ? value.join(', ') : String(value)
}

export function digestOf (content: Uint8Array, algorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(content).digest('hex')}`
}

/** The path a request addresses below `/v2/`, as the registry sees it (undefined outside `/v2/`). */
export function subpathOf (url: string): string | undefined {
  const path = url.split('?')[0]
  if (path === '/v2') return ''
  return path.startsWith('/v2/') ? path.slice(4) : undefined
}

function parseJson (body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'))
  } catch {
    return undefined
  }
}

/** The error envelope's first code, or a problem. */
export function envelopeCode (answer: Answer): { code?: string, problem?: string } {
  const type = header(answer, 'content-type') ?? ''
  if (!type.startsWith('application/json')) return { problem: `error with Content-Type ${JSON.stringify(type)}` }
  const parsed = parseJson(answer.body) as { errors?: unknown } | undefined
  if (parsed === undefined || typeof parsed !== 'object' || parsed === null) return { problem: 'error body is not JSON' }
  const errors = parsed.errors
  if (!Array.isArray(errors) || errors.length === 0) return { problem: 'error body has no "errors" array' }
  for (const entry of errors) {
    const { code, message } = (entry ?? {}) as { code?: unknown, message?: unknown }
    if (typeof code !== 'string' || typeof message !== 'string') return { problem: 'an error entry lacks code or message' }
  }
  return { code: (errors[0] as { code: string }).code }
}

export interface JudgeOptions {
  deleteEnabled: boolean
  /** The answer is to a HEAD request over a socket: no body at all, not even an error envelope. */
  headOnly?: boolean
}

/**
 * Whether an answer is acceptable for the request: undefined when it is, a
 * description of the problem otherwise. Checks the envelope and code/status
 * consistency of errors, and that a success is one this route and method
 * give and that the request justified (bytes match their digest, a delete
 * only when deletion is on, a created blob only with a digest, ...).
 */
export function judge (request: FuzzRequest, answer: Answer, options: JudgeOptions): string | undefined {
  const method = request.method.toUpperCase()
  if (answer.status >= 500) return `server error ${answer.status}: ${answer.body.toString('utf8').slice(0, 300)}`
  const subpath = subpathOf(request.url)
  // Outside `/v2/` (a name of `..` segments resolved away) the host app answers, not the registry.
  if (subpath === undefined) return answer.status >= 400 && answer.status < 500 ? undefined : `a path outside /v2/ answered ${answer.status}`
  if (header(answer, 'docker-distribution-api-version') !== 'registry/2.0') return 'no Docker-Distribution-API-Version header'
  const match = subpath === undefined ? undefined : matchRoute(subpath)
  if (answer.status >= 400 && options.headOnly === true) {
    // A HEAD answer has no body to carry the envelope: only its status can be checked.
    const statuses = new Set(Object.values(CODE_STATUSES).flat())
    return statuses.has(answer.status) ? undefined : `HEAD answered ${answer.status}, a status no code of the table has`
  }
  if (answer.status >= 400) {
    const { code, problem } = envelopeCode(answer)
    if (problem !== undefined) return `${answer.status}: ${problem}: ${answer.body.toString('utf8').slice(0, 200)}`
    const statuses = CODE_STATUSES[code!]
    if (statuses === undefined) return `${answer.status} with a code outside the spec's table: ${code}`
    if (!statuses.includes(answer.status)) return `${code} answered with status ${answer.status} (expected ${statuses.join('/')})`
    if (match === undefined) return code === 'NAME_UNKNOWN' || code === 'UNSUPPORTED' ? undefined : `no route matches, but answered ${code}`
    const allowed = [...COMMON_CODES, ...(ROUTE_CODES[match.route.name][method] ?? [])]
    if (!allowed.includes(code!)) return `${method} ${match.route.name} answered ${code}, which this route and method never should`
    if (code === 'UNSUPPORTED' && (match.route.methods as readonly string[]).includes(method) && !(method === 'DELETE' && !options.deleteEnabled)) {
      return `UNSUPPORTED for ${method}, a method of ${match.route.name}`
    }
    return undefined
  }
  if (answer.status < 200 || answer.status >= 400) return `unexpected status ${answer.status}`
  if (match === undefined) return `success ${answer.status} on a path no route matches`
  const route = match.route.name
  const statuses = SUCCESS_STATUSES[route][method]
  if (statuses === undefined || !statuses.includes(answer.status)) return `success ${answer.status} for ${method} ${route}, which it never gives`
  if (method === 'DELETE' && !options.deleteEnabled && route !== 'blob-upload-chunk') return `${method} ${route} succeeded with deletion disabled`
  const query = new URLSearchParams(request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '')
  const bodyChecks = method === 'GET' && options.headOnly !== true
  switch (route) {
    case 'manifest': {
      if (method === 'DELETE') return undefined
      const digest = header(answer, 'docker-content-digest')
      if (digest === undefined) return 'manifest answer without Docker-Content-Digest'
      const reference = match.params.reference ?? ''
      if (reference.includes(':') && reference !== digest) return `asked for ${reference}, got Docker-Content-Digest ${digest}`
      const algorithm = digest.slice(0, digest.indexOf(':'))
      if (method === 'PUT') {
        const sent = request.body ?? Buffer.concat(request.chunks ?? [])
        if (digestOf(sent, algorithm) !== digest) return `PUT answered ${digest} for a body whose digest is ${digestOf(sent, algorithm)}`
        const document = parseJson(sent) as Record<string, unknown> | undefined
        if (document === undefined || typeof document !== 'object' || document === null || Array.isArray(document) || document.schemaVersion !== 2) {
          return 'a manifest that is not a JSON object with schemaVersion 2 was accepted'
        }
      }
      if (bodyChecks && answer.status === 200 && digestOf(answer.body, algorithm) !== digest) return `manifest bytes hash to ${digestOf(answer.body, algorithm)}, header says ${digest}`
      return undefined
    }
    case 'blob': {
      const digest = match.params.digest ?? ''
      if (method !== 'DELETE' && header(answer, 'docker-content-digest') !== digest) return `blob answer names ${header(answer, 'docker-content-digest')} for ${digest}`
      if (bodyChecks && answer.status === 200) {
        const algorithm = digest.slice(0, digest.indexOf(':'))
        if (digestOf(answer.body, algorithm) !== digest) return `blob bytes hash to ${digestOf(answer.body, algorithm)}, not ${digest}`
      }
      if (bodyChecks && answer.status === 206) {
        const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header(answer, 'content-range') ?? '')
        if (range === null) return `206 with Content-Range ${header(answer, 'content-range')}`
        if (Number(range[2]) - Number(range[1]) + 1 !== answer.body.length) return '206 body length disagrees with Content-Range'
      }
      return undefined
    }
    case 'blob-upload': {
      if (answer.status === 202) {
        if (header(answer, 'location') === undefined || header(answer, 'docker-upload-uuid') === undefined) return '202 upload without Location or Docker-Upload-UUID'
        return header(answer, 'range') === '0-0' ? undefined : `a new upload with Range ${header(answer, 'range')}`
      }
      const digest = header(answer, 'docker-content-digest')
      const named = query.get('digest') ?? query.get('mount')
      if (digest === undefined || named === null || (digest !== query.get('digest') && digest !== query.get('mount'))) return `201 for ${digest} without a matching digest or mount query`
      if (query.get('mount') !== digest) {
        const sent = request.body ?? Buffer.concat(request.chunks ?? [])
        const algorithm = digest.slice(0, digest.indexOf(':'))
        if (digestOf(sent, algorithm) !== digest) return `monolithic upload of bytes hashing to ${digestOf(sent, algorithm)} created ${digest}`
      }
      return undefined
    }
    case 'blob-upload-chunk': {
      if (method === 'PUT' && header(answer, 'docker-content-digest') !== query.get('digest')) return `upload finished as ${header(answer, 'docker-content-digest')} for digest=${query.get('digest')}`
      if ((method === 'GET' || method === 'PATCH') && !/^0-\d+$/.test(header(answer, 'range') ?? '')) return `upload progress with Range ${header(answer, 'range')}`
      return undefined
    }
    case 'tags':
    case 'catalog':
    case 'referrers': {
      if (!bodyChecks) return undefined
      const parsed = parseJson(answer.body) as Record<string, unknown> | undefined
      if (parsed === undefined) return `${route} answer is not JSON`
      const list = route === 'tags' ? parsed.tags : route === 'catalog' ? parsed.repositories : parsed.manifests
      if (!Array.isArray(list)) return `${route} answer has no list`
      if (route !== 'referrers') {
        const sorted = [...list].sort()
        if (sorted.some((value, index) => value !== list[index])) return `${route} list is not in lexical order`
      }
      if (route === 'tags' && parsed.name !== match.params.name) return `tags list names ${String(parsed.name)} for ${match.params.name}`
      return undefined
    }
    default:
      return undefined
  }
}

/** Throws when the judge finds a problem, with the request in the message so fast-check shows it. */
export function assertJudged (request: FuzzRequest, answer: Answer, options: JudgeOptions): void {
  const problem = judge(request, answer, options)
  if (problem !== undefined) {
    throw new Error(`${problem}\n  request: ${describe(request)}\n  answer: ${answer.status} ${answer.body.toString('utf8').slice(0, 300)}`)
  }
}

export function describe (request: FuzzRequest): string {
  const body = request.body ?? (request.chunks === undefined ? undefined : Buffer.concat(request.chunks))
  const shown = body === undefined ? '' : ` body(${body.length})=${JSON.stringify(body.subarray(0, 120).toString('latin1'))}`
  const headers = JSON.stringify(request.headers, (_key, value: unknown) => typeof value === 'string' && value.length > 120 ? `${value.slice(0, 120)}...(${value.length})` : value)
  return `${request.method} ${request.url.length > 300 ? `${request.url.slice(0, 300)}...(${request.url.length})` : request.url} ${headers}${shown}`
}

/** How many runs a property gets: FUZZ_RUNS_SCALE multiplies the defaults (e.g. 10 for a long soak). */
export function runs (base: number): number {
  const scale = Number(process.env.FUZZ_RUNS_SCALE ?? '1')
  return Math.max(1, Math.round(base * (Number.isFinite(scale) && scale > 0 ? scale : 1)))
}

/**
 * fast-check parameters with a seed that is printed first, so a failing run
 * can be replayed with FUZZ_SEED=<seed> (fast-check also prints seed and path
 * of the counterexample).
 */
export function fuzzParameters (t: Test, base: number): { numRuns: number, seed: number } {
  const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : (Date.now() ^ (Math.random() * 0x100000000)) | 0
  const numRuns = runs(base)
  t.comment(`fast-check seed ${seed}, ${numRuns} runs (replay: FUZZ_SEED=${seed})`)
  return { numRuns, seed }
}

/** A registry (in-memory unless told otherwise) whose error-level logs are kept for the properties to check. */
export async function buildFuzzRegistry (options: RegistryOptions = {}): Promise<{ app: FastifyInstance, errorLogs: () => string[], clearLogs: () => void }> {
  let lines: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString('utf8'))
      callback()
    }
  })
  const app = Fastify({ logger: { level: 'error', stream } })
  await app.register(registry, { storage: { inmemory: {} }, uploadState: { secret: 'fuzz-secret' }, ...options })
  await app.ready()
  return { app, errorLogs: () => lines, clearLogs: () => { lines = [] } }
}

/** app.inject with a deadline: a request the registry never answers is a hang, and fails. */
export async function send (app: FastifyInstance, request: FuzzRequest, timeoutMs = 10_000): Promise<Answer> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`no answer within ${timeoutMs} ms (hang): ${describe(request)}`)) }, timeoutMs)
  })
  const payload = request.chunks !== undefined ? chunkStream(request.chunks) : request.body
  try {
    const response = await Promise.race([
      app.inject({ method: request.method as 'GET', url: request.url, headers: request.headers, ...(payload === undefined ? {} : { payload }) }),
      deadline
    ])
    return { status: response.statusCode, headers: response.headers, body: response.rawPayload }
  } finally {
    clearTimeout(timer)
  }
}

async function * chunkGenerator (chunks: Buffer[]): AsyncGenerator<Buffer> {
  for (const chunk of chunks) yield chunk
}

/** light-my-request accepts a readable stream as payload: the body then arrives in these pieces. */
function chunkStream (chunks: Buffer[]): Readable {
  return Readable.from(chunkGenerator(chunks), { objectMode: false })
}

/** A model of what the registry must hold, checked by {@link checkInvariants}. */
export interface Holdings {
  /** Repositories to look into. */
  names: Set<string>
  /** Digests to probe as blobs in every repository. */
  digests: Set<string>
  /** Only these tags (the ones a request touched) instead of every tag: keeps long runs linear. */
  tags?: Set<string>
}

/**
 * Nothing partial is visible: every tag of every repository resolves to a
 * manifest whose bytes hash to the digest it is served under (GET and HEAD
 * agree), and every blob that HEADs 200 GETs bytes that hash to its digest,
 * with the Content-Length HEAD announced.
 */
export async function checkInvariants (app: FastifyInstance, holdings: Holdings): Promise<void> {
  for (const name of holdings.names) {
    const list = await app.inject({ method: 'GET', url: `/v2/${name}/tags/list` })
    if (list.statusCode === 404) continue
    if (list.statusCode !== 200) throw new Error(`invariant: tags list of ${name} answered ${list.statusCode} ${list.body}`)
    const tags = (list.json() as { tags: string[] }).tags.filter((tag) => holdings.tags === undefined || holdings.tags.has(tag))
    for (const tag of tags) {
      const got = await app.inject({ method: 'GET', url: `/v2/${name}/manifests/${tag}` })
      if (got.statusCode !== 200) throw new Error(`invariant: tag ${name}:${tag} is listed but GET answers ${got.statusCode} ${got.body}`)
      const digest = String(got.headers['docker-content-digest'])
      const algorithm = digest.slice(0, digest.indexOf(':'))
      if (digestOf(got.rawPayload, algorithm) !== digest) throw new Error(`invariant: ${name}:${tag} serves bytes hashing to ${digestOf(got.rawPayload, algorithm)} as ${digest}`)
      const byDigest = await app.inject({ method: 'GET', url: `/v2/${name}/manifests/${digest}` })
      if (byDigest.statusCode !== 200 || !byDigest.rawPayload.equals(got.rawPayload)) throw new Error(`invariant: ${name}@${digest} (tag ${tag}) answers ${byDigest.statusCode} or other bytes`)
      const head = await app.inject({ method: 'HEAD', url: `/v2/${name}/manifests/${tag}` })
      if (head.statusCode !== 200 || head.headers['docker-content-digest'] !== digest || Number(head.headers['content-length']) !== got.rawPayload.length) {
        throw new Error(`invariant: HEAD ${name}:${tag} disagrees with GET (${head.statusCode}, ${String(head.headers['docker-content-digest'])}, ${String(head.headers['content-length'])})`)
      }
    }
    for (const digest of holdings.digests) {
      const head = await app.inject({ method: 'HEAD', url: `/v2/${name}/blobs/${digest}` })
      if (head.statusCode === 404) continue
      if (head.statusCode !== 200) throw new Error(`invariant: HEAD blob ${name}@${digest} answered ${head.statusCode}`)
      const got = await app.inject({ method: 'GET', url: `/v2/${name}/blobs/${digest}` })
      const algorithm = digest.slice(0, digest.indexOf(':'))
      if (got.statusCode !== 200 || digestOf(got.rawPayload, algorithm) !== digest) {
        throw new Error(`invariant: blob ${name}@${digest} HEADs 200 but GET answers ${got.statusCode} with bytes hashing to ${digestOf(got.rawPayload, algorithm)}`)
      }
      if (Number(head.headers['content-length']) !== got.rawPayload.length) throw new Error(`invariant: HEAD blob ${name}@${digest} announces ${String(head.headers['content-length'])} bytes, GET gives ${got.rawPayload.length}`)
    }
  }
}

/** What a tag resolves to (its digest), or undefined when it does not. */
export async function resolveTag (app: FastifyInstance, name: string, tag: string): Promise<string | undefined> {
  const head = await app.inject({ method: 'HEAD', url: `/v2/${name}/manifests/${tag}` })
  return head.statusCode === 200 ? String(head.headers['docker-content-digest']) : undefined
}

/** Error-level log lines: a client going away mid-body is routine and logged below error level. */
export function unexpectedErrors (lines: string[]): string[] {
  return lines
}

// ---------------------------------------------------------------- effects of one request

function queryOf (url: string): URLSearchParams {
  const at = url.indexOf('?')
  return new URLSearchParams(at === -1 ? '' : url.slice(at + 1))
}

export interface Before {
  name: string | undefined
  tags: Map<string, string | undefined>
  manifestVisible: boolean
  blobDigest: string | undefined
  blobVisible: boolean
}

/** What the request could change, looked at before it runs. */
export async function snapshot (app: FastifyInstance, request: FuzzRequest): Promise<Before> {
  const match = matchRoute(subpathOf(request.url) ?? '\u0000')
  const name = match?.params.name !== undefined && isValidName(match.params.name) ? match.params.name : undefined
  const before: Before = { name, tags: new Map(), manifestVisible: false, blobDigest: undefined, blobVisible: false }
  if (name === undefined || match === undefined) return before
  const query = queryOf(request.url)
  if (match.route.name === 'manifest' && request.method === 'PUT') {
    const tags = [...query.getAll('tag'), match.params.reference ?? ''].filter(isValidTag)
    for (const tag of tags) before.tags.set(tag, await resolveTag(app, name, tag))
    const sent = request.body ?? Buffer.concat(request.chunks ?? [])
    before.manifestVisible = (await app.inject({ method: 'HEAD', url: `/v2/${name}/manifests/${digestOf(sent)}` })).statusCode === 200
  }
  const digest = query.get('digest')
  if ((match.route.name === 'blob-upload' || match.route.name === 'blob-upload-chunk') && digest !== null && /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/.test(digest)) {
    before.blobDigest = digest
    before.blobVisible = (await app.inject({ method: 'HEAD', url: `/v2/${name}/blobs/${digest}` })).statusCode === 200
  }
  return before
}

/** The request had its effect and no other. */
export async function checkEffects (app: FastifyInstance, request: FuzzRequest, answer: Answer, before: Before): Promise<void> {
  const match = matchRoute(subpathOf(request.url) ?? '\u0000')
  const name = before.name
  if (match === undefined || name === undefined) return
  const query = queryOf(request.url)
  const fail = (problem: string): never => { throw new Error(`${problem}\n  request: ${describe(request)}\n  answer: ${answer.status} ${answer.body.toString('utf8').slice(0, 300)}`) }
  if (match.route.name === 'manifest' && request.method === 'PUT') {
    if (answer.status === 201) {
      const digest = header(answer, 'docker-content-digest')!
      for (const tag of before.tags.keys()) {
        if (await resolveTag(app, name, tag) !== digest) fail(`after a 201 PUT, tag ${tag} does not resolve to ${digest}`)
      }
      const stored = await app.inject({ method: 'GET', url: `/v2/${name}/manifests/${digest}` })
      const sent = request.body ?? Buffer.concat(request.chunks ?? [])
      if (stored.statusCode !== 200 || !stored.rawPayload.equals(sent)) fail('the stored manifest is not the exact bytes that were PUT')
    } else {
      for (const [tag, digest] of before.tags) {
        const now = await resolveTag(app, name, tag)
        if (now !== digest) fail(`a refused manifest PUT moved tag ${tag} from ${digest} to ${now}`)
      }
      const sent = request.body ?? Buffer.concat(request.chunks ?? [])
      const visible = (await app.inject({ method: 'HEAD', url: `/v2/${name}/manifests/${digestOf(sent)}` })).statusCode === 200
      if (visible !== before.manifestVisible) fail('a refused manifest PUT made its manifest visible')
    }
  }
  if (before.blobDigest !== undefined && answer.status !== 201) {
    const visible = (await app.inject({ method: 'HEAD', url: `/v2/${name}/blobs/${before.blobDigest}` })).statusCode === 200
    if (visible !== before.blobVisible) fail(`a refused blob write changed whether ${before.blobDigest} is visible`)
  }
  if (request.method === 'DELETE' && answer.status === 202) {
    const path = request.url.split('?')[0]
    const after = await app.inject({ method: 'HEAD', url: path })
    if (after.statusCode !== 404) fail(`after a 202 DELETE, HEAD ${path} answers ${after.statusCode}`)
  }
  if (answer.status === 304 && request.headers['if-none-match'] === undefined) fail('304 without If-None-Match')
  if (answer.status === 206 && request.headers.range === undefined) fail('206 without Range')
  if (match.route.name === 'blob-upload' && answer.status === 201 && query.get('mount') === header(answer, 'docker-content-digest') && query.get('digest') === null) {
    const from = query.get('from') ?? ''
    const source = await app.inject({ method: 'HEAD', url: `/v2/${from}/blobs/${query.get('mount') ?? ''}` })
    if (!isValidName(from) || source.statusCode !== 200) fail(`mounted ${query.get('mount')} from ${from}, which does not have it`)
  }
}

