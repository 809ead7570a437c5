import type { KeyObject } from 'node:crypto'

/**
 * The JWS algorithms a token may be signed with. Only public-key algorithms:
 * the registry holds public keys, and an HMAC algorithm would let anyone who
 * has one sign tokens (algorithm confusion). `none` is never accepted.
 */
export const SUPPORTED_SIGNING_ALGORITHMS = Object.freeze([
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA'
] as const)

export type SigningAlgorithm = typeof SUPPORTED_SIGNING_ALGORITHMS[number]

/** Used when `signingAlgorithms` is not configured: RSA (PKCS#1 v1.5 and PSS) and ECDSA, as token servers issue. */
export const DEFAULT_SIGNING_ALGORITHMS: readonly SigningAlgorithm[] = Object.freeze([
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512'
])

export function isSigningAlgorithm (value: unknown): value is SigningAlgorithm {
  return typeof value === 'string' && (SUPPORTED_SIGNING_ALGORITHMS as readonly string[]).includes(value)
}

/** Why a configured algorithm name is refused, or undefined when it is usable. */
export function signingAlgorithmProblem (name: string): string | undefined {
  if (isSigningAlgorithm(name)) return undefined
  if (name.toLowerCase() === 'none') return 'has "none": unsigned tokens are never accepted'
  if (/^HS\d+$/i.test(name)) return `has ${JSON.stringify(name)}: HMAC algorithms are refused, since anyone holding the verification key could sign tokens; use a public-key algorithm`
  return `has ${JSON.stringify(name)}, which is not a supported algorithm (${SUPPORTED_SIGNING_ALGORITHMS.join(', ')})`
}

const EC_CURVES: Record<string, SigningAlgorithm> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }

/** RSA keys shorter than this are refused (RFC 7518 section 3.3 asks for at least 2048 bits). */
export const MIN_RSA_BITS = 2048

/** The algorithms a public key can verify; empty for a key type (or an RSA key size) tokens cannot use. */
export function keyAlgorithms (key: KeyObject): SigningAlgorithm[] {
  switch (key.asymmetricKeyType) {
    case 'rsa': return (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS ? [] : ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve
      const algorithm = curve === undefined ? undefined : EC_CURVES[curve]
      return algorithm === undefined ? [] : [algorithm]
    }
    case 'ed25519':
    case 'ed448': return ['EdDSA']
    default: return []
  }
}
