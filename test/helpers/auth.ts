// Key material, certificates, tokens and htpasswd entries for the auth tests, made at test time.
import { execFileSync } from 'node:child_process'
import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign as cryptoSign, X509Certificate, type KeyObject } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import bcrypt from 'bcryptjs'
import type { FastifyInstance, FastifyRequest, InjectOptions, LightMyRequestResponse } from 'fastify'
import { pino } from 'pino'
import type { Access } from '../../lib/index.js'

export const REALM = 'https://auth.example.test/token'
export const SERVICE = 'registry.example.test'
export const ISSUER = 'test-token-issuer'

interface Signer { (payload: Record<string, unknown>): string }
const requireHere = createRequire(import.meta.url)
// The same fast-jwt @fastify/jwt ships, as the registry resolves it.
const fastJwt = createRequire(requireHere.resolve('@fastify/jwt'))('fast-jwt') as {
  createSigner: (options: Record<string, unknown>) => Signer
}

export interface KeyPair {
  privatePem: string
  publicPem: string
  publicKey: KeyObject
}

export function rsaKeyPair (): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return { privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), publicKey }
}

export function ecKeyPair (namedCurve = 'P-256'): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve })
  return { privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), publicKey }
}

/** The claims of a token for `access`, valid now, with overrides. */
export function claims (access: Access[], overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  return { iss: ISSUER, aud: SERVICE, sub: 'alice', iat: now, nbf: now - 5, exp: now + 300, jti: randomUUID(), access, ...overrides }
}

/** Signs with fast-jwt's createSigner (through @fastify/jwt), the way a token server on @fastify/jwt would. */
export function signToken (key: KeyPair, payload: Record<string, unknown>, options: { algorithm?: string, kid?: string, x5c?: string[] } = {}): string {
  const header: Record<string, unknown> = {}
  if (options.x5c !== undefined) header.x5c = options.x5c
  const signer = fastJwt.createSigner({
    key: key.privatePem,
    algorithm: options.algorithm ?? (key.publicKey.asymmetricKeyType === 'ec' ? 'ES256' : 'RS256'),
    ...(options.kid === undefined ? {} : { kid: options.kid }),
    header,
    noTimestamp: true
  })
  return signer(payload)
}

function base64url (value: Buffer | string): string {
  return Buffer.from(value).toString('base64url')
}

/** A token put together by hand, for the attacks a signer library refuses to produce. */
export function craftToken (header: Record<string, unknown>, payload: Record<string, unknown>, signature: (input: string) => Buffer): string {
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`
  return `${input}.${base64url(signature(input))}`
}

export const unsigned = (): Buffer => Buffer.alloc(0)
export const hmacWith = (secret: string) => (input: string): Buffer => createHmac('sha256', secret).update(input).digest()
export const rsaWith = (key: KeyPair) => (input: string): Buffer => cryptoSign('sha256', Buffer.from(input), createPrivateKey(key.privatePem))

export function bearer (token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` }
}

export function basic (user: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` }
}

/** An htpasswd line with a bcrypt hash at cost 4 (fast), `$2y$` as `htpasswd -B` writes. */
export function htpasswdLine (user: string, password: string, prefix: '$2y$' | '$2a$' | '$2b$' = '$2y$'): string {
  return `${user}:${bcrypt.hashSync(password, 4).replace(/^\$2b\$/, prefix)}`
}

/** A certificate as an `x5c` entry: base64 of its DER. */
export function x5cEntry (pem: string): string {
  return new X509Certificate(pem).raw.toString('base64')
}

export interface CertificateSet {
  dir: string
  /** The root bundle file: the trusted root only. */
  bundlePath: string
  rootPem: string
  intermediatePem: string
  /** RSA leaf issued by the intermediate; its chain is [leaf, intermediate]. */
  leaf: KeyPair & { certPem: string }
  /** EC leaf issued by the root directly. */
  ecLeaf: KeyPair & { certPem: string }
  /** A leaf under another root that is not in the bundle. */
  strangerLeaf: KeyPair & { certPem: string }
  /** A self-signed CA with the trusted root's name but its own key. */
  impostorRootPem: string
  impostorLeaf: KeyPair & { certPem: string }
  /** The root's key pair, to sign tokens with the root's own key. */
  root: KeyPair
  cleanup: () => Promise<void>
}

function openssl (dir: string, args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new Error('openssl is not on the PATH: the x5c tests need it to make certificates (Debian: apt-get install openssl)')
    throw new Error(`openssl ${args.join(' ')} failed: ${String((error as { stderr?: Buffer }).stderr ?? error)}`)
  }
}

async function makeRoot (dir: string, name: string, subject: string): Promise<{ pem: string, key: KeyPair }> {
  const key = ecKeyPair()
  await writeFile(join(dir, `${name}.key`), key.privatePem)
  openssl(dir, ['req', '-x509', '-new', '-key', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', subject,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  return { pem: await readFile(join(dir, `${name}.pem`), 'utf8'), key }
}

async function issue (dir: string, name: string, key: KeyPair, issuer: string, subject: string, ca: boolean): Promise<string> {
  await writeFile(join(dir, `${name}.key`), key.privatePem)
  await writeFile(join(dir, `${name}.ext`), ca ? 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n' : 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n')
  openssl(dir, ['req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', subject])
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.pem`, '-CAkey', `${issuer}.key`, '-set_serial', String(Math.floor(Math.random() * 1e9)),
    '-days', '1', '-out', `${name}.pem`, '-extfile', `${name}.ext`])
  return await readFile(join(dir, `${name}.pem`), 'utf8')
}

/** A root CA, an intermediate, leaves under them, and a stranger and an impostor chain, made with openssl. */
export async function makeCertificates (): Promise<CertificateSet> {
  const dir = await mkdtemp(join(tmpdir(), 'registry-auth-certs-'))
  const root = await makeRoot(dir, 'root', '/CN=Test Token Root')
  const intermediateKey = ecKeyPair()
  const intermediatePem = await issue(dir, 'intermediate', intermediateKey, 'root', '/CN=Test Token Intermediate', true)
  const leafKey = rsaKeyPair()
  const leafPem = await issue(dir, 'leaf', leafKey, 'intermediate', '/CN=token-signer', false)
  const ecLeafKey = ecKeyPair()
  const ecLeafPem = await issue(dir, 'ecleaf', ecLeafKey, 'root', '/CN=token-signer-ec', false)
  await makeRoot(dir, 'stranger', '/CN=Stranger Root')
  const strangerKey = rsaKeyPair()
  const strangerPem = await issue(dir, 'strangerleaf', strangerKey, 'stranger', '/CN=token-signer', false)
  const impostor = await makeRoot(dir, 'impostor', '/CN=Test Token Root')
  const impostorKey = rsaKeyPair()
  const impostorLeafPem = await issue(dir, 'impostorleaf', impostorKey, 'impostor', '/CN=token-signer', false)
  const bundlePath = join(dir, 'bundle.pem')
  await writeFile(bundlePath, root.pem)
  return {
    dir,
    bundlePath,
    rootPem: root.pem,
    intermediatePem,
    leaf: { ...leafKey, certPem: leafPem },
    ecLeaf: { ...ecLeafKey, certPem: ecLeafPem },
    strangerLeaf: { ...strangerKey, certPem: strangerPem },
    impostorRootPem: impostor.pem,
    impostorLeaf: { ...impostorKey, certPem: impostorLeafPem },
    root: root.key,
    cleanup: async () => { await rm(dir, { recursive: true, force: true }) }
  }
}

/** The public JWK of a key pair, with a kid. */
export function publicJwk (key: KeyPair, kid: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...createPublicKey(key.publicPem).export({ format: 'jwk' }), kid, ...extra }
}

/** Enough of a FastifyRequest for calling an access controller directly. */
export function fakeRequest (headers: Record<string, string> = {}): FastifyRequest {
  return { headers, log: pino({ level: 'silent' }) } as unknown as FastifyRequest
}

/** The parsed error envelope's first entry. */
export function firstError (body: string): { code?: string, message?: string, detail?: unknown } {
  return (JSON.parse(body) as { errors: Array<{ code?: string, message?: string, detail?: unknown }> }).errors[0]
}

/**
 * The app seen through a client that adds `headers` to every request, for the
 * push helpers of test/helpers (which call `app.inject` only).
 */
export function withHeaders (app: FastifyInstance, headers: Record<string, string>): FastifyInstance {
  const inject = async (options: InjectOptions): Promise<LightMyRequestResponse> =>
    await app.inject({ ...options, headers: { ...(options.headers as Record<string, string> | undefined), ...headers } })
  return { inject } as unknown as FastifyInstance
}
