/**
 * Upload sessions against a model. Each run is a sequence of actions on one
 * upload — PATCH chunks (right, wrong start, garbage or inverted
 * Content-Range, Content-Length lies, streamed in pieces), status GETs, the
 * final PUT (right, wrong, missing or malformed digest, with or without a
 * last chunk), cancel — each with a `_state` that is the latest, missing,
 * stale, tampered, or another upload's; plus monolithic POSTs with lies.
 *
 * The model says what each answer must be (status and code, in the order
 * the checks apply) and what the upload holds. After every step:
 * - a blob is visible in the repository iff the model committed it, and
 *   then its bytes are exactly the ones sent;
 * - an upload that a lie cut short holds a prefix of what was sent (never
 *   other bytes), and finishing it with the digest of that prefix works;
 * - nothing partial is visible (checkInvariants).
 */
import t from 'tap'
import fc from 'fast-check'
import { startUpload, type LiveUpload } from '../helpers/fuzz-arbitraries.js'
import { assertJudged, buildFuzzRegistry, checkInvariants, describe, digestOf, envelopeCode, fuzzParameters, header, send, unexpectedErrors, type Answer, type FuzzRequest } from '../helpers/fuzz-oracle.js'

type StateChoice = 'latest' | 'none' | 'stale' | 'tampered' | 'other'
type LengthChoice = 'honest' | 'absent' | 'garbage' | number

type Action =
  | { kind: 'patch', bytes: Buffer, range: 'right' | 'none' | 'wrong-start' | 'inverted' | 'garbage', length: LengthChoice, state: StateChoice, pieces: number }
  | { kind: 'status', state: StateChoice }
  | { kind: 'finish', bytes: Buffer | undefined, digest: 'right' | 'right-sha512' | 'wrong' | 'missing' | 'malformed', length: LengthChoice, state: StateChoice }
  | { kind: 'cancel', state: StateChoice }
  | { kind: 'monolithic', bytes: Buffer, digest: 'right' | 'wrong', length: LengthChoice, pieces: number }

const state: fc.Arbitrary<StateChoice> = fc.constantFrom('latest', 'latest', 'latest', 'none', 'stale', 'tampered', 'other')
const length: fc.Arbitrary<LengthChoice> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<LengthChoice>('honest') },
  { weight: 2, arbitrary: fc.constant<LengthChoice>('absent') },
  { weight: 1, arbitrary: fc.constant<LengthChoice>('garbage') },
  { weight: 2, arbitrary: fc.integer({ min: -40, max: 40 }).filter((lie) => lie !== 0) }
)
const bytes = fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 400 }), fc.uint8Array({ minLength: 0, maxLength: 3 })).map((value) => Buffer.from(value))

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('patch' as const), bytes, range: fc.constantFrom('right', 'right', 'none', 'wrong-start', 'inverted', 'garbage'), length, state, pieces: fc.constantFrom(1, 1, 3, 8) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('status' as const), state }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('finish' as const), bytes: fc.option(bytes, { nil: undefined }), digest: fc.constantFrom('right', 'right', 'right-sha512', 'wrong', 'missing', 'malformed'), length, state }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), state }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('monolithic' as const), bytes, digest: fc.constantFrom('right', 'right', 'wrong'), length, pieces: fc.constantFrom(1, 4) }) }
)

interface Model {
  upload: LiveUpload
  alive: boolean
  held: Buffer
  latest: string
  /** Every `_state` handed out, with the offset it carries. */
  states: Array<{ token: string, offset: number }>
  committed: Set<string>
  attempted: Set<string>
}

function tamper (token: string): string {
  const at = Math.floor(token.length / 3)
  return token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1)
}

/** Content-Length and body pieces for a chunk: honest, absent (chunked), garbage, or a lie. */
function withBody (request: FuzzRequest, body: Buffer, choice: LengthChoice, pieces: number): void {
  if (pieces > 1 && body.length >= pieces) {
    const size = Math.ceil(body.length / pieces)
    request.chunks = Array.from({ length: pieces }, (_unused, i) => body.subarray(i * size, (i + 1) * size)).filter((piece) => piece.length > 0)
  } else if (choice === 'absent' && body.length > 0) {
    request.chunks = [body]
  } else {
    request.body = body
  }
  if (choice === 'honest') request.headers['content-length'] = String(body.length)
  else if (choice === 'garbage') request.headers['content-length'] = '12abc'
  else if (typeof choice === 'number') request.headers['content-length'] = String(Math.max(0, body.length + choice))
  else if (request.chunks !== undefined) request.headers['transfer-encoding'] = 'chunked'
}

/** The declared length, when it differs from the real one (a lie the registry must catch). */
function lies (body: Buffer, choice: LengthChoice): boolean {
  return typeof choice === 'number' && Math.max(0, body.length + choice) !== body.length
}

/** The offset a `_state` token carries: base64url(HMAC(32 bytes) || JSON), distribution's wire format. */
function stateOffset (location: string): number {
  const token = new URL(location, 'http://localhost').searchParams.get('_state') ?? ''
  return (JSON.parse(Buffer.from(token, 'base64url').subarray(32).toString('utf8')) as { Offset: number }).Offset
}

interface Expected {
  status: number
  code?: string
  /** Bytes may have been stored before the refusal (a length lie noticed mid-stream): resync from the status. */
  partial?: boolean
}

t.test('upload sessions follow the model; nothing unverified becomes visible', async (t) => {
  const { app, errorLogs } = await buildFuzzRegistry({ delete: { enabled: true } })
  t.teardown(async () => await app.close())
  const name = 'up/load'
  const other = await startUpload(app, 'elsewhere', Buffer.alloc(0))
  let sequences = 0
  let steps = 0
  const outcomes = new Map<string, number>()
  // Blobs are content-addressed and outlive a sequence: what one committed stays visible in the next.
  const committed = new Set<string>()

  await fc.assert(fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 12 }), async (actions) => {
    sequences++
    const upload = await startUpload(app, name, Buffer.alloc(0))
    const model: Model = { upload, alive: true, held: Buffer.alloc(0), latest: upload.state, states: [{ token: upload.state, offset: 0 }], committed, attempted: new Set() }
    const log: string[] = []
    const fail = (problem: string): never => { throw new Error(`${problem}\n  steps:\n    ${log.join('\n    ')}`) }

    const stateQuery = (choice: StateChoice): string | undefined => {
      switch (choice) {
        case 'latest': return model.latest
        case 'none': return undefined
        case 'stale': return model.states[0].token
        case 'tampered': return tamper(model.latest)
        case 'other': return other.state
      }
    }
    const staleOffset = (choice: StateChoice): number | undefined => choice === 'stale' ? model.states[0].offset : choice === 'latest' ? model.held.length : undefined

    for (const step of actions) {
      steps++
      const path = `/v2/${name}/blobs/uploads/${upload.uuid}`
      const request: FuzzRequest = { method: 'GET', url: path, headers: {} }
      const query = new URLSearchParams()
      let expected: Expected
      let body: Buffer = Buffer.alloc(0)
      let digest: string | undefined

      // The checks apply in this order: _state, Content-Range syntax, Content-Length vs range, upload known, offset vs state, start, body length.
      const stateRefusal = (choice: StateChoice): Expected | undefined => {
        if (choice === 'tampered' || choice === 'other') return { status: 400, code: 'BLOB_UPLOAD_INVALID' }
        return undefined
      }
      const storedRefusal = (choice: StateChoice): Expected | undefined => {
        if (!model.alive) return { status: 404, code: 'BLOB_UPLOAD_UNKNOWN' }
        const offset = staleOffset(choice)
        if (offset !== undefined && offset !== model.held.length) return { status: 416, code: 'RANGE_INVALID' }
        return undefined
      }

      switch (step.kind) {
        case 'patch': {
          request.method = 'PATCH'
          body = step.bytes
          withBody(request, body, step.length, step.pieces)
          request.headers['content-type'] = 'application/octet-stream'
          const start = model.held.length
          let rangeLength: number | undefined
          if (step.range === 'right' && body.length > 0) { request.headers['content-range'] = `${start}-${start + body.length - 1}`; rangeLength = body.length }
          if (step.range === 'wrong-start' && body.length > 0) { request.headers['content-range'] = `${start + 1}-${start + body.length}`; rangeLength = body.length }
          if (step.range === 'inverted') request.headers['content-range'] = `${start + 5}-${start}`
          if (step.range === 'garbage') request.headers['content-range'] = `${start}-`
          const token = stateQuery(step.state)
          if (token !== undefined) query.set('_state', token)
          const declared = step.length === 'garbage' ? undefined : typeof step.length === 'number' ? Math.max(0, body.length + step.length) : step.length === 'honest' ? body.length : undefined
          expected = stateRefusal(step.state) ??
            (step.length === 'garbage' ? { status: 400, code: 'SIZE_INVALID' } : undefined) ??
            (step.range === 'inverted' || step.range === 'garbage' ? { status: 416, code: 'RANGE_INVALID' } : undefined) ??
            (rangeLength !== undefined && declared !== undefined && declared !== rangeLength ? { status: 400, code: 'SIZE_INVALID' } : undefined) ??
            storedRefusal(step.state) ??
            (step.range === 'wrong-start' && body.length > 0 ? { status: 416, code: 'RANGE_INVALID' } : undefined) ??
            (lies(body, step.length) ? { status: 400, code: 'SIZE_INVALID', partial: true } : { status: 202 })
          break
        }
        case 'status': {
          const token = stateQuery(step.state)
          if (token !== undefined) query.set('_state', token)
          expected = stateRefusal(step.state) ?? (model.alive ? undefined : { status: 404, code: 'BLOB_UPLOAD_UNKNOWN' }) ?? { status: 204 }
          break
        }
        case 'cancel': {
          request.method = 'DELETE'
          const token = stateQuery(step.state)
          if (token !== undefined) query.set('_state', token)
          expected = stateRefusal(step.state) ?? (model.alive ? undefined : { status: 404, code: 'BLOB_UPLOAD_UNKNOWN' }) ?? { status: 204 }
          break
        }
        case 'finish': {
          request.method = 'PUT'
          body = step.bytes ?? Buffer.alloc(0)
          if (step.bytes !== undefined) {
            withBody(request, body, step.length, 1)
            request.headers['content-type'] = 'application/octet-stream'
          }
          const whole = Buffer.concat([model.held, body])
          digest = step.digest === 'right' ? digestOf(whole) : step.digest === 'right-sha512' ? digestOf(whole, 'sha512') : step.digest === 'wrong' ? digestOf(Buffer.concat([whole, Buffer.from('x')])) : undefined
          if (step.digest === 'malformed') query.set('digest', 'sha256:1234')
          if (digest !== undefined) query.set('digest', digest)
          const token = stateQuery(step.state)
          if (token !== undefined) query.set('_state', token)
          // What the registry takes as this request's body: none when Content-Length says 0.
          const declared = step.length === 'honest' ? body.length : typeof step.length === 'number' ? Math.max(0, body.length + step.length) : undefined
          const withContent = step.bytes !== undefined && (declared === undefined ? step.length === 'absent' && body.length > 0 : declared > 0)
          const intended = digest
          const effective = Buffer.concat([model.held, withContent ? body : Buffer.alloc(0)])
          const matches = intended !== undefined && (intended === digestOf(effective) || intended === digestOf(effective, 'sha512'))
          expected = stateRefusal(step.state) ??
            (digest === undefined ? { status: 400, code: 'DIGEST_INVALID' } : undefined) ??
            (step.bytes !== undefined && step.length === 'garbage' ? { status: 400, code: 'SIZE_INVALID' } : undefined) ??
            storedRefusal(step.state) ??
            (withContent && lies(body, step.length) ? { status: 400, code: 'SIZE_INVALID', partial: true } : undefined) ??
            (matches ? { status: 201 } : { status: 400, code: 'DIGEST_INVALID' })
          if (!withContent) body = Buffer.alloc(0)
          if (digest !== undefined) model.attempted.add(digest)
          break
        }
        case 'monolithic': {
          request.method = 'POST'
          request.url = `/v2/${name}/blobs/uploads/`
          body = step.bytes
          withBody(request, body, step.length, step.pieces)
          request.headers['content-type'] = 'application/octet-stream'
          digest = step.digest === 'right' ? digestOf(body) : digestOf(Buffer.concat([body, Buffer.from('y')]))
          query.set('digest', digest)
          model.attempted.add(digest)
          expected = step.length === 'garbage'
            ? { status: 400, code: 'SIZE_INVALID' }
            : lies(body, step.length) ? { status: 400, code: 'SIZE_INVALID' } : step.digest === 'wrong' ? { status: 400, code: 'DIGEST_INVALID' } : { status: 201 }
          break
        }
      }
      if (query.size > 0) request.url = `${request.url}?${query.toString()}`
      const answer: Answer = await send(app, request)
      const code = answer.status >= 400 ? envelopeCode(answer).code : undefined
      log.push(`${step.kind} ${JSON.stringify({ ...step, bytes: undefined, size: 'bytes' in step ? step.bytes?.length : undefined })} held=${model.held.length} alive=${model.alive} -> ${answer.status} ${code ?? ''}`)
      outcomes.set(`${step.kind} ${answer.status} ${code ?? ''}`, (outcomes.get(`${step.kind} ${answer.status} ${code ?? ''}`) ?? 0) + 1)
      try {
        assertJudged(request, answer, { deleteEnabled: true })
      } catch (error) {
        fail((error as Error).message)
      }
      if (answer.status !== expected.status || code !== expected.code) fail(`expected ${expected.status} ${expected.code ?? ''}, got ${answer.status} ${code ?? ''}: ${answer.body.toString('utf8').slice(0, 200)}\n  request: ${describe(request)}`)

      // Apply the step to the model.
      if (step.kind !== 'monolithic' && model.alive) {
        if (answer.status === 202 || answer.status === 204) {
          if (step.kind === 'patch') model.held = Buffer.concat([model.held, body])
          if (step.kind === 'cancel') model.alive = false
          if (step.kind !== 'cancel') {
            const location = new URL(String(answer.headers.location), 'http://localhost')
            const token = location.searchParams.get('_state') ?? ''
            model.latest = token
            model.states.push({ token, offset: model.held.length })
            const range = header(answer, 'range')
            if (range !== `0-${Math.max(model.held.length - 1, 0)}`) fail(`Range ${range} for an upload holding ${model.held.length} bytes`)
          }
        }
        if (answer.status === 201) {
          model.alive = false
          model.committed.add(digest!)
        }
        if (step.kind === 'finish' && answer.status === 400 && code === 'DIGEST_INVALID' && digest !== undefined) model.alive = false // a mismatch discards the upload
        if (expected.partial === true && answer.status === 400) {
          // Bytes that reached storage before the lie was noticed stay; they must be a prefix of what was sent.
          const status = await app.inject({ method: 'GET', url: path })
          if (status.statusCode !== 204) fail(`status after a cut-short chunk answered ${status.statusCode}`)
          // `Range: 0-0` is both "empty" and "one byte" (as in distribution): the offset in `_state` tells which.
          const kept = stateOffset(String(status.headers.location))
          if (kept < model.held.length || kept > model.held.length + body.length) fail(`after a cut-short chunk the upload holds ${kept} bytes, outside [${model.held.length}, ${model.held.length + body.length}]`)
          model.held = Buffer.concat([model.held, body.subarray(0, kept - model.held.length)])
          model.latest = new URL(String(status.headers.location), 'http://localhost').searchParams.get('_state') ?? ''
          model.states.push({ token: model.latest, offset: model.held.length })
        }
      }
      if (step.kind === 'monolithic' && answer.status === 201) model.committed.add(digest!)

      // Visible iff committed, with exactly the committed bytes.
      for (const candidate of model.attempted) {
        const head = await app.inject({ method: 'HEAD', url: `/v2/${name}/blobs/${candidate}` })
        if ((head.statusCode === 200) !== model.committed.has(candidate)) fail(`${candidate} is ${head.statusCode === 200 ? 'visible but was never committed' : 'not visible but was committed'}`)
      }
      const errors = unexpectedErrors(errorLogs())
      if (errors.length > 0) fail(`unexpected error logged: ${errors[0].slice(0, 500)}`)
    }

    // A held upload (even one a lie cut short) finishes with the digest of exactly what the model says it holds.
    if (model.alive) {
      committed.add(digestOf(model.held))
      const put = await app.inject({ method: 'PUT', url: `/v2/${name}/blobs/uploads/${upload.uuid}?digest=${digestOf(model.held)}` })
      if (put.statusCode !== 201) fail(`finishing with the digest of the ${model.held.length} bytes the model holds answered ${put.statusCode} ${put.body}`)
      const got = await app.inject({ method: 'GET', url: `/v2/${name}/blobs/${digestOf(model.held)}` })
      if (!got.rawPayload.equals(model.held)) fail('the finished blob is not the bytes that were sent')
    }
    await checkInvariants(app, { names: new Set([name]), digests: new Set([...model.attempted, ...model.committed]) })
  }), fuzzParameters(t, 100))
  t.comment(`${sequences} sequences, ${steps} steps`)
  if (process.env.FUZZ_VERBOSE !== undefined) t.comment([...outcomes].sort().map(([key, count]) => `${key}: ${count}`).join('\n'))
  for (const outcome of ['patch 202', 'finish 201', 'patch 400 SIZE_INVALID', 'patch 416 RANGE_INVALID', 'finish 400 DIGEST_INVALID', 'monolithic 201', 'cancel 204']) {
    t.ok([...outcomes.keys()].some((key) => key.startsWith(outcome)), `reached: ${outcome}`)
  }
})
