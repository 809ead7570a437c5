import { createHash, type Hash } from 'node:crypto'

/** The digest algorithms this registry computes, with the length of their hex encoding. */
const ALGORITHMS = { sha256: 64, sha512: 128 } as const
export type DigestAlgorithm = keyof typeof ALGORITHMS

export interface ParsedDigest {
  algorithm: DigestAlgorithm
  hex: string
  /** The canonical `algorithm:hex` string. */
  digest: string
}

const DIGEST_PATTERN = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/

/** Parses `algorithm:encoded`; undefined for anything that is not a supported, well-formed digest. */
export function parseDigest (value: string): ParsedDigest | undefined {
  const match = DIGEST_PATTERN.exec(value)
  if (match === null) return undefined
  const algorithm = match[1] as DigestAlgorithm
  const hex = match[2]
  if (!Object.hasOwn(ALGORITHMS, algorithm)) return undefined
  if (hex.length !== ALGORITHMS[algorithm] || !/^[a-f0-9]+$/.test(hex)) return undefined
  return { algorithm, hex, digest: value }
}

/** True for any syntactically valid digest, supported algorithm or not (the spec's grammar). */
export function looksLikeDigest (value: string): boolean {
  return DIGEST_PATTERN.test(value)
}

export function createDigester (algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm)
}

/** Digest of a buffer held in memory (manifests). */
export function digestOf (content: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(content).digest('hex')}`
}

/** Passes chunks through unchanged while feeding them to `hash`. */
export async function * hashing (source: AsyncIterable<Uint8Array>, hash: Hash): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    hash.update(chunk)
    yield chunk
  }
}
