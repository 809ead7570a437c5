import { createHash, createPublicKey, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { RegistryConfigError } from '../config-error.js'
import type { JsonWebKeySet, TokenAuthOptions } from './auth-options.js'
import { keyAlgorithms, type SigningAlgorithm } from './signing-algorithms.js'
import { parseX5c, verifyChain } from './x509-chain.js'

/** A key tokens may be verified with, and the algorithms it can verify. */
export interface TrustedKey {
  key: KeyObject
  /** SPKI PEM, the form the verifier takes. */
  pem: string
  algorithms: SigningAlgorithm[]
}

/** Why a token's header names no key we trust. */
export class UntrustedKeyError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'UntrustedKeyError'
  }
}

function trusted (key: KeyObject, algorithms: SigningAlgorithm[] = keyAlgorithms(key)): TrustedKey {
  return { key, pem: key.export({ type: 'spki', format: 'pem' }).toString(), algorithms }
}

/** The RFC 7638 JWK thumbprint of a public key: what token servers often put in `kid`. */
export function jwkThumbprint (key: KeyObject): string | undefined {
  const jwk = key.export({ format: 'jwk' })
  // The required members in lexicographic order, as the RFC's canonical form wants.
  let members: Record<string, unknown>
  if (jwk.kty === 'RSA') members = { e: jwk.e, kty: jwk.kty, n: jwk.n }
  else if (jwk.kty === 'EC') members = { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
  else if (jwk.kty === 'OKP') members = { crv: jwk.crv, kty: jwk.kty, x: jwk.x }
  else return undefined
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url')
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/**
 * The libtrust key ID of a public key (SHA-256 of its DER SPKI, 240 bits in
 * base32, in groups of four joined by colons): the `kid` of tokens from
 * docker_auth and other servers built on Docker's libtrust.
 */
export function libtrustKeyId (key: KeyObject): string {
  const digest = createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest().subarray(0, 30)
  let bits = ''
  for (const byte of digest) bits += byte.toString(2).padStart(8, '0')
  let encoded = ''
  for (let index = 0; index < bits.length; index += 5) encoded += BASE32[Number.parseInt(bits.slice(index, index + 5), 2)]
  return (encoded.match(/.{4}/g) as string[]).join(':')
}

function describe (error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message
}

async function readText (path: string, option: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    throw new RegistryConfigError(option, `names ${path}, which cannot be read: ${describe(error)}`)
  }
}

async function loadRootCertificates (path: string): Promise<X509Certificate[]> {
  const option = 'auth.token.rootCertBundle'
  const blocks = (await readText(path, option)).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  if (blocks.length === 0) throw new RegistryConfigError(option, `names ${path}, which holds no PEM certificate`)
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block)
    } catch (error) {
      throw new RegistryConfigError(option, `names ${path}, whose certificate ${index + 1} cannot be parsed: ${describe(error)}`)
    }
  })
}

async function loadJwks (jwks: string | JsonWebKeySet): Promise<JsonWebKeySet> {
  if (typeof jwks !== 'string') return jwks
  const text = await readText(jwks, 'auth.token.jwks')
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw new RegistryConfigError('auth.token.jwks', `names ${jwks}, which is not JSON: ${(error as Error).message}`)
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys
  if (!Array.isArray(keys)) throw new RegistryConfigError('auth.token.jwks', `names ${jwks}, which is not a JSON Web Key Set ({ "keys": [...] })`)
  return { keys: keys as JsonWebKey[] }
}

function jwkKey (jwk: JsonWebKey, index: number): { kid: string, key: TrustedKey } {
  const fail = (problem: string): never => { throw new RegistryConfigError('auth.token.jwks', `key ${index + 1} ${problem}`) }
  if (typeof jwk !== 'object' || jwk === null) return fail('is not an object')
  const kid = jwk.kid
  if (typeof kid !== 'string' || kid === '') return fail('has no "kid", so no token could select it')
  if (jwk.kty === 'oct') return fail(`(kid ${JSON.stringify(kid)}) is a symmetric key; only public keys verify tokens`)
  if (jwk.d !== undefined) return fail(`(kid ${JSON.stringify(kid)}) holds private key material; configure the public key set`)
  if (jwk.use !== undefined && jwk.use !== 'sig') return fail(`(kid ${JSON.stringify(kid)}) is for ${JSON.stringify(jwk.use)}, not signatures`)
  let key: KeyObject
  try {
    key = createPublicKey({ key: jwk, format: 'jwk' })
  } catch (error) {
    return fail(`(kid ${JSON.stringify(kid)}) is not a usable public key: ${describe(error)}`)
  }
  // A key that names its algorithm verifies that one only.
  const algorithms = keyAlgorithms(key).filter((algorithm) => jwk.alg === undefined || jwk.alg === algorithm)
  if (algorithms.length === 0) return fail(`(kid ${JSON.stringify(kid)}) fits no supported algorithm${jwk.alg === undefined ? '' : ` (it says ${JSON.stringify(jwk.alg)})`}`)
  return { kid, key: trusted(key, algorithms) }
}

function pemKey (kid: string, pem: string): TrustedKey {
  const option = `auth.token.publicKeys.${kid}`
  if (/PRIVATE KEY-----/.test(pem)) throw new RegistryConfigError(option, 'is a private key; configure the public key')
  let key: KeyObject
  try {
    key = createPublicKey(pem)
  } catch (error) {
    throw new RegistryConfigError(option, `is not a PEM public key: ${describe(error)}`)
  }
  const result = trusted(key)
  if (result.algorithms.length === 0) throw new RegistryConfigError(option, `is a ${key.asymmetricKeyType ?? 'unknown'} key, which fits no supported algorithm`)
  return result
}

/**
 * The keys a token server's tokens are verified with: a root certificate
 * bundle (a token's `x5c` chain must lead to it; its certificates' keys can
 * also be named by `kid`, as an RFC 7638 thumbprint or a libtrust key ID), a
 * JWKS (keys by `kid`) and PEM public keys by `kid`.
 */
export class TokenKeys {
  readonly roots: readonly X509Certificate[]
  readonly #byKid: Map<string, TrustedKey>

  private constructor (roots: X509Certificate[], byKid: Map<string, TrustedKey>) {
    this.roots = roots
    this.#byKid = byKid
  }

  /** Reads and checks every configured key source; throws RegistryConfigError naming the one that is unusable. */
  static async load (options: Pick<TokenAuthOptions, 'rootCertBundle' | 'jwks' | 'publicKeys' | 'signingAlgorithms'>, algorithms: readonly SigningAlgorithm[]): Promise<TokenKeys> {
    const byKid = new Map<string, TrustedKey>()
    const add = (kid: string, key: TrustedKey, option: string): void => {
      if (byKid.has(kid)) throw new RegistryConfigError(option, `has kid ${JSON.stringify(kid)}, which another configured key already has`)
      if (!key.algorithms.some((algorithm) => algorithms.includes(algorithm))) {
        throw new RegistryConfigError(option, `has kid ${JSON.stringify(kid)}, a key that fits none of the accepted signing algorithms (${algorithms.join(', ')})`)
      }
      byKid.set(kid, key)
    }
    if (options.jwks !== undefined) {
      const jwks = await loadJwks(options.jwks)
      if (jwks.keys.length === 0) throw new RegistryConfigError('auth.token.jwks', 'has no keys')
      jwks.keys.forEach((jwk, index) => {
        const { kid, key } = jwkKey(jwk, index)
        add(kid, key, 'auth.token.jwks')
      })
    }
    for (const [kid, pem] of Object.entries(options.publicKeys ?? {})) add(kid, pemKey(kid, pem), 'auth.token.publicKeys')

    const roots = options.rootCertBundle === undefined ? [] : await loadRootCertificates(options.rootCertBundle)
    for (const root of roots) {
      const key = trusted(root.publicKey)
      if (key.algorithms.length === 0) continue
      // Derived names never displace a configured kid.
      for (const kid of [jwkThumbprint(root.publicKey), libtrustKeyId(root.publicKey)]) {
        if (kid !== undefined && !byKid.has(kid)) byKid.set(kid, key)
      }
    }
    return new TokenKeys(roots, byKid)
  }

  /** The `kid`s tokens may name. */
  get kids (): string[] {
    return [...this.#byKid.keys()]
  }

  /**
   * The PEM of the key a token's header names, checked against its `alg`:
   * the leaf of an `x5c` chain that leads to the root bundle, else the key of
   * its `kid`. Throws UntrustedKeyError otherwise.
   */
  resolve (header: Record<string, unknown>, now: Date = new Date()): string {
    const alg = header.alg
    let key: TrustedKey
    if (header.x5c !== undefined) {
      if (this.roots.length === 0) throw new UntrustedKeyError('the token has an x5c chain but no root certificate bundle is configured')
      try {
        key = trusted(verifyChain(parseX5c(header.x5c), this.roots, now))
      } catch (error) {
        throw new UntrustedKeyError((error as Error).message)
      }
    } else if (typeof header.kid === 'string') {
      const found = this.#byKid.get(header.kid)
      if (found === undefined) throw new UntrustedKeyError(`no configured key has kid ${JSON.stringify(header.kid.slice(0, 100))}`)
      key = found
    } else {
      throw new UntrustedKeyError('the token names no key: no x5c and no kid')
    }
    if (typeof alg !== 'string' || !(key.algorithms as string[]).includes(alg)) {
      throw new UntrustedKeyError(`the token's alg ${JSON.stringify(alg)} does not fit its key`)
    }
    return key.pem
  }
}
