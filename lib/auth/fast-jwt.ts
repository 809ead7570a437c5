import { createRequire } from 'node:module'

/**
 * fast-jwt, the JWT engine of @fastify/jwt, resolved from @fastify/jwt's own
 * location: @fastify/jwt stays the only JWT dependency and fast-jwt is the
 * exact version it ships with. @fastify/jwt's plugin API decorates a Fastify
 * instance and reads a single key; token auth needs a verifier whose key is
 * chosen per token (`kid`, `x5c`), which fast-jwt's createVerifier offers.
 * Only what this package uses is typed here.
 */

export interface DecodedJwt {
  header: Record<string, unknown>
  payload: Record<string, unknown>
  signature: string
}

export interface VerifierOptions {
  key: (decoded: DecodedJwt) => Promise<string>
  algorithms: string[]
  allowedIss: string[]
  allowedAud: string[]
  requiredClaims: string[]
  /** Milliseconds allowed for clock skew on `exp` and `nbf`. */
  clockTolerance: number
}

export interface TokenErrorLike extends Error {
  code: string
}

interface FastJwt {
  createVerifier: (options: VerifierOptions & { complete: false }) => (token: string) => Promise<Record<string, unknown>>
}

const requireHere = createRequire(import.meta.url)
const fastJwt = createRequire(requireHere.resolve('@fastify/jwt'))('fast-jwt') as FastJwt

/** A verifier resolving to the token's verified payload, or rejecting with a fast-jwt TokenError. */
export function createVerifier (options: VerifierOptions): (token: string) => Promise<Record<string, unknown>> {
  return fastJwt.createVerifier({ ...options, complete: false })
}
