import t, { type Test } from 'tap'
import { parseContentRange, parseRange } from '../../lib/http/ranges.js'
import { RegistryError } from '../../errors/index.js'

/** Asserts `fn` throws RANGE_INVALID (416), and returns the error. */
function rangeInvalid (t: Test, fn: () => unknown, what: string): RegistryError | undefined {
  try {
    fn()
  } catch (error) {
    t.ok(error instanceof RegistryError, `${what}: a RegistryError`)
    const e = error as RegistryError
    t.equal(e.code, 'RANGE_INVALID', `${what}: RANGE_INVALID`)
    t.equal(e.status, 416, `${what}: 416`)
    return e
  }
  t.fail(`${what}: should throw`)
  return undefined
}

t.test('parseContentRange: accepted forms', async (t) => {
  t.strictSame(parseContentRange('0-9'), { start: 0, end: 9 }, 'the spec form')
  t.strictSame(parseContentRange('10-19'), { start: 10, end: 19 })
  t.strictSame(parseContentRange('5-5'), { start: 5, end: 5 }, 'one byte')
  t.strictSame(parseContentRange('0-0'), { start: 0, end: 0 })
  t.strictSame(parseContentRange('bytes 0-9/100'), { start: 0, end: 9 }, 'RFC form with total')
  t.strictSame(parseContentRange('bytes 0-9/*'), { start: 0, end: 9 }, 'RFC form, unknown total')
  t.strictSame(parseContentRange('bytes=0-9'), { start: 0, end: 9 }, 'Range-like form')
  t.strictSame(parseContentRange('bytes 10-19'), { start: 10, end: 19 }, 'RFC form without total')
  t.strictSame(parseContentRange('0-9/100'), { start: 0, end: 9 }, 'total without unit')
  t.strictSame(parseContentRange('  0-9  '), { start: 0, end: 9 }, 'surrounding whitespace')
  t.strictSame(parseContentRange('\t bytes 0-9/10 \t'), { start: 0, end: 9 })
  t.strictSame(parseContentRange('007-010'), { start: 7, end: 10 }, 'leading zeros are decimal')
  t.strictSame(parseContentRange('999999999999999-999999999999999'), { start: 999999999999999, end: 999999999999999 }, '15 digits')
  const r = parseContentRange('1048576-2097151')
  t.equal(typeof r.start, 'number')
  t.equal(r.end - r.start + 1, 1048576, 'inclusive end')
})

t.test('parseContentRange: rejected with RANGE_INVALID 416', async (t) => {
  const bad = [
    '',
    ' ',
    '9-0',
    '10-9',
    '-1-5',
    '0--5',
    '-5',
    '5-',
    '-',
    'a-b',
    '0-9x',
    'x0-9',
    '0 - 9',
    '0-9/',
    '0-9/abc',
    '0-9/-1',
    'bytes',
    'bytes 0-9/100/100',
    'bytes  0-9',
    'bytes:0-9',
    'bits 0-9',
    'bytes0-9',
    '0.5-9',
    '1e3-2e3',
    '0x0-0x9',
    '0-9,10-19',
    '+1-9',
    '１-９',
    '0-9\n10-19',
    '1234567890123456-1234567890123457',
    '0-1234567890123456',
    '0-99999999999999999999999',
    '0-9/1234567890123456'
  ]
  for (const header of bad) rangeInvalid(t, () => parseContentRange(header), JSON.stringify(header))
  const e = rangeInvalid(t, () => parseContentRange('9-0'), 'inverted')
  t.match(e?.message, /9-0/, 'the message names the header')
})

t.test('parseRange: no header or a form answered in full -> undefined', async (t) => {
  t.equal(parseRange(undefined, 100), undefined, 'no header')
  for (const header of [
    '',
    'bytes=',
    'bytes=-',
    'bytes=0-1,3-4',
    'bytes=0-1, 3-4',
    'items=0-9',
    'bytes 0-9',
    'bytes=a-b',
    'bytes=5-3',
    'bytes = 0-9',
    'bytes=0-9x',
    'bytes=--3'
  ]) {
    t.equal(parseRange(header, 100), undefined, JSON.stringify(header))
  }
})

t.test('parseRange: satisfiable ranges', async (t) => {
  t.strictSame(parseRange('bytes=0-', 10), { start: 0, end: 9 }, 'open end')
  t.strictSame(parseRange('bytes=3-', 10), { start: 3, end: 9 })
  t.strictSame(parseRange('bytes=9-', 10), { start: 9, end: 9 }, 'last byte, open end')
  t.strictSame(parseRange('bytes=5-9', 10), { start: 5, end: 9 }, 'closed')
  t.strictSame(parseRange('bytes=0-0', 10), { start: 0, end: 0 }, 'first byte')
  t.strictSame(parseRange('bytes=4-4', 10), { start: 4, end: 4 }, 'one byte')
  t.strictSame(parseRange('bytes=5-100', 10), { start: 5, end: 9 }, 'end beyond size clamped')
  t.strictSame(parseRange('bytes=0-999999999999999', 10), { start: 0, end: 9 }, 'huge end clamped')
  t.strictSame(parseRange('bytes=-3', 10), { start: 7, end: 9 }, 'suffix')
  t.strictSame(parseRange('bytes=-10', 10), { start: 0, end: 9 }, 'suffix of exactly the size')
  t.strictSame(parseRange('bytes=-1000', 10), { start: 0, end: 9 }, 'suffix larger than the size')
  t.strictSame(parseRange('bytes=-1', 1), { start: 0, end: 0 })
  t.strictSame(parseRange(' bytes=1-2 ', 10), { start: 1, end: 2 }, 'surrounding whitespace')
})

t.test('parseRange: unsatisfiable -> RANGE_INVALID with Content-Range: bytes */size', async (t) => {
  const cases: Array<[string, number]> = [
    ['bytes=10-', 10],
    ['bytes=10-20', 10],
    ['bytes=11-', 10],
    ['bytes=100-200', 10],
    ['bytes=0-', 0],
    ['bytes=0-0', 0],
    ['bytes=-5', 0],
    ['bytes=-0', 10],
    ['bytes=-0', 0]
  ]
  for (const [header, size] of cases) {
    const e = rangeInvalid(t, () => parseRange(header, size), `${header} of ${size}`)
    t.strictSame(e?.headers, { 'Content-Range': `bytes */${size}` }, `${header} of ${size}: Content-Range header`)
  }
})
