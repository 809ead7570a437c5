import t from 'tap'
import fc from 'fast-check'
import { createHash } from 'node:crypto'
import { createDigester, digestOf, hashing, looksLikeDigest, parseDigest } from '../lib/digest.js'

const HEX64 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
const HEX128 = 'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e'

async function * chunks (...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield part
}

t.test('parseDigest: valid sha256 and sha512', async (t) => {
  t.strictSame(parseDigest(`sha256:${HEX64}`), { algorithm: 'sha256', hex: HEX64, digest: `sha256:${HEX64}` })
  t.strictSame(parseDigest(`sha512:${HEX128}`), { algorithm: 'sha512', hex: HEX128, digest: `sha512:${HEX128}` })
  t.strictSame(parseDigest(`sha256:${'0'.repeat(64)}`)?.hex, '0'.repeat(64))
  t.strictSame(parseDigest(`sha256:${'f'.repeat(64)}`)?.algorithm, 'sha256')
})

t.test('parseDigest: everything else -> undefined', async (t) => {
  const bad = [
    '',
    ':',
    'sha256',
    'sha256:',
    `:${HEX64}`,
    HEX64,
    `sha256${HEX64}`,
    `sha256:${HEX64.slice(1)}`,
    `sha256:${HEX64}0`,
    `sha256:${HEX128}`,
    `sha512:${HEX64}`,
    `sha512:${HEX128.slice(2)}`,
    `sha512:${HEX128}00`,
    `sha256:${HEX64.toUpperCase()}`,
    `sha256:${HEX64.slice(0, 63)}A`,
    `SHA256:${HEX64}`,
    `Sha256:${HEX64}`,
    `sha384:${'a'.repeat(96)}`,
    `md5:${'a'.repeat(32)}`,
    `sha1:${'a'.repeat(40)}`,
    `blake3:${HEX64}`,
    `sha256+b64u:${HEX64}`,
    `sha256:${HEX64.slice(0, 63)}g`,
    `sha256:${HEX64.slice(0, 63)}=`,
    `sha256:${HEX64.slice(0, 62)}-_`,
    `sha256::${HEX64}`,
    `sha256:${HEX64}:`,
    ` sha256:${HEX64}`,
    `sha256:${HEX64} `,
    `sha256:${HEX64}\n`,
    `sha256: ${HEX64.slice(1)}`,
    `sha256:${HEX64.slice(0, 32)}\u0000${HEX64.slice(33)}`,
    `constructor:${HEX64}`,
    `tostring:${HEX64}`,
    `hasownproperty:${HEX64}`,
    `__proto__:${HEX64}`
  ]
  for (const value of bad) t.equal(parseDigest(value), undefined, JSON.stringify(value))
})

t.test('looksLikeDigest: the spec grammar, any algorithm', async (t) => {
  for (const value of [
    `sha256:${HEX64}`,
    `sha512:${HEX128}`,
    'sha256:abc',
    'multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8',
    'sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564',
    'a.b_c-d+e:ABC=_-',
    `blake3:${HEX64}`
  ]) {
    t.equal(looksLikeDigest(value), true, JSON.stringify(value))
  }
  for (const value of ['', ':', 'sha256', 'sha256:', ':abc', 'SHA256:abc', 'sha256:a b', 'sha256:a/b', 'sha256:a:b', '.sha256:abc', 'sha256.:abc', 'sha256..x:abc', 'sha256:abc\n', 'sha256:+']) {
    t.equal(looksLikeDigest(value), false, JSON.stringify(value))
  }
  // every digest parseDigest accepts also looks like one
  fc.assert(fc.property(fc.stringMatching(/^[0-9a-f]{64}$/), (hex) => {
    return parseDigest(`sha256:${hex}`)?.digest === `sha256:${hex}` && looksLikeDigest(`sha256:${hex}`)
  }))
})

t.test('digestOf', async (t) => {
  t.equal(digestOf(new Uint8Array()), `sha256:${HEX64}`, 'sha256 of nothing')
  t.equal(digestOf(new Uint8Array(), 'sha512'), `sha512:${HEX128}`, 'sha512 of nothing')
  t.equal(digestOf(Buffer.from('hello')), 'sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824')
  t.equal(digestOf(Buffer.from('hello'), 'sha256'), digestOf(Buffer.from('hello')), 'sha256 is the default')
  t.equal(digestOf(Buffer.from('hello'), 'sha512'), `sha512:${createHash('sha512').update('hello').digest('hex')}`)
  t.not(digestOf(Buffer.from('hello')), digestOf(Buffer.from('hello ')))
  const bytes = new Uint8Array([0, 1, 2, 255])
  t.equal(digestOf(bytes), `sha256:${createHash('sha256').update(bytes).digest('hex')}`, 'binary content')
  t.ok(parseDigest(digestOf(bytes)), 'the result parses')
  t.ok(parseDigest(digestOf(bytes, 'sha512')), 'the sha512 result parses')
})

t.test('createDigester', async (t) => {
  const sha256 = createDigester('sha256')
  sha256.update('hel')
  sha256.update('lo')
  t.equal(sha256.digest('hex'), '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824')
  t.equal(createDigester('sha512').update('').digest('hex'), HEX128)
})

t.test('hashing: passes every chunk through unchanged and feeds the hash', async (t) => {
  const parts = [Buffer.from('hel'), new Uint8Array(), Buffer.from('lo'), new Uint8Array([0xff])]
  const hash = createDigester('sha256')
  const out: Uint8Array[] = []
  for await (const chunk of hashing(chunks(...parts), hash)) out.push(chunk)
  t.equal(out.length, parts.length, 'same number of chunks, empty ones included')
  for (let i = 0; i < parts.length; i++) t.equal(out[i], parts[i], `chunk ${i} is the same object`)
  t.equal(`sha256:${hash.digest('hex')}`, digestOf(Buffer.concat(parts)), 'hash of the whole stream')
})

t.test('hashing: empty source', async (t) => {
  const hash = createDigester('sha256')
  const out: Uint8Array[] = []
  for await (const chunk of hashing(chunks(), hash)) out.push(chunk)
  t.equal(out.length, 0)
  t.equal(hash.digest('hex'), HEX64)
})

t.test('hashing: feeds the hash as chunks are pulled, not ahead', async (t) => {
  const hash = createDigester('sha256')
  const iterator = hashing(chunks(Buffer.from('a'), Buffer.from('b')), hash)[Symbol.asyncIterator]()
  const first = await iterator.next()
  t.strictSame(Buffer.from(first.value as Uint8Array), Buffer.from('a'))
  t.equal(hash.copy().digest('hex'), createHash('sha256').update('a').digest('hex'), 'only the first chunk hashed so far')
  await iterator.next()
  const done = await iterator.next()
  t.equal(done.done, true)
  t.equal(hash.digest('hex'), createHash('sha256').update('ab').digest('hex'))
})

t.test('hashing: source errors propagate', async (t) => {
  async function * failing (): AsyncGenerator<Uint8Array> {
    yield Buffer.from('a')
    throw new Error('socket closed')
  }
  const out: Uint8Array[] = []
  await t.rejects(async () => {
    for await (const chunk of hashing(failing(), createDigester('sha256'))) out.push(chunk)
  }, { message: 'socket closed' })
  t.equal(out.length, 1, 'the chunk before the error got through')
})

t.test('hashing: stopping early returns the source', async (t) => {
  let finished = false
  async function * source (): AsyncGenerator<Uint8Array> {
    try {
      yield Buffer.from('a')
      yield Buffer.from('b')
    } finally {
      finished = true
    }
  }
  for await (const chunk of hashing(source(), createDigester('sha256'))) {
    t.ok(chunk)
    break
  }
  t.equal(finished, true, 'the source generator was closed')
})
