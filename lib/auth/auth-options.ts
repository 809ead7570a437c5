import type { JsonWebKey } from 'node:crypto'
import { Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { RegistryConfigError } from '../config-error.js'
import { signingAlgorithmProblem, type SigningAlgorithm } from './signing-algorithms.js'

/** distribution's `silly`: any `Authorization` header is let in; for tests only. */
export interface SillyAuthOptions {
  /** The token service URL named in the Bearer challenge. */
  realm: string
  service: string
}

/** HTTP Basic against an htpasswd file of bcrypt entries (`htpasswd -B`). */
export interface HtpasswdAuthOptions {
  realm: string
  /** The htpasswd file; read at registration (missing or invalid stops it) and re-read when it changes. */
  path: string
  /**
   * At most this many bcrypt compares at once, each on its own low-priority
   * thread; a credential that needs one over the cap (one not verified
   * recently) is answered 429 with `Retry-After`. Default: the core count,
   * at most 4.
   */
  concurrentCompares?: number
  /** At most this many of them for one client address (an IPv6 /64; capped at `concurrentCompares`); default half of `concurrentCompares`, at least 1. */
  concurrentComparesPerSource?: number
}

/** A JSON Web Key Set: `{ "keys": [ { "kid": ..., "kty": ... } ] }`. */
export interface JsonWebKeySet {
  keys: JsonWebKey[]
}

/** Bearer tokens from a token server, per the Docker registry token specification. */
export interface TokenAuthOptions {
  /** The token server's URL, where clients are sent for a token. */
  realm: string
  /** This registry's name: the challenge's `service`, and what a token's `aud` must contain. */
  service: string
  /** What a token's `iss` must be. */
  issuer: string
  /** Path of a PEM bundle of root certificates; a token's `x5c` chain must lead to one of them. */
  rootCertBundle?: string
  /** A JWKS file's path, or the key set itself; a token's `kid` selects the key. */
  jwks?: string | JsonWebKeySet
  /** PEM public keys by `kid`. */
  publicKeys?: Record<string, string>
  /** Accepted `alg` values; default RS256/384/512, PS256/384/512, ES256/384/512. */
  signingAlgorithms?: SigningAlgorithm[]
}

/** The `auth` option: exactly one access controller type, plus anonymous pull. */
export type AuthOptions = { anonymousPull?: boolean } & (
  | { silly: SillyAuthOptions }
  | { htpasswd: HtpasswdAuthOptions }
  | { token: TokenAuthOptions }
)

export const AUTH_TYPES = ['silly', 'htpasswd', 'token'] as const
export type AuthType = typeof AUTH_TYPES[number]

// Printable ASCII: these values end up in a WWW-Authenticate header.
const HeaderText = Type.String({ minLength: 1, pattern: '^[\\x20-\\x7e]+$' })
const Text = Type.String({ minLength: 1 })

const SillySchema = Type.Object({ realm: HeaderText, service: HeaderText }, { additionalProperties: false })
const CompareCap = Type.Integer({ minimum: 1, maximum: 1024 })
const HtpasswdSchema = Type.Object({
  realm: HeaderText,
  path: Text,
  concurrentCompares: Type.Optional(CompareCap),
  concurrentComparesPerSource: Type.Optional(CompareCap)
}, { additionalProperties: false })
const JwksSchema = Type.Object({ keys: Type.Array(Type.Object({ kty: Type.String() })) })
const TokenSchema = Type.Object({
  realm: HeaderText,
  service: HeaderText,
  issuer: Text,
  rootCertBundle: Type.Optional(Text),
  jwks: Type.Optional(Type.Union([Text, JwksSchema])),
  publicKeys: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Text)),
  signingAlgorithms: Type.Optional(Type.Array(Type.String(), { minItems: 1 }))
}, { additionalProperties: false })

const SCHEMAS = { silly: SillySchema, htpasswd: HtpasswdSchema, token: TokenSchema }

function checkSchema (schema: Parameters<typeof Value.Check>[0], value: unknown, option: string): void {
  if (Value.Check(schema, value)) return
  const first = Value.Errors(schema, value).First()
  const path = first === undefined ? '' : first.path.replace(/\//g, '.')
  throw new RegistryConfigError(`${option}${path}`, first === undefined ? 'is invalid' : `is invalid: ${first.message}`)
}

/** The configured access controller type of an `auth` option. */
export function authType (auth: AuthOptions): AuthType {
  return 'silly' in auth ? 'silly' : 'htpasswd' in auth ? 'htpasswd' : 'token'
}

/**
 * Checks the `auth` option. Anything doubtful throws RegistryConfigError
 * naming the option: a registry never starts open because of a typo here.
 * Key files are read later, when the controller loads.
 */
export function validateAuthOptions (value: unknown): AuthOptions {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RegistryConfigError('auth', `must be an object with one of ${AUTH_TYPES.join(', ')}`)
  }
  const record = value as Record<string, unknown>
  for (const key of Object.keys(record)) {
    if (key !== 'anonymousPull' && !(AUTH_TYPES as readonly string[]).includes(key)) {
      throw new RegistryConfigError(`auth.${key}`, `is not a known access controller type; use one of ${AUTH_TYPES.join(', ')}`)
    }
  }
  const types = AUTH_TYPES.filter((type) => record[type] !== undefined)
  if (types.length === 0) throw new RegistryConfigError('auth', `must configure one of ${AUTH_TYPES.join(', ')}`)
  if (types.length > 1) throw new RegistryConfigError('auth', `configures ${types.join(' and ')}; choose one`)
  if (record.anonymousPull !== undefined && typeof record.anonymousPull !== 'boolean') {
    throw new RegistryConfigError('auth.anonymousPull', 'must be true or false')
  }
  const type = types[0]
  checkSchema(SCHEMAS[type], record[type], `auth.${type}`)
  if (type === 'token') {
    const token = record.token as TokenAuthOptions
    if (token.rootCertBundle === undefined && token.jwks === undefined && token.publicKeys === undefined) {
      throw new RegistryConfigError('auth.token', 'needs a key to verify tokens with: rootCertBundle, jwks or publicKeys')
    }
    if (token.publicKeys !== undefined && Object.keys(token.publicKeys).length === 0) {
      throw new RegistryConfigError('auth.token.publicKeys', 'is empty')
    }
    for (const algorithm of token.signingAlgorithms ?? []) {
      const problem = signingAlgorithmProblem(algorithm)
      if (problem !== undefined) throw new RegistryConfigError('auth.token.signingAlgorithms', problem)
    }
  }
  return value as AuthOptions
}
