import t, { type Test } from 'tap'
import { measured } from '../lib/body.js'
import { RegistryError } from '../errors/index.js'

async function * chunks (...parts: Array<string | Uint8Array>): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield typeof part === 'string' ? Buffer.from(part) : part
}

async function drain (source: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const chunk of source) out.push(chunk)
  return out
}

/** Drains `source`, expecting SIZE_INVALID with `status`; returns what got through first. */
async function expectSizeInvalid (t: Test, source: AsyncIterable<Uint8Array>, status: number, what: string): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  try {
    for await (const chunk of source) out.push(chunk)
    t.fail(`${what}: should fail`)
  } catch (error) {
    t.ok(error instanceof RegistryError, `${what}: RegistryError`)
    t.equal((error as RegistryError).code, 'SIZE_INVALID', `${what}: SIZE_INVALID`)
    t.equal((error as RegistryError).status, status, `${what}: ${status}`)
  }
  return out
}

t.test('passes chunks through unchanged', async (t) => {
  const parts = [Buffer.from('ab'), new Uint8Array(), Buffer.from('cde')]
  const out = await drain(measured(chunks(...parts), {}))
  t.equal(out.length, 3)
  for (let i = 0; i < parts.length; i++) t.equal(out[i], parts[i], `chunk ${i} is the same object`)
  t.strictSame(await drain(measured(chunks(), {})), [], 'empty source')
})

t.test('onBytes sees the running total after each chunk', async (t) => {
  const totals: number[] = []
  await drain(measured(chunks('ab', '', 'cde', 'f'), { onBytes: (total) => totals.push(total) }))
  t.strictSame(totals, [2, 2, 5, 6])
  const none: number[] = []
  await drain(measured(chunks(), { onBytes: (total) => none.push(total) }))
  t.strictSame(none, [], 'no chunks, no calls')
})

t.test('onBytes runs before the chunk is handed on', async (t) => {
  const events: string[] = []
  for await (const chunk of measured(chunks('ab', 'c'), { onBytes: (total) => events.push(`bytes ${total}`) })) {
    events.push(`chunk ${Buffer.from(chunk).toString()}`)
  }
  t.strictSame(events, ['bytes 2', 'chunk ab', 'bytes 3', 'chunk c'])
})

t.test('limit: at the limit passes, past it SIZE_INVALID 413', async (t) => {
  t.equal((await drain(measured(chunks('abc', 'de'), { limit: 5 }))).length, 2, 'exactly the limit')
  t.equal((await drain(measured(chunks(), { limit: 0 }))).length, 0, 'empty body, zero limit')
  const totals: number[] = []
  const got = await expectSizeInvalid(t, measured(chunks('abc', 'def', 'ghi'), { limit: 5, onBytes: (n) => totals.push(n) }), 413, 'limit 5, 9 bytes')
  t.equal(got.length, 1, 'the chunk crossing the limit is not handed on')
  t.strictSame(totals, [3], 'onBytes not called for the chunk crossing the limit')
  await expectSizeInvalid(t, measured(chunks('a'), { limit: 0 }), 413, 'limit 0, 1 byte')
  await expectSizeInvalid(t, measured(chunks('abcdef'), { limit: 5 }), 413, 'one chunk over')
})

t.test('limit: stops reading the source once exceeded', async (t) => {
  let pulled = 0
  let closed = false
  async function * source (): AsyncGenerator<Uint8Array> {
    try {
      for (let i = 0; i < 100; i++) { pulled++; yield Buffer.alloc(10) }
    } finally {
      closed = true
    }
  }
  await expectSizeInvalid(t, measured(source(), { limit: 25 }), 413, 'limit 25')
  t.equal(pulled, 3, 'no chunk pulled after the one crossing the limit')
  t.equal(closed, true, 'the source was closed')
})

t.test('expected: exact length passes', async (t) => {
  t.equal((await drain(measured(chunks('abc', 'de'), { expected: 5 }))).length, 2)
  t.equal((await drain(measured(chunks(), { expected: 0 }))).length, 0, 'empty body, expected 0')
  t.equal((await drain(measured(chunks('', ''), { expected: 0 }))).length, 2, 'empty chunks, expected 0')
})

t.test('expected: a longer body fails with SIZE_INVALID 400 as soon as it is longer', async (t) => {
  let pulled = 0
  async function * source (): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < 10; i++) { pulled++; yield Buffer.from('xy') }
  }
  const got = await expectSizeInvalid(t, measured(source(), { expected: 3 }), 400, 'expected 3, 20 bytes')
  t.equal(got.length, 1, 'only the chunk within the declared length was handed on')
  t.equal(pulled, 2, 'stopped at the chunk that went over')
  await expectSizeInvalid(t, measured(chunks('a'), { expected: 0 }), 400, 'expected 0, 1 byte')
})

t.test('expected: a shorter body fails with SIZE_INVALID 400 at the end', async (t) => {
  const got = await expectSizeInvalid(t, measured(chunks('ab', 'c'), { expected: 5 }), 400, 'expected 5, 3 bytes')
  t.equal(got.length, 2, 'every chunk was handed on before the failure')
  await expectSizeInvalid(t, measured(chunks(), { expected: 1 }), 400, 'expected 1, empty body')
})

t.test('limit and expected together', async (t) => {
  // both exceeded by one chunk: the limit is the stronger refusal
  await expectSizeInvalid(t, measured(chunks('abcdef'), { limit: 4, expected: 3 }), 413, 'over both')
  // over the declared length but within the limit
  await expectSizeInvalid(t, measured(chunks('abcd'), { limit: 10, expected: 3 }), 400, 'over expected only')
  // declared length larger than the limit, body stops short of both
  await expectSizeInvalid(t, measured(chunks('ab'), { limit: 3, expected: 5 }), 400, 'short of both')
  t.equal((await drain(measured(chunks('abc'), { limit: 3, expected: 3 }))).length, 1, 'exactly both')
})

t.test('errors from the source propagate unchanged', async (t) => {
  async function * failing (): AsyncGenerator<Uint8Array> {
    yield Buffer.from('a')
    throw new Error('aborted')
  }
  const totals: number[] = []
  await t.rejects(drain(measured(failing(), { expected: 10, onBytes: (n) => totals.push(n) })), { message: 'aborted' })
  t.strictSame(totals, [1])
})

t.test('the error messages say what went wrong', async (t) => {
  await t.rejects(drain(measured(chunks('abcdef'), { limit: 5 })), { message: /5/ })
  await t.rejects(drain(measured(chunks('ab'), { expected: 5 })), { message: /2.*5/ })
  await t.rejects(drain(measured(chunks('abcdef'), { expected: 5 })), { message: /5/ })
})
