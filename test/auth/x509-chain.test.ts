import t from 'tap'
import { X509Certificate } from 'node:crypto'
import { ChainError, parseX5c, verifyChain } from '../../lib/auth/x509-chain.js'
import { makeCertificates, x5cEntry } from '../helpers/auth.js'

const certs = await makeCertificates()
t.teardown(certs.cleanup)
const roots = [new X509Certificate(certs.rootPem)]
const chainOf = (...pems: string[]): X509Certificate[] => parseX5c(pems.map(x5cEntry))

t.test('a chain through an intermediate to a bundled root gives the leaf key', async (t) => {
  const key = verifyChain(chainOf(certs.leaf.certPem, certs.intermediatePem), roots)
  t.ok(key.equals(certs.leaf.publicKey), 'the leaf certificate\'s key')
})

t.test('a leaf issued by the root directly, and the root itself, are trusted', async (t) => {
  t.ok(verifyChain(chainOf(certs.ecLeaf.certPem), roots).equals(certs.ecLeaf.publicKey))
  t.ok(verifyChain(chainOf(certs.rootPem), roots).equals(certs.root.publicKey))
})

t.test('the intermediates may come in any order after the leaf', async (t) => {
  const key = verifyChain(chainOf(certs.leaf.certPem, certs.ecLeaf.certPem, certs.intermediatePem), roots)
  t.ok(key.equals(certs.leaf.publicKey))
})

t.test('chains that do not lead to the bundle are refused', async (t) => {
  t.throws(() => verifyChain(chainOf(certs.strangerLeaf.certPem), roots), ChainError, 'another root')
  t.throws(() => verifyChain(chainOf(certs.impostorLeaf.certPem, certs.impostorRootPem), roots), ChainError, 'a root with the same name but another key')
  t.throws(() => verifyChain(chainOf(certs.leaf.certPem), roots), ChainError, 'the intermediate missing')
  t.throws(() => verifyChain(chainOf(certs.leaf.certPem, certs.intermediatePem), []), ChainError, 'no roots')
  // A leaf (not a CA) cannot stand in for an intermediate.
  t.throws(() => verifyChain(chainOf(certs.strangerLeaf.certPem, certs.ecLeaf.certPem), roots), ChainError)
})

t.test('certificates outside their validity are refused', async (t) => {
  const later = new Date(Date.now() + 10 * 24 * 3600 * 1000)
  t.throws(() => verifyChain(chainOf(certs.leaf.certPem, certs.intermediatePem), roots, later), /not valid at this time/)
  const earlier = new Date(Date.now() - 10 * 24 * 3600 * 1000)
  t.throws(() => verifyChain(chainOf(certs.ecLeaf.certPem), roots, earlier), /not valid at this time/)
})

t.test('malformed x5c headers are refused', async (t) => {
  t.throws(() => parseX5c(undefined), ChainError)
  t.throws(() => parseX5c([]), ChainError)
  t.throws(() => parseX5c('MIIB'), ChainError)
  t.throws(() => parseX5c([42]), /not base64/)
  t.throws(() => parseX5c([Buffer.from(certs.rootPem).toString('base64url').replace(/[-_]/g, 'A') + '-']), /not base64/)
  t.throws(() => parseX5c([Buffer.from('not a certificate').toString('base64')]), /not an X\.509 certificate/)
  t.throws(() => parseX5c(new Array(11).fill(x5cEntry(certs.rootPem))), /more than 10/)
})
