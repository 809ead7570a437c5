import { X509Certificate, type KeyObject } from 'node:crypto'

/** Longest `x5c` chain looked at; real ones are a leaf and an intermediate or two. */
const MAX_CHAIN_LENGTH = 10
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

export class ChainError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ChainError'
  }
}

function isCurrent (certificate: X509Certificate, now: Date): boolean {
  return new Date(certificate.validFrom) <= now && now <= new Date(certificate.validTo)
}

/** Whether `issuer` issued and signed `certificate`. */
function issued (certificate: X509Certificate, issuer: X509Certificate): boolean {
  return certificate.checkIssued(issuer) && certificate.verify(issuer.publicKey)
}

/** Parses a JWS `x5c` header: base64 (not base64url) DER certificates, the signer's first. */
export function parseX5c (x5c: unknown): X509Certificate[] {
  if (!Array.isArray(x5c) || x5c.length === 0) throw new ChainError('x5c is not a non-empty array')
  if (x5c.length > MAX_CHAIN_LENGTH) throw new ChainError(`x5c has more than ${MAX_CHAIN_LENGTH} certificates`)
  return x5c.map((entry, index) => {
    if (typeof entry !== 'string' || !BASE64.test(entry)) throw new ChainError(`x5c[${index}] is not base64`)
    try {
      return new X509Certificate(Buffer.from(entry, 'base64'))
    } catch {
      throw new ChainError(`x5c[${index}] is not an X.509 certificate`)
    }
  })
}

/**
 * Checks that a certificate chain leads to one of `roots`: each certificate
 * current, each issued and signed by the next (intermediates must be CAs), the
 * last issued by a root CA, or the leaf itself one of the roots. Returns the
 * leaf's public key, the only key the token may be verified with.
 */
export function verifyChain (chain: X509Certificate[], roots: readonly X509Certificate[], now: Date = new Date()): KeyObject {
  const leaf = chain[0]
  for (const [index, certificate] of chain.entries()) {
    if (!isCurrent(certificate, now)) throw new ChainError(`x5c[${index}] is not valid at this time`)
  }
  if (roots.some((root) => root.raw.equals(leaf.raw))) return leaf.publicKey

  const unused = chain.slice(1)
  let current = leaf
  for (let depth = 0; depth < chain.length; depth++) {
    const root = roots.find((candidate) => candidate.ca && isCurrent(candidate, now) && issued(current, candidate))
    if (root !== undefined) return leaf.publicKey
    const next = unused.findIndex((candidate) => candidate.ca && issued(current, candidate))
    if (next === -1) break
    current = unused.splice(next, 1)[0]
  }
  throw new ChainError('the x5c chain does not lead to a certificate of the root bundle')
}
