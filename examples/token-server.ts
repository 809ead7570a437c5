#!/usr/bin/env node
/**
 * A small token server for the registry's `token` auth, after the Docker
 * registry token spec (distribution's docs: spec/auth/token.md, jwt.md,
 * scope.md, oauth.md):
 *
 *   node dist/examples/token-server.js --key signing.key --cert signing-chain.pem \
 *     --htpasswd ./htpasswd --acl ./acl.yml --issuer my-token-server --service my-registry
 *
 * `GET /token?service=&scope=&scope=&account=` authenticates with HTTP Basic
 * against a bcrypt htpasswd file (no credentials: anonymous), grants the
 * intersection of the requested scopes and what the ACL allows, and answers a
 * signed JWT. `POST /token` takes the OAuth2 form (`grant_type=password`).
 */
import { createHash, createPrivateKey, createPublicKey, randomBytes, X509Certificate, type KeyObject } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import fastifyJwt from '@fastify/jwt'
import { Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import bcrypt from 'bcryptjs'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import { parse as parseYaml } from 'yaml'
import { basicChallenge } from '../lib/auth/challenge.js'
import { basicCredentials } from '../lib/auth/credentials.js'
import { parseHtpasswd } from '../lib/auth/htpasswd-file.js'
import { isMainModule } from './main-module.js'

/** One ACL rule. Rules add up: an account gets the union of the actions of every rule that matches. */
export interface AclRule {
  /**
   * A user of the htpasswd file; `*` for any authenticated user; `anonymous`
   * for requests without credentials. Rules for `anonymous` apply to everyone.
   */
  account: string
  /** Resource type; default `repository`. The catalog is `{ type: 'registry', name: 'catalog', actions: ['*'] }`. */
  type?: string
  /**
   * Glob over the resource name: `*` matches any run of characters, `/`
   * included (`library/*` covers `library/a/b`). `${account}` stands for the
   * authenticated user's name, for per-user namespaces.
   */
  name: string
  /** `pull`, `push`, `delete`, or `*` for every action. */
  actions: string[]
}

const AclSchema = Type.Array(Type.Object({
  account: Type.String({ minLength: 1 }),
  type: Type.Optional(Type.String({ pattern: '^[a-z0-9]+$' })),
  name: Type.String({ minLength: 1 }),
  actions: Type.Array(Type.Union([Type.Literal('pull'), Type.Literal('push'), Type.Literal('delete'), Type.Literal('*')]), { minItems: 1 })
}, { additionalProperties: false }))

export type SigningAlgorithm = 'RS256' | 'ES256'

export interface TokenServerOptions {
  /** PEM private key (RSA for RS256, P-256 EC for ES256). */
  privateKey: string | Buffer
  /** PEM certificates, the signing key's own first, then its issuers: sent as the `x5c` header. */
  certificates?: string | Buffer
  /** `kid` header when no certificate is configured; default the key's RFC 7638 JWK thumbprint. */
  keyId?: string
  /** Default: RS256 for an RSA key, ES256 for an EC key. */
  algorithm?: SigningAlgorithm
  /** The `iss` claim; the registry's `auth.token.issuer` must name it. */
  issuer: string
  /** The only service (`aud`) tokens are issued for; default: whatever the request names. */
  service?: string
  /** Path of a htpasswd file of bcrypt entries (`htpasswd -B`). */
  htpasswd?: string
  /** Checks a user's password instead of a htpasswd file. */
  authenticate?: (username: string, password: string) => Promise<boolean>
  acl: AclRule[]
  /** Path of the token endpoint, the registry's realm (default `/token`). */
  path?: string
  /** Realm of the `WWW-Authenticate: Basic` challenge on bad credentials. */
  basicRealm?: string
  /** Token lifetime in seconds (default 300; the spec wants at least 60). */
  expiresIn?: number
  logger?: FastifyServerOptions['logger']
}

/** One access record of a scope or of the token's `access` claim. */
export interface ResourceActions {
  type: string
  name: string
  actions: string[]
}

/** A problem in the server's own configuration: names the option. */
export class TokenServerConfigError extends Error {
  readonly option: string
  constructor (option: string, problem: string) {
    super(`token server: option "${option}" ${problem}`)
    this.name = 'TokenServerConfigError'
    this.option = option
  }
}

class TokenRequestError extends Error {
  readonly statusCode: number
  readonly code: string
  constructor (statusCode: number, code: string, message: string) {
    super(message)
    this.statusCode = statusCode
    this.code = code
  }
}

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
const HOST_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
// scope.md: resourcename := [hostname '/'] component ['/' component]*; a hostname may carry a port, hence a ':' inside the name.
const RESOURCE_NAME = new RegExp(`^(?:${HOST_COMPONENT}(?:\\.${HOST_COMPONENT})*(?::[0-9]+)?/)?${COMPONENT}(?:/${COMPONENT})*$`)
const RESOURCE_TYPE = /^([a-z0-9]+)(?:\([a-z0-9]+\))?$/
const ACTION = /^[a-z*]+$/

/**
 * Parses one `type:name:actions` scope. The name may hold a `:` (a port), so
 * the type ends at the first colon and the actions start after the last. A
 * resource class (`repository(plugin)`) is dropped: the spec deprecates it.
 */
export function parseScope (scope: string): ResourceActions {
  const first = scope.indexOf(':')
  const last = scope.lastIndexOf(':')
  const type = RESOURCE_TYPE.exec(scope.slice(0, first))?.[1]
  const name = scope.slice(first + 1, last)
  const actions = scope.slice(last + 1).split(',').filter((action) => action !== '')
  if (first === -1 || first === last || type === undefined || !RESOURCE_NAME.test(name) || !actions.every((action) => ACTION.test(action))) {
    throw new TokenRequestError(400, 'INVALID_SCOPE', `scope ${JSON.stringify(scope)} is not type:name:action[,action]`)
  }
  return { type, name, actions }
}

/** Merges the records of one resource, keeping the first-seen order. */
function mergeScopes (records: ResourceActions[]): ResourceActions[] {
  const merged = new Map<string, ResourceActions>()
  for (const record of records) {
    const key = `${record.type}:${record.name}`
    const entry = merged.get(key) ?? { type: record.type, name: record.name, actions: [] }
    for (const action of record.actions) if (!entry.actions.includes(action)) entry.actions.push(action)
    merged.set(key, entry)
  }
  return [...merged.values()].filter((entry) => entry.actions.length > 0)
}

function globToRegExp (glob: string, account: string | undefined): RegExp | undefined {
  const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  if (glob.includes('${account}') && account === undefined) return undefined
  const parts = glob.split('${account}').map((part) => part.split('*').map(escape).join('.*'))
  return new RegExp(`^${parts.join(escape(account ?? ''))}$`)
}

/** What the ACL lets `account` (undefined: anonymous) do on one resource. */
export function allowedActions (acl: readonly AclRule[], account: string | undefined, type: string, name: string): Set<string> {
  const allowed = new Set<string>()
  for (const rule of acl) {
    const applies = rule.account === 'anonymous' || (account !== undefined && (rule.account === '*' || rule.account === account))
    if (!applies || (rule.type ?? 'repository') !== type) continue
    if (globToRegExp(rule.name, account)?.test(name) !== true) continue
    for (const action of rule.actions) allowed.add(action)
  }
  return allowed
}

/**
 * The intersection of what was asked and what is allowed. A record with
 * nothing granted stays, with no actions (jwt.md: "the intersected set would
 * be empty"). Asking `*` yields every allowed action; only an allowed `*`
 * grants `*` itself.
 */
export function grantAccess (acl: readonly AclRule[], account: string | undefined, requested: ResourceActions[]): ResourceActions[] {
  return mergeScopes(requested).map((record) => {
    const allowed = allowedActions(acl, account, record.type, record.name)
    let actions: string[]
    if (allowed.has('*')) actions = record.actions
    else if (record.actions.includes('*')) actions = [...allowed]
    else actions = record.actions.filter((action) => allowed.has(action))
    return { type: record.type, name: record.name, actions }
  })
}

/** Reads a htpasswd file with the registry's own parser: bcrypt entries only, as distribution. */
async function loadHtpasswd (path: string): Promise<Map<string, string>> {
  try {
    return parseHtpasswd(await readFile(path, 'utf8'))
  } catch (error) {
    throw new TokenServerConfigError('htpasswd', `names ${path}, which cannot be used: ${(error as Error).message}`)
  }
}

function htpasswdAuthenticator (users: Map<string, string>): (username: string, password: string) => Promise<boolean> {
  // Unknown users still cost one bcrypt comparison at the file's cost, so timing does not tell which names exist.
  const cost = Math.max(4, ...[...users.values()].map((hash) => bcrypt.getRounds(hash)))
  const decoy = bcrypt.hashSync(randomBytes(16).toString('hex'), cost)
  return async (username, password) => {
    const hash = users.get(username)
    const matches = await bcrypt.compare(password, hash ?? decoy)
    return hash !== undefined && matches
  }
}

interface SigningSetup {
  key: string
  publicKey: string
  algorithm: SigningAlgorithm
  header: { x5c: string[] } | { kid: string }
}

/** RFC 7638: SHA-256 over the required JWK members in lexicographic order. */
export function jwkThumbprint (publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' })
  const members = jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { e: jwk.e, kty: jwk.kty, n: jwk.n }
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url')
}

function signingSetup (options: TokenServerOptions): SigningSetup {
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey(options.privateKey)
  } catch (error) {
    throw new TokenServerConfigError('privateKey', `is not a PEM private key: ${(error as Error).message}`)
  }
  const keyType = privateKey.asymmetricKeyType
  const curve = privateKey.asymmetricKeyDetails?.namedCurve
  const natural: SigningAlgorithm | undefined = keyType === 'rsa' ? 'RS256' : keyType === 'ec' && curve === 'prime256v1' ? 'ES256' : undefined
  const algorithm = options.algorithm ?? natural
  if (algorithm === undefined || algorithm !== natural) {
    throw new TokenServerConfigError('algorithm', `${String(options.algorithm ?? 'default')} does not fit a ${keyType ?? 'unknown'}${curve === undefined ? '' : ` ${curve}`} key (RS256 needs RSA, ES256 a P-256 EC key)`)
  }
  const publicKey = createPublicKey(privateKey)
  let header: SigningSetup['header']
  if (options.certificates !== undefined) {
    const pems = String(options.certificates).match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []
    if (pems.length === 0) throw new TokenServerConfigError('certificates', 'holds no PEM certificate')
    const chain = pems.map((pem) => new X509Certificate(pem))
    if (!chain[0].checkPrivateKey(privateKey)) throw new TokenServerConfigError('certificates', 'must start with the certificate of the signing key')
    header = { x5c: chain.map((certificate) => certificate.raw.toString('base64')) }
  } else {
    header = { kid: options.keyId ?? jwkThumbprint(publicKey) }
  }
  return {
    key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKey: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    algorithm,
    header
  }
}

/** The Basic credentials of a request; undefined without an Authorization header (anonymous). */
function requestCredentials (header: string | undefined): { username: string, password: string } | undefined {
  if (header === undefined || header.trim() === '') return undefined
  const credentials = basicCredentials(header.trim())
  if (credentials === undefined) throw new TokenRequestError(401, 'UNAUTHORIZED', 'the token server takes HTTP Basic credentials')
  return credentials
}

function asList (value: unknown): string[] {
  if (value === undefined) return []
  return (Array.isArray(value) ? value : [value]).filter((item): item is string => typeof item === 'string')
}

function rfc3339 (seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** The token server; not listening. Rejects with TokenServerConfigError on a bad option. */
export async function buildTokenServer (options: TokenServerOptions): Promise<FastifyInstance> {
  if (typeof options.issuer !== 'string' || options.issuer === '') throw new TokenServerConfigError('issuer', 'must be a non-empty string')
  if (!Value.Check(AclSchema, options.acl)) {
    const first = Value.Errors(AclSchema, options.acl).First()
    throw new TokenServerConfigError(`acl${first?.path.replace(/\//g, '.') ?? ''}`, `is invalid: ${first?.message ?? 'not a list of rules'}`)
  }
  const expiresIn = options.expiresIn ?? 300
  if (!Number.isInteger(expiresIn) || expiresIn < 60) throw new TokenServerConfigError('expiresIn', 'must be a whole number of seconds, at least 60')
  const path = options.path ?? '/token'
  if (!path.startsWith('/')) throw new TokenServerConfigError('path', 'must start with /')
  let authenticate = options.authenticate
  if (authenticate === undefined) {
    if (options.htpasswd === undefined) throw new TokenServerConfigError('htpasswd', 'or authenticate is required')
    authenticate = htpasswdAuthenticator(await loadHtpasswd(options.htpasswd))
  }
  const signing = signingSetup(options)
  const acl = options.acl
  const challenge = basicChallenge(options.basicRealm ?? options.issuer)

  const app = Fastify({ logger: options.logger ?? false })
  await app.register(fastifyJwt, {
    secret: { private: signing.key, public: signing.publicKey },
    sign: { algorithm: signing.algorithm, header: { alg: signing.algorithm, ...signing.header } }
  })

  // The OAuth2 POST form; the body stays a URLSearchParams so repeated fields survive.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_request, body, done) => {
    done(null, new URLSearchParams(String(body)))
  })

  interface Issue { service: string | undefined, scopes: string[], account: string | undefined, user: string | undefined }

  const issue = (request: FastifyRequest, { service, scopes, account, user }: Issue): { token: string, access: ResourceActions[], iat: number } => {
    const audience = service ?? options.service
    if (audience === undefined || audience === '') throw new TokenRequestError(400, 'INVALID_REQUEST', 'service is required')
    if (options.service !== undefined && audience !== options.service) throw new TokenRequestError(400, 'INVALID_REQUEST', `tokens are issued for service ${JSON.stringify(options.service)} only`)
    if (user !== undefined && account !== undefined && account !== '' && account !== user) {
      throw new TokenRequestError(400, 'INVALID_REQUEST', 'account does not match the authenticated user')
    }
    const access = grantAccess(acl, user, scopes.map(parseScope))
    const iat = Math.floor(Date.now() / 1000)
    const token = app.jwt.sign({
      iss: options.issuer,
      // jwt.md: empty when the client did not authenticate.
      sub: user ?? '',
      aud: audience,
      exp: iat + expiresIn,
      nbf: iat,
      iat,
      jti: randomBytes(15).toString('base64url'),
      access
    })
    request.log.info({ sub: user ?? '', aud: audience, access }, 'token issued')
    return { token, access, iat }
  }

  const checkPassword = async (username: string, password: string): Promise<string> => {
    if (await authenticate(username, password)) return username
    throw new TokenRequestError(401, 'UNAUTHORIZED', 'invalid username or password')
  }

  app.get<{ Querystring: Record<string, string | string[] | undefined> }>(path, async (request) => {
    const credentials = requestCredentials(request.headers.authorization)
    const user = credentials === undefined ? undefined : await checkPassword(credentials.username, credentials.password)
    const { token, iat } = issue(request, {
      service: asList(request.query.service)[0],
      // Repeated scope parameters, each possibly a space-separated list; an empty one asks for nothing.
      scopes: asList(request.query.scope).flatMap((scope) => scope.split(' ')).filter((scope) => scope !== ''),
      account: asList(request.query.account)[0],
      user
    })
    return { token, access_token: token, expires_in: expiresIn, issued_at: rfc3339(iat) }
  })

  app.post(path, async (request) => {
    if (!(request.body instanceof URLSearchParams)) throw new TokenRequestError(400, 'INVALID_REQUEST', 'expected an application/x-www-form-urlencoded body')
    const form = request.body
    const grantType = form.get('grant_type')
    if (grantType === 'refresh_token') throw new TokenRequestError(400, 'UNSUPPORTED_GRANT_TYPE', 'refresh tokens are not issued here; use grant_type=password')
    if (grantType !== 'password') throw new TokenRequestError(400, 'UNSUPPORTED_GRANT_TYPE', 'grant_type must be password')
    const username = form.get('username') ?? ''
    const password = form.get('password') ?? ''
    if (username === '' || password === '') throw new TokenRequestError(400, 'INVALID_REQUEST', 'username and password are required')
    const user = await checkPassword(username, password)
    // oauth.md: one scope field holding space-separated scopes.
    const scopes = form.getAll('scope').flatMap((scope) => scope.split(' ')).filter((scope) => scope !== '')
    const { token, access, iat } = issue(request, { service: form.get('service') ?? undefined, scopes, account: undefined, user })
    const scope = access.filter((entry) => entry.actions.length > 0).map((entry) => `${entry.type}:${entry.name}:${entry.actions.join(',')}`).join(' ')
    return { token, access_token: token, expires_in: expiresIn, issued_at: rfc3339(iat), scope }
  })

  // One envelope for every error, distribution's: {"errors":[{"code","message"}]}.
  app.setErrorHandler(async (error: Error & { statusCode?: number, code?: string }, request, reply: FastifyReply) => {
    const known = error instanceof TokenRequestError
    const statusCode = known ? error.statusCode : (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500)
    if (statusCode === 401) reply.header('www-authenticate', challenge)
    if (statusCode >= 500) request.log.error({ err: error }, 'token request failed')
    const code = known ? error.code : statusCode >= 500 ? 'UNKNOWN' : 'INVALID_REQUEST'
    return await reply.status(statusCode).send({ errors: [{ code, message: statusCode >= 500 ? 'internal error' : error.message }] })
  })

  return app
}

/** Reads ACL rules from a YAML or JSON file: a list of rules, or `{ acl: [...] }`. */
export async function loadAcl (file: string): Promise<AclRule[]> {
  const parsed = parseYaml(await readFile(file, 'utf8')) as unknown
  const rules = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && 'acl' in parsed ? (parsed as { acl: unknown }).acl : parsed
  return (rules ?? []) as AclRule[]
}

const USAGE = `Usage: token-server --key <pem> --issuer <name> --htpasswd <file> --acl <file.yml|json>
                    [--cert <pem chain>] [--service <name>] [--path /token]
                    [--expires-in 300] [--host 127.0.0.1] [--port 5001]
Each flag may instead come from the environment: TOKEN_KEY, TOKEN_CERT, TOKEN_ISSUER,
TOKEN_SERVICE, TOKEN_HTPASSWD, TOKEN_ACL, TOKEN_PATH, TOKEN_EXPIRES_IN, HOST, PORT.
`

export interface TokenServerCommand {
  options: TokenServerOptions
  listen: { host: string, port: number }
}

/** The options of the command line and environment; files are read here. */
export async function tokenServerCommand (argv: readonly string[], env: NodeJS.ProcessEnv): Promise<TokenServerCommand> {
  const flags = ['key', 'cert', 'issuer', 'service', 'htpasswd', 'acl', 'path', 'expires-in', 'host', 'port'] as const
  const { values } = parseArgs({ args: [...argv], options: Object.fromEntries(flags.map((flag) => [flag, { type: 'string' }])), strict: true })
  const value = (flag: typeof flags[number], variable: string): string | undefined => (values[flag] as string | undefined) ?? env[variable]
  const key = value('key', 'TOKEN_KEY')
  const issuer = value('issuer', 'TOKEN_ISSUER')
  const acl = value('acl', 'TOKEN_ACL')
  if (key === undefined) throw new TokenServerConfigError('key', 'is required (--key or TOKEN_KEY)')
  if (issuer === undefined) throw new TokenServerConfigError('issuer', 'is required (--issuer or TOKEN_ISSUER)')
  if (acl === undefined) throw new TokenServerConfigError('acl', 'is required (--acl or TOKEN_ACL)')
  const cert = value('cert', 'TOKEN_CERT')
  const service = value('service', 'TOKEN_SERVICE')
  const path = value('path', 'TOKEN_PATH')
  const expiresIn = value('expires-in', 'TOKEN_EXPIRES_IN')
  return {
    options: {
      privateKey: await readFile(key),
      ...(cert === undefined ? {} : { certificates: await readFile(cert) }),
      issuer,
      ...(service === undefined ? {} : { service }),
      htpasswd: value('htpasswd', 'TOKEN_HTPASSWD') ?? './htpasswd',
      acl: await loadAcl(acl),
      ...(path === undefined ? {} : { path }),
      ...(expiresIn === undefined ? {} : { expiresIn: Number(expiresIn) }),
      logger: true
    },
    listen: { host: value('host', 'HOST') ?? '127.0.0.1', port: Number(value('port', 'PORT') ?? 5001) }
  }
}

if (isMainModule(import.meta.url)) {
  const argv = process.argv.slice(2)
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE)
  } else {
    tokenServerCommand(argv, process.env).then(async ({ options, listen }) => {
      const app = await buildTokenServer(options)
      const stop = (): void => { app.close().then(() => process.exit(0), () => process.exit(1)) }
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
      await app.listen(listen)
    }).catch((error: unknown) => {
      process.stderr.write(`token server failed to start: ${(error as Error)?.message ?? String(error)}\n${USAGE}`)
      process.exit(1)
    })
  }
}
