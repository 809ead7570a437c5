import t, { type Test } from 'tap'
import fc from 'fast-check'
import { createHmac } from 'node:crypto'
import { HmacUploadStateProvider, InvalidUploadStateError } from '../../lib/upload-state/hmac.js'
import type { UploadState } from '../../lib/upload-state/provider.js'

const SECRET = 'a shared secret'

const STATE: UploadState = {
  name: 'library/alpine',
  uuid: '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9',
  offset: 1024,
  startedAt: new Date('2026-11-27T12:00:00.123Z')
}

/** What Go's base64.URLEncoding.EncodeToString does: URL alphabet, padding kept. */
function goURLEncoding (bytes: Buffer): string {
  return bytes.toString('base64').replace(/\+/g, '-').replace(/\//g, '_')
}

/** A token as CNCF distribution builds it: base64.URLEncoding(HMAC-SHA256(secret, json) || json). */
function tokenOf (json: string, secret: string | Buffer = SECRET): string {
  const payload = Buffer.from(json, 'utf8')
  const mac = createHmac('sha256', secret).update(payload).digest()
  return goURLEncoding(Buffer.concat([mac, payload]))
}

function expectInvalid (t: Test, fn: () => unknown, what: string): void {
  t.throws(fn, InvalidUploadStateError, what)
}

t.test('pack: exactly base64url(HMAC-SHA256(secret, json) || json), padded, Go key order', async (t) => {
  const provider = new HmacUploadStateProvider(SECRET)
  const json = '{"Name":"library/alpine","UUID":"0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9","Offset":1024,"StartedAt":"2026-11-27T12:00:00.123Z"}'
  t.equal(provider.pack(STATE), tokenOf(json), 'byte-exact token')
  const raw = Buffer.from(provider.pack(STATE), 'base64')
  t.equal(raw.subarray(32).toString('utf8'), json, 'payload after the 32-byte MAC')
  t.strictSame(Object.keys(JSON.parse(raw.subarray(32).toString('utf8'))), ['Name', 'UUID', 'Offset', 'StartedAt'], 'key order')
  t.strictSame(raw.subarray(0, 32), createHmac('sha256', SECRET).update(json).digest(), 'MAC first')
  t.equal(new HmacUploadStateProvider(Buffer.from(SECRET)).pack(STATE), provider.pack(STATE), 'string and Buffer secrets are the same key')
  t.equal(provider.pack(STATE), provider.pack({ ...STATE }), 'deterministic')
})

t.test('pack: padding and URL alphabet', async (t) => {
  const provider = new HmacUploadStateProvider(SECRET)
  // Find payload lengths giving each padding amount (32-byte MAC + json; length mod 3 decides the padding).
  const seen = new Set<number>()
  for (let length = 1; length <= 3; length++) {
    const state = { ...STATE, name: 'a'.repeat(length) }
    const token = provider.pack(state)
    const json = JSON.stringify({ Name: state.name, UUID: state.uuid, Offset: state.offset, StartedAt: state.startedAt.toISOString() })
    const padding = (3 - ((32 + Buffer.byteLength(json)) % 3)) % 3
    seen.add(padding)
    t.equal(token.length % 4, 0, `name length ${length}: length a multiple of 4`)
    t.match(token, new RegExp(`[^=]${'='.repeat(padding)}$`), `name length ${length}: ${padding} padding characters kept`)
    t.notMatch(token, /[+/]/, 'no + or /')
  }
  t.strictSame([...seen].sort(), [0, 1, 2], 'all three padding cases exercised')
  // a token whose standard base64 has + and /: check both are mapped (searched with a varying offset)
  let found = false
  for (let offset = 0; offset < 2000 && !found; offset++) {
    const std = Buffer.from(provider.pack({ ...STATE, offset }), 'base64url').toString('base64')
    if (std.includes('+') && std.includes('/')) {
      found = true
      const token = provider.pack({ ...STATE, offset })
      t.equal(token, std.replace(/\+/g, '-').replace(/\//g, '_'), 'maps + to - and / to _')
      t.equal(provider.unpack(token).offset, offset)
    }
  }
  t.ok(found, 'found a token with both + and / in standard base64')
})

t.test('round trip', async (t) => {
  const provider = new HmacUploadStateProvider(SECRET)
  t.strictSame(provider.unpack(provider.pack(STATE)), STATE)
  const back = provider.unpack(provider.pack(STATE))
  t.ok(back.startedAt instanceof Date)
  t.equal(back.startedAt.getTime(), STATE.startedAt.getTime())
  t.strictSame(Object.keys(back).sort(), ['name', 'offset', 'startedAt', 'uuid'], 'no extra fields')
  t.strictSame(provider.unpack(provider.pack({ ...STATE, offset: 0 })).offset, 0, 'offset 0')
  t.strictSame(provider.unpack(provider.pack({ ...STATE, offset: Number.MAX_SAFE_INTEGER })).offset, Number.MAX_SAFE_INTEGER, 'largest safe offset')
  t.strictSame(provider.unpack(provider.pack({ ...STATE, name: 'a"b\\c\u0001ü' })).name, 'a"b\\c\u0001ü', 'JSON escaping round-trips')
  fc.assert(fc.property(
    fc.string(), fc.string(), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }),
    (name, uuid, offset, startedAt) => {
      const back = provider.unpack(provider.pack({ name, uuid, offset, startedAt }))
      return back.name === name && back.uuid === uuid && back.offset === offset && back.startedAt.getTime() === startedAt.getTime()
    }
  ))
})

t.test('unpack: a token made the way distribution (Go) makes it', async (t) => {
  const provider = new HmacUploadStateProvider(SECRET)
  const goJSON = '{"Name":"library/alpine","UUID":"0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9","Offset":5242880,"StartedAt":"2026-11-27T12:00:00.123456789Z"}'
  const state = provider.unpack(tokenOf(goJSON))
  t.equal(state.name, 'library/alpine')
  t.equal(state.uuid, '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9')
  t.equal(state.offset, 5242880)
  t.equal(state.startedAt.toISOString(), '2026-11-27T12:00:00.123Z', 'nanoseconds truncated to milliseconds')

  const offsetJSON = '{"Name":"a","UUID":"u","Offset":0,"StartedAt":"2026-11-27T13:00:00.5+01:00"}'
  t.equal(provider.unpack(tokenOf(offsetJSON)).startedAt.toISOString(), '2026-11-27T12:00:00.500Z', 'time zone offset')
  const noFraction = '{"Name":"a","UUID":"u","Offset":0,"StartedAt":"2026-11-27T12:00:00Z"}'
  t.equal(provider.unpack(tokenOf(noFraction)).startedAt.toISOString(), '2026-11-27T12:00:00.000Z', 'no fraction')
  // key order does not matter on the way in, and unknown keys are ignored
  const reordered = '{"StartedAt":"2026-11-27T12:00:00Z","Offset":7,"UUID":"u","Name":"a","Extra":true}'
  t.strictSame(provider.unpack(tokenOf(reordered)), { name: 'a', uuid: 'u', offset: 7, startedAt: new Date('2026-11-27T12:00:00Z') })
  // Go escapes <, >, & as \u003c etc.; JSON.parse reads them back
  const escaped = '{"Name":"a\\u003cb","UUID":"u","Offset":0,"StartedAt":"2026-11-27T12:00:00Z"}'
  t.equal(provider.unpack(tokenOf(escaped)).name, 'a<b')
})

t.test('unpack: tampering and forgery -> InvalidUploadStateError', async (t) => {
  const provider = new HmacUploadStateProvider(SECRET)
  const token = provider.pack(STATE)
  const raw = Buffer.from(token, 'base64url')

  const payloadTampered = Buffer.from(raw)
  payloadTampered[raw.length - 5] ^= 0x01
  expectInvalid(t, () => provider.unpack(goURLEncoding(payloadTampered)), 'payload bit flipped')

  const macTampered = Buffer.from(raw)
  macTampered[0] ^= 0x80
  expectInvalid(t, () => provider.unpack(goURLEncoding(macTampered)), 'MAC bit flipped')

  // a meaningful forgery: bump the offset, keep the old MAC
  const forgedJSON = raw.subarray(32).toString('utf8').replace('"Offset":1024', '"Offset":999999')
  t.not(forgedJSON, raw.subarray(32).toString('utf8'))
  expectInvalid(t, () => provider.unpack(goURLEncoding(Buffer.concat([raw.subarray(0, 32), Buffer.from(forgedJSON)]))), 'offset forged with the old MAC')

  expectInvalid(t, () => new HmacUploadStateProvider('other secret').unpack(token), 'other secret')
  expectInvalid(t, () => provider.unpack(tokenOf('{"Name":"a","UUID":"u","Offset":0,"StartedAt":"2026-11-27T12:00:00Z"}', 'other secret')), 'signed with another secret')
  expectInvalid(t, () => provider.unpack(token.slice(0, -4)), 'truncated at the end')
  expectInvalid(t, () => provider.unpack(token.slice(4)), 'truncated at the start')
  expectInvalid(t, () => provider.unpack(goURLEncoding(raw.subarray(0, 32))), 'MAC only')
  expectInvalid(t, () => provider.unpack(goURLEncoding(raw.subarray(0, 31))), 'less than a MAC')
  expectInvalid(t, () => provider.unpack(goURLEncoding(Buffer.concat([raw, Buffer.from(' ')]))), 'extra byte appended')
  expectInvalid(t, () => provider.unpack(''), 'empty')
  expectInvalid(t, () => provider.unpack('='), 'padding only')
  expectInvalid(t, () => provider.unpack('!!!!'), 'not base64')
  expectInvalid(t, () => provider.unpack(token.replace(/-/g, '+').replace(/_/g, '/') + '+/'), 'standard alphabet characters')
  expectInvalid(t, () => provider.unpack(`${token} `), 'trailing space')
  expectInvalid(t, () => provider.unpack(` ${token}`), 'leading space')
  expectInvalid(t, () => provider.unpack(`${token}\n`), 'trailing newline')
  expectInvalid(t, () => provider.unpack(`${token.slice(0, 10)}=${token.slice(10)}`), 'padding in the middle')
  expectInvalid(t, () => provider.unpack(`${token.replace(/=+$/, '')}===`), 'three padding characters')
  expectInvalid(t, () => provider.unpack(encodeURIComponent(token).replace(/=/g, '%3D') + '%3D'), 'percent-encoded token')
})

t.test('unpack: a valid MAC over a bad payload -> InvalidUploadStateError', async (t) => {
  const provider = new HmacUploadStateProvider(SECRET)
  const good = { Name: 'a', UUID: 'u', Offset: 0, StartedAt: '2026-11-27T12:00:00Z' }
  const bad: Array<[string, string]> = [
    ['not json', 'not JSON'],
    ['{"Name":"a"', 'truncated JSON'],
    ['null', 'null'],
    ['"string"', 'a string'],
    ['42', 'a number'],
    ['true', 'a boolean'],
    ['[]', 'an array'],
    ['["a","u",0,"2026-11-27T12:00:00Z"]', 'an array of the values'],
    ['{}', 'an empty object'],
    [JSON.stringify({ ...good, Name: 1 }), 'Name a number'],
    [JSON.stringify({ ...good, Name: null }), 'Name null'],
    [JSON.stringify({ ...good, UUID: ['u'] }), 'UUID an array'],
    [JSON.stringify({ UUID: 'u', Offset: 0, StartedAt: good.StartedAt }), 'Name missing'],
    [JSON.stringify({ Name: 'a', Offset: 0, StartedAt: good.StartedAt }), 'UUID missing'],
    [JSON.stringify({ Name: 'a', UUID: 'u', StartedAt: good.StartedAt }), 'Offset missing'],
    [JSON.stringify({ ...good, Offset: '0' }), 'Offset a string'],
    [JSON.stringify({ ...good, Offset: -1 }), 'Offset negative'],
    [JSON.stringify({ ...good, Offset: 1.5 }), 'Offset fractional'],
    [JSON.stringify({ ...good, Offset: null }), 'Offset null'],
    ['{"Name":"a","UUID":"u","Offset":1e300,"StartedAt":"2026-11-27T12:00:00Z"}', 'Offset beyond safe integers'],
    ['{"Name":"a","UUID":"u","Offset":9007199254740993,"StartedAt":"2026-11-27T12:00:00Z"}', 'Offset 2^53+1'],
    [JSON.stringify({ Name: 'a', UUID: 'u', Offset: 0 }), 'StartedAt missing'],
    [JSON.stringify({ ...good, StartedAt: 'yesterday' }), 'StartedAt not a date'],
    [JSON.stringify({ ...good, StartedAt: '' }), 'StartedAt empty'],
    [JSON.stringify({ ...good, StartedAt: 1700000000000 }), 'StartedAt a number'],
    [JSON.stringify({ ...good, StartedAt: null }), 'StartedAt null'],
    [JSON.stringify({ name: 'a', uuid: 'u', offset: 0, startedAt: good.StartedAt }), 'lower-case keys']
  ]
  for (const [json, what] of bad) expectInvalid(t, () => provider.unpack(tokenOf(json)), what)
  // sanity: the good payload signed the same way is accepted
  t.equal(provider.unpack(tokenOf(JSON.stringify(good))).name, 'a')
})

t.test('InvalidUploadStateError', async (t) => {
  const provider = new HmacUploadStateProvider(SECRET)
  try {
    provider.unpack('AAAA')
    t.fail('should throw')
  } catch (error) {
    t.ok(error instanceof InvalidUploadStateError)
    t.ok(error instanceof Error)
    t.equal((error as Error).name, 'InvalidUploadStateError')
    t.match((error as Error).message, /^invalid upload state: /)
  }
})

t.test('secrets', async (t) => {
  t.throws(() => new HmacUploadStateProvider(''), TypeError, 'empty string secret')
  t.throws(() => new HmacUploadStateProvider(Buffer.alloc(0)), TypeError, 'empty Buffer secret')
  t.doesNotThrow(() => new HmacUploadStateProvider('x'), 'one character is enough')

  // the Buffer is copied: changing it afterwards does not change the key
  const secret = Buffer.from(SECRET)
  const provider = new HmacUploadStateProvider(secret)
  const token = provider.pack(STATE)
  secret.fill(0)
  t.strictSame(provider.unpack(token), STATE, 'secret Buffer copied at construction')
  t.equal(provider.pack(STATE), new HmacUploadStateProvider(SECRET).pack(STATE))

  const a = HmacUploadStateProvider.random()
  const b = HmacUploadStateProvider.random()
  t.ok(a instanceof HmacUploadStateProvider)
  t.strictSame(a.unpack(a.pack(STATE)), STATE, 'a random provider reads its own tokens')
  expectInvalid(t, () => b.unpack(a.pack(STATE)), 'random providers reject each other (a -> b)')
  expectInvalid(t, () => a.unpack(b.pack(STATE)), 'random providers reject each other (b -> a)')
  t.not(a.pack(STATE), b.pack(STATE), 'different keys, different tokens')
  expectInvalid(t, () => a.unpack(new HmacUploadStateProvider(SECRET).pack(STATE)), 'random rejects a fixed-secret token')
})
