import t from 'tap'
import { createPublicKey, generateKeyPairSync } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { RegistryConfigError } from '../../lib/index.js'
import { DEFAULT_SIGNING_ALGORITHMS } from '../../lib/auth/signing-algorithms.js'
import { jwkThumbprint, libtrustKeyId, TokenKeys, UntrustedKeyError } from '../../lib/auth/token-keys.js'
import { tempDir } from '../helpers/registry.js'
import { ecKeyPair, makeCertificates, publicJwk, rsaKeyPair, x5cEntry } from '../helpers/auth.js'

const certs = await makeCertificates()
t.teardown(certs.cleanup)
const dir = await tempDir()
t.teardown(dir.cleanup)
const rsa = rsaKeyPair()
const ec = ecKeyPair()

async function loadError (options: Parameters<typeof TokenKeys.load>[0], algorithms = DEFAULT_SIGNING_ALGORITHMS): Promise<RegistryConfigError> {
  const error = await TokenKeys.load(options, algorithms).then(() => undefined, (error: unknown) => error)
  if (!(error instanceof RegistryConfigError)) throw new Error(`expected a RegistryConfigError, got ${String(error)}`)
  return error
}

async function writeTemp (name: string, text: string): Promise<string> {
  const path = join(dir.path, name)
  await writeFile(path, text)
  return path
}

t.test('RFC 7638 thumbprints and libtrust key IDs', async (t) => {
  // The RFC's own example key and thumbprint (RFC 7638, section 3.1).
  const example = createPublicKey({
    format: 'jwk',
    key: {
      kty: 'RSA',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      e: 'AQAB'
    }
  })
  t.equal(jwkThumbprint(example), 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs')
  t.equal(jwkThumbprint(ec.publicKey)?.length, 43)
  const id = libtrustKeyId(rsa.publicKey)
  t.match(id, /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/, 'twelve groups of four base32 characters')
  t.equal(libtrustKeyId(createPublicKey(rsa.publicPem)), id, 'stable')
  t.not(libtrustKeyId(ec.publicKey), id)
})

t.test('keys from a JWKS file, inline JWKS, PEMs and the root bundle', async (t) => {
  const jwksPath = await writeTemp('keys.json', JSON.stringify({ keys: [publicJwk(ec, 'ec-1'), publicJwk(rsa, 'rsa-1', { alg: 'RS256', use: 'sig' })] }))
  const keys = await TokenKeys.load({ jwks: jwksPath, publicKeys: { 'pem-1': rsa.publicPem }, rootCertBundle: certs.bundlePath }, DEFAULT_SIGNING_ALGORITHMS)
  t.same(keys.kids.slice(0, 3), ['ec-1', 'rsa-1', 'pem-1'])
  t.ok(keys.kids.includes(jwkThumbprint(certs.root.publicKey) as string), 'the root key by thumbprint')
  t.ok(keys.kids.includes(libtrustKeyId(certs.root.publicKey)), 'the root key by libtrust ID')
  t.equal(keys.roots.length, 1)
  t.equal(keys.resolve({ alg: 'ES256', kid: 'ec-1' }), ec.publicPem)
  t.equal(keys.resolve({ alg: 'PS256', kid: 'pem-1' }), rsa.publicPem)
  t.equal(keys.resolve({ alg: 'RS256', kid: 'rsa-1' }), rsa.publicPem)
  t.throws(() => keys.resolve({ alg: 'PS256', kid: 'rsa-1' }), UntrustedKeyError, 'a JWK with alg verifies that alg only')
  t.equal(keys.resolve({ alg: 'RS256', x5c: [x5cEntry(certs.leaf.certPem), x5cEntry(certs.intermediatePem)] }), certs.leaf.publicPem)
  t.throws(() => keys.resolve({ alg: 'RS256', kid: 'nope' }), /no configured key has kid "nope"/)
  t.throws(() => keys.resolve({ alg: 'RS256' }), /names no key/)
  t.throws(() => keys.resolve({ alg: 'ES256', kid: 'pem-1' }), /does not fit its key/)
  t.throws(() => keys.resolve({ alg: 'RS256', x5c: [x5cEntry(certs.strangerLeaf.certPem)] }), /does not lead to a certificate of the root bundle/)

  const inline = await TokenKeys.load({ jwks: { keys: [publicJwk(ec, 'inline')] } }, DEFAULT_SIGNING_ALGORITHMS)
  t.same(inline.kids, ['inline'])
  t.throws(() => inline.resolve({ alg: 'RS256', x5c: [x5cEntry(certs.leaf.certPem)] }), /no root certificate bundle/)
})

t.test('a bad root bundle stops loading', async (t) => {
  t.match(await loadError({ rootCertBundle: join(dir.path, 'missing.pem') }), { option: 'auth.token.rootCertBundle', message: /ENOENT/ })
  t.match(await loadError({ rootCertBundle: await writeTemp('empty.pem', 'nothing here\n') }), { option: 'auth.token.rootCertBundle', message: /no PEM certificate/ })
  t.match(await loadError({ rootCertBundle: await writeTemp('key-only.pem', rsa.publicPem) }), { option: 'auth.token.rootCertBundle', message: /no PEM certificate/ })
  const broken = '-----BEGIN CERTIFICATE-----\nTm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n'
  t.match(await loadError({ rootCertBundle: await writeTemp('broken.pem', certs.rootPem + broken) }), { option: 'auth.token.rootCertBundle', message: /certificate 2 cannot be parsed/ })
})

t.test('a bad JWKS stops loading', async (t) => {
  t.match(await loadError({ jwks: join(dir.path, 'missing.json') }), { option: 'auth.token.jwks', message: /ENOENT/ })
  t.match(await loadError({ jwks: await writeTemp('bad.json', '{ not json') }), { option: 'auth.token.jwks', message: /not JSON/ })
  t.match(await loadError({ jwks: await writeTemp('array.json', '[]') }), { option: 'auth.token.jwks', message: /not a JSON Web Key Set/ })
  t.match(await loadError({ jwks: { keys: [] } }), { option: 'auth.token.jwks', message: /has no keys/ })
  const { kid: _kid, ...noKid } = publicJwk(ec, 'x')
  t.match(await loadError({ jwks: { keys: [noKid as { kty: string }] } }), { message: /key 1 has no "kid"/ })
  t.match(await loadError({ jwks: { keys: [{ kty: 'oct', kid: 'h', k: 'c2VjcmV0' }] } }), { message: /symmetric key/ })
  t.match(await loadError({ jwks: { keys: [{ ...publicJwk(rsa, 'p'), d: 'AAAA' } as unknown as { kty: string }] } }), { message: /private key material/ })
  t.match(await loadError({ jwks: { keys: [publicJwk(rsa, 'e', { use: 'enc' }) as { kty: string }] } }), { message: /not signatures/ })
  t.match(await loadError({ jwks: { keys: [{ kty: 'EC', crv: 'P-256', kid: 'broken', x: 'AA', y: 'AA' }] } }), { message: /not a usable public key/ })
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' })
  t.match(await loadError({ jwks: { keys: [{ ...weak, kid: 'weak' } as { kty: string }] } }), { message: /\(kid "weak"\) fits no supported algorithm/ }, 'RSA under 2048 bits')
  t.match(await loadError({ jwks: { keys: [publicJwk(rsa, 'mismatch', { alg: 'ES256' }) as { kty: string }] } }), { message: /fits no supported algorithm/ })
  t.match(await loadError({ jwks: { keys: [publicJwk(rsa, 'twice'), publicJwk(ec, 'twice')] as Array<{ kty: string }> } }), { message: /kid "twice", which another configured key already has/ })
})

t.test('bad PEM keys stop loading', async (t) => {
  t.match(await loadError({ publicKeys: { k: 'not a key' } }), { option: 'auth.token.publicKeys.k', message: /not a PEM public key/ })
  t.match(await loadError({ publicKeys: { k: rsa.privatePem } }), { option: 'auth.token.publicKeys.k', message: /private key/ })
  t.match(await loadError({ jwks: { keys: [publicJwk(ec, 'k')] }, publicKeys: { k: rsa.publicPem } }), { option: 'auth.token.publicKeys', message: /already has/ })
  t.match(await loadError({ publicKeys: { k: ec.publicPem } }, ['RS256']), { option: 'auth.token.publicKeys', message: /fits none of the accepted signing algorithms \(RS256\)/ })
})
