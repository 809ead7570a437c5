import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { DEFAULT_SIGNING_ALGORITHMS, keyAlgorithms, signingAlgorithmProblem, SUPPORTED_SIGNING_ALGORITHMS } from '../../lib/auth/signing-algorithms.js'

t.test('public-key algorithms only; the default leaves out EdDSA', async (t) => {
  t.notOk(SUPPORTED_SIGNING_ALGORITHMS.some((name) => /^HS|none/i.test(name)))
  t.same([...DEFAULT_SIGNING_ALGORITHMS], ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'])
  for (const name of SUPPORTED_SIGNING_ALGORITHMS) t.equal(signingAlgorithmProblem(name), undefined, name)
  t.match(signingAlgorithmProblem('none'), /never accepted/)
  t.match(signingAlgorithmProblem('NONE'), /never accepted/)
  t.match(signingAlgorithmProblem('HS256'), /HMAC/)
  t.match(signingAlgorithmProblem('rs256'), /not a supported algorithm/, 'names are case-sensitive, as in JWS')
})

t.test('the algorithms each key can verify', async (t) => {
  t.same(keyAlgorithms(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey), ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'])
  t.same(keyAlgorithms(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey), [], 'short RSA keys fit nothing')
  t.same(keyAlgorithms(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey), ['ES256'])
  t.same(keyAlgorithms(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey), ['ES384'])
  t.same(keyAlgorithms(generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey), ['ES512'])
  t.same(keyAlgorithms(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey), [], 'curves JWS does not name fit nothing')
  t.same(keyAlgorithms(generateKeyPairSync('ed25519').publicKey), ['EdDSA'])
  t.same(keyAlgorithms(generateKeyPairSync('x25519').publicKey), [])
})
