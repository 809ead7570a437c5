import t from 'tap'
import { createPublicKey, generateKeyPairSync, verify, X509Certificate, type KeyObject } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import bcrypt from 'bcryptjs'
import type { FastifyInstance } from 'fastify'
import {
  buildTokenServer, grantAccess, jwkThumbprint, parseScope, tokenServerCommand,
  TokenServerConfigError, type AclRule, type TokenServerOptions
} from '../../examples/token-server.js'
import { tempDir } from '../helpers/registry.js'
import { makeTokenPki, type TokenPki } from '../helpers/token-pki.js'

interface Jwt { header: Record<string, unknown>, claims: Record<string, unknown>, signed: string, signature: Buffer }

function decode (token: string): Jwt {
  const [header, claims, signature] = token.split('.')
  return {
    header: JSON.parse(Buffer.from(header, 'base64url').toString()) as Record<string, unknown>,
    claims: JSON.parse(Buffer.from(claims, 'base64url').toString()) as Record<string, unknown>,
    signed: `${header}.${claims}`,
    signature: Buffer.from(signature, 'base64url')
  }
}

/** Checks the JWS signature with node:crypto alone, independent of the library that signed it. */
function signatureValid (token: string, key: KeyObject): boolean {
  const { signed, signature } = decode(token)
  const ec = key.asymmetricKeyType === 'ec'
  return verify('sha256', Buffer.from(signed), ec ? { key, dsaEncoding: 'ieee-p1363' } : key, signature)
}

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

const ACL: AclRule[] = [
  { account: 'alice', name: '*', actions: ['*'] },
  { account: 'bob', name: 'library/*', actions: ['pull'] },
  { account: '*', name: 'users/${account}/*', actions: ['pull', 'push'] },
  { account: 'anonymous', name: 'public/*', actions: ['pull'] },
  { account: 'alice', type: 'registry', name: 'catalog', actions: ['*'] }
]

t.test('token server', async (t) => {
  const work = await tempDir()
  t.teardown(work.cleanup)
  const pki: TokenPki = await makeTokenPki(work.path, 'ec')
  const htpasswd = join(work.path, 'htpasswd')
  // htpasswd -B writes $2y$; bcryptjs writes $2b$: both are read.
  await writeFile(htpasswd, [
    `alice:${bcrypt.hashSync('alice-secret', 4).replace(/^\$2b\$/, '$2y$')}`,
    '# a comment',
    `bob:${bcrypt.hashSync('bob:secret', 4)}`,
    ''
  ].join('\n'))

  const servers: FastifyInstance[] = []
  t.teardown(async () => { await Promise.all(servers.map(async (server) => await server.close())) })
  const build = async (options: Partial<TokenServerOptions> = {}): Promise<FastifyInstance> => {
    const server = await buildTokenServer({ privateKey: pki.leafKeyPem, certificates: pki.leafPem + pki.caPem, issuer: 'test-issuer', service: 'test-registry', htpasswd, acl: ACL, ...options })
    servers.push(server)
    return server
  }
  const server = await build()
  const get = async (query: string, authorization?: string): Promise<{ status: number, body: Record<string, unknown>, headers: Record<string, unknown> }> => {
    const response = await server.inject({ method: 'GET', url: `/token?${query}`, headers: authorization === undefined ? {} : { authorization } })
    return { status: response.statusCode, body: response.json(), headers: response.headers }
  }

  await t.test('claims and response fields', async (t) => {
    const before = Math.floor(Date.now() / 1000)
    const { status, body } = await get('service=test-registry&scope=repository:library/alpine:pull,push&account=alice', basic('alice', 'alice-secret'))
    t.equal(status, 200)
    t.equal(body.access_token, body.token, 'token and access_token are the same token')
    t.equal(body.expires_in, 300, 'default lifetime is five minutes')
    const { claims, header } = decode(body.token as string)
    t.equal(header.alg, 'ES256')
    t.equal(header.typ, 'JWT')
    t.match(claims, { iss: 'test-issuer', sub: 'alice', aud: 'test-registry' })
    t.same(claims.access, [{ type: 'repository', name: 'library/alpine', actions: ['pull', 'push'] }])
    t.ok((claims.iat as number) >= before, 'issued now')
    t.equal(claims.nbf, claims.iat)
    t.equal((claims.exp as number) - (claims.iat as number), 300)
    t.equal(body.issued_at, new Date((claims.iat as number) * 1000).toISOString().replace('.000Z', 'Z'), 'issued_at is iat in RFC 3339')
    t.match(claims.jti, /^[A-Za-z0-9_-]{20}$/)
    const again = decode((await get('service=test-registry&scope=repository:library/alpine:pull', basic('alice', 'alice-secret'))).body.token as string)
    t.not(again.claims.jti, claims.jti, 'every token has its own jti')
  })

  await t.test('x5c carries leaf then CA, and the token verifies with the certificate\'s key', async (t) => {
    const { body } = await get('service=test-registry&scope=repository:a/b:pull', basic('alice', 'alice-secret'))
    const { header } = decode(body.token as string)
    t.equal(header.kid, undefined, 'no kid beside x5c')
    const x5c = header.x5c as string[]
    t.equal(x5c.length, 2)
    const leaf = new X509Certificate(Buffer.from(x5c[0], 'base64'))
    const ca = new X509Certificate(Buffer.from(x5c[1], 'base64'))
    t.equal(leaf.fingerprint256, new X509Certificate(pki.leafPem).fingerprint256, 'the first entry is the signing certificate (DER)')
    t.equal(ca.fingerprint256, new X509Certificate(pki.caPem).fingerprint256, 'the second is the CA')
    t.ok(leaf.verify(ca.publicKey), 'the leaf chains to the CA')
    t.ok(signatureValid(body.token as string, leaf.publicKey), 'the signature verifies with the leaf certificate\'s public key')
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey
    t.notOk(signatureValid(body.token as string, other), 'and not with another key')
  })

  await t.test('the grant is the intersection of what was asked and what is allowed', async (t) => {
    const { body } = await get('service=test-registry&scope=repository:library/alpine:pull,push,delete', basic('bob', 'bob:secret'))
    t.same(decode(body.token as string).claims.access, [{ type: 'repository', name: 'library/alpine', actions: ['pull'] }], 'only pull, without an error')
    const nested = await get('service=test-registry&scope=repository:library/a/b:pull', basic('bob', 'bob:secret'))
    t.same(decode(nested.body.token as string).claims.access, [{ type: 'repository', name: 'library/a/b', actions: ['pull'] }], '* spans slashes')
    const outside = await get('service=test-registry&scope=repository:other/alpine:pull', basic('bob', 'bob:secret'))
    t.equal(outside.status, 200, 'no access is not an error at the token server')
    t.same(decode(outside.body.token as string).claims.access, [{ type: 'repository', name: 'other/alpine', actions: [] }])
    const own = await get('service=test-registry&scope=repository:users/bob/tools:push', basic('bob', 'bob:secret'))
    t.same(decode(own.body.token as string).claims.access, [{ type: 'repository', name: 'users/bob/tools', actions: ['push'] }], '${account} is the user\'s own namespace')
    const others = await get('service=test-registry&scope=repository:users/alice/tools:push', basic('bob', 'bob:secret'))
    t.same(decode(others.body.token as string).claims.access, [{ type: 'repository', name: 'users/alice/tools', actions: [] }], 'and not anyone else\'s')
  })

  await t.test('several scopes, merged per resource', async (t) => {
    const { body } = await get([
      'service=test-registry',
      'scope=repository:library/alpine:pull',
      'scope=repository:other/app:push',
      'scope=repository:library/alpine:push',
      'scope=registry:catalog:*'
    ].join('&'), basic('bob', 'bob:secret'))
    t.same(decode(body.token as string).claims.access, [
      { type: 'repository', name: 'library/alpine', actions: ['pull'] },
      { type: 'repository', name: 'other/app', actions: [] },
      { type: 'registry', name: 'catalog', actions: [] }
    ])
    const admin = await get('service=test-registry&scope=registry:catalog:*&scope=repository:x/y:*', basic('alice', 'alice-secret'))
    t.same(decode(admin.body.token as string).claims.access, [
      { type: 'registry', name: 'catalog', actions: ['*'] },
      { type: 'repository', name: 'x/y', actions: ['*'] }
    ])
  })

  await t.test('anonymous requests get only what rules for anonymous allow', async (t) => {
    const { status, body } = await get('service=test-registry&scope=repository:public/base:pull,push&scope=repository:library/alpine:pull')
    t.equal(status, 200)
    const { claims } = decode(body.token as string)
    t.equal(claims.sub, '', 'no subject without credentials')
    t.same(claims.access, [
      { type: 'repository', name: 'public/base', actions: ['pull'] },
      { type: 'repository', name: 'library/alpine', actions: [] }
    ])
    const authenticated = await get('service=test-registry&scope=repository:public/base:pull', basic('bob', 'bob:secret'))
    t.same(decode(authenticated.body.token as string).claims.access, [{ type: 'repository', name: 'public/base', actions: ['pull'] }], 'what anyone may do, users may do too')
    const none = await build({ acl: [{ account: '*', name: '*', actions: ['pull'] }] })
    const closed = await none.inject({ method: 'GET', url: '/token?service=test-registry&scope=repository:public/base:pull' })
    t.same(decode(closed.json().token as string).claims.access, [{ type: 'repository', name: 'public/base', actions: [] }], 'nothing for anonymous by default')
  })

  await t.test('bad credentials are refused with a Basic challenge', async (t) => {
    for (const [what, authorization] of [
      ['wrong password', basic('alice', 'nope')],
      ['unknown user', basic('mallory', 'alice-secret')],
      ['a Bearer token', 'Bearer abc.def.ghi'],
      ['no password separator', `Basic ${Buffer.from('alice').toString('base64')}`]
    ]) {
      const { status, body, headers } = await get('service=test-registry&scope=repository:library/alpine:pull', authorization)
      t.equal(status, 401, what)
      t.equal(headers['www-authenticate'], 'Basic realm="test-issuer"', `${what}: challenge`)
      t.equal((body.errors as Array<{ code: string }>)[0].code, 'UNAUTHORIZED')
      t.equal(body.token, undefined)
    }
  })

  await t.test('malformed scopes are refused clearly', async (t) => {
    for (const scope of ['repository', 'repository:alpine', 'repository:Upper/Case:pull', 'repository:alpine:pull;rm', ':alpine:pull', 'repository:a b:pull']) {
      const { status, body } = await get(`service=test-registry&scope=${encodeURIComponent(scope)}`, basic('alice', 'alice-secret'))
      t.equal(status, 400, scope)
      t.match((body.errors as Array<{ code: string, message: string }>)[0], { code: 'INVALID_SCOPE', message: new RegExp(`scope ".*" is not type:name:action`) })
    }
    const empty = await get('service=test-registry&scope=', basic('alice', 'alice-secret'))
    t.equal(empty.status, 200, 'an empty scope asks for nothing, as token.md allows')
    t.same(decode(empty.body.token as string).claims.access, [])
    const listed = await get(`service=test-registry&scope=${encodeURIComponent('repository:a/b:pull repository:c/d:push')}`, basic('alice', 'alice-secret'))
    t.same(decode(listed.body.token as string).claims.access, [
      { type: 'repository', name: 'a/b', actions: ['pull'] },
      { type: 'repository', name: 'c/d', actions: ['push'] }
    ], 'a space-separated list in one scope parameter')
    t.same(parseScope('repository:localhost:5000/app:pull'), { type: 'repository', name: 'localhost:5000/app', actions: ['pull'] }, 'a port in the name')
    t.same(parseScope('repository(plugin):vendor/x:pull'), { type: 'repository', name: 'vendor/x', actions: ['pull'] }, 'the deprecated resource class is dropped')
  })

  await t.test('service and account are checked', async (t) => {
    const other = await get('service=elsewhere&scope=repository:a/b:pull', basic('alice', 'alice-secret'))
    t.equal(other.status, 400)
    t.match(other.body, { errors: [{ code: 'INVALID_REQUEST', message: /test-registry/ }] })
    const defaulted = await get('scope=repository:a/b:pull', basic('alice', 'alice-secret'))
    t.equal(decode(defaulted.body.token as string).claims.aud, 'test-registry', 'the configured service when none is named')
    const open = await build({ service: undefined })
    const named = await open.inject({ method: 'GET', url: '/token?service=any-registry', headers: { authorization: basic('alice', 'alice-secret') } })
    t.equal(decode(named.json().token as string).claims.aud, 'any-registry', 'without a configured service, the requested one')
    const unnamed = await open.inject({ method: 'GET', url: '/token' })
    t.equal(unnamed.statusCode, 400)
    const mismatch = await get('service=test-registry&account=bob', basic('alice', 'alice-secret'))
    t.equal(mismatch.status, 400)
    t.match(mismatch.body, { errors: [{ message: /account/ }] })
  })

  await t.test('OAuth2 POST with grant_type=password', async (t) => {
    const post = async (form: Record<string, string>): Promise<{ status: number, body: Record<string, unknown> }> => {
      const response = await server.inject({ method: 'POST', url: '/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(form).toString() })
      return { status: response.statusCode, body: response.json() }
    }
    const ok = await post({ grant_type: 'password', username: 'bob', password: 'bob:secret', service: 'test-registry', client_id: 'test', scope: 'repository:library/alpine:pull,push repository:other/x:pull' })
    t.equal(ok.status, 200)
    t.equal(ok.body.scope, 'repository:library/alpine:pull', 'scope lists what was granted')
    t.equal(ok.body.access_token, ok.body.token)
    t.same(decode(ok.body.access_token as string).claims.access, [
      { type: 'repository', name: 'library/alpine', actions: ['pull'] },
      { type: 'repository', name: 'other/x', actions: [] }
    ])
    const wrong = await post({ grant_type: 'password', username: 'bob', password: 'nope', service: 'test-registry' })
    t.equal(wrong.status, 401)
    const refresh = await post({ grant_type: 'refresh_token', refresh_token: 'x', service: 'test-registry' })
    t.equal(refresh.status, 400)
    t.match(refresh.body, { errors: [{ code: 'UNSUPPORTED_GRANT_TYPE' }] })
    const missing = await post({ grant_type: 'password', username: 'bob', service: 'test-registry' })
    t.equal(missing.status, 400)
    const json = await server.inject({ method: 'POST', url: '/token', payload: { grant_type: 'password' } })
    t.equal(json.statusCode, 400, 'a JSON body is not the OAuth2 form')
  })

  await t.test('without a certificate the header names the key', async (t) => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const rsa = await build({ privateKey: privateKey.export({ format: 'pem', type: 'pkcs1' }), certificates: undefined })
    const response = await rsa.inject({ method: 'GET', url: '/token?scope=repository:a/b:pull', headers: { authorization: basic('alice', 'alice-secret') } })
    const token = response.json().token as string
    const { header } = decode(token)
    t.equal(header.alg, 'RS256')
    t.equal(header.x5c, undefined)
    t.equal(header.kid, jwkThumbprint(publicKey), 'kid is the RFC 7638 thumbprint')
    t.ok(signatureValid(token, publicKey))
    const named = await build({ certificates: undefined, keyId: 'my-key' })
    const keyed = await named.inject({ method: 'GET', url: '/token?scope=repository:a/b:pull' })
    t.equal(decode(keyed.json().token as string).header.kid, 'my-key')
    t.ok(signatureValid(keyed.json().token as string, createPublicKey(pki.leafKeyPem)))
  })

  await t.test('a configured lifetime and path', async (t) => {
    const custom = await build({ expiresIn: 900, path: '/auth/token' })
    const response = await custom.inject({ method: 'GET', url: '/auth/token?scope=repository:a/b:pull', headers: { authorization: basic('alice', 'alice-secret') } })
    t.equal(response.json().expires_in, 900)
    const { claims } = decode(response.json().token as string)
    t.equal((claims.exp as number) - (claims.iat as number), 900)
  })
})

t.test('start-up refuses a configuration that cannot work', async (t) => {
  const work = await tempDir()
  t.teardown(work.cleanup)
  const pki = await makeTokenPki(work.path, 'rsa')
  const base: TokenServerOptions = { privateKey: pki.leafKeyPem, issuer: 'i', acl: [], authenticate: async () => false }
  const refuses = async (options: Partial<TokenServerOptions>, option: string): Promise<void> => {
    const error = await buildTokenServer({ ...base, ...options }).then(async (app) => { await app.close() }, (failure: unknown) => failure)
    t.ok(error instanceof TokenServerConfigError, `${option}: a TokenServerConfigError`)
    t.equal((error as TokenServerConfigError).option, option)
  }
  await refuses({ algorithm: 'ES256' }, 'algorithm')
  await refuses({ privateKey: 'not a key' }, 'privateKey')
  await refuses({ certificates: pki.caPem }, 'certificates')
  await refuses({ certificates: 'nothing here' }, 'certificates')
  await refuses({ acl: [{ account: 'a', name: '*', actions: ['write'] }] }, 'acl.0.actions.0')
  await refuses({ expiresIn: 30 }, 'expiresIn')
  await refuses({ issuer: '' }, 'issuer')
  await refuses({ authenticate: undefined }, 'htpasswd')
  const ok = await buildTokenServer({ ...base, certificates: pki.leafPem + pki.caPem })
  const response = await ok.inject({ method: 'GET', url: '/token?service=s' })
  t.equal(decode(response.json().token as string).header.alg, 'RS256', 'an RSA leaf signs RS256')
  t.equal((decode(response.json().token as string).header.x5c as string[]).length, 2)
  await ok.close()
  const sha = join(work.path, 'sha-htpasswd')
  await writeFile(sha, 'alice:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=\n')
  await refuses({ authenticate: undefined, htpasswd: sha }, 'htpasswd')
  await refuses({ authenticate: undefined, htpasswd: join(work.path, 'missing') }, 'htpasswd')
})

t.test('grantAccess on its own', async (t) => {
  const acl: AclRule[] = [{ account: 'u', name: 'a/*', actions: ['pull', 'delete'] }]
  t.same(grantAccess(acl, 'u', [{ type: 'repository', name: 'a/x', actions: ['*'] }]), [{ type: 'repository', name: 'a/x', actions: ['pull', 'delete'] }], 'asking * yields what is allowed')
  t.same(grantAccess(acl, 'u', [{ type: 'repository', name: 'a.x', actions: ['pull'] }]), [{ type: 'repository', name: 'a.x', actions: [] }], 'glob characters other than * are literal')
  t.same(grantAccess(acl, undefined, [{ type: 'repository', name: 'a/x', actions: ['pull'] }]), [{ type: 'repository', name: 'a/x', actions: [] }], 'named rules do not apply to anonymous')
})

t.test('the command line reads its files and the environment', async (t) => {
  const work = await tempDir()
  t.teardown(work.cleanup)
  const pki = await makeTokenPki(work.path, 'ec')
  const acl = join(work.path, 'acl.yml')
  await writeFile(acl, 'acl:\n  - account: alice\n    name: "library/*"\n    actions: [pull, push]\n')
  const { options, listen } = await tokenServerCommand(
    ['--key', pki.leafKeyPath, '--cert', pki.chainPath, '--acl', acl, '--port', '6001'],
    { TOKEN_ISSUER: 'env-issuer', TOKEN_SERVICE: 'env-registry', TOKEN_HTPASSWD: '/etc/registry/htpasswd', TOKEN_EXPIRES_IN: '120' }
  )
  t.same(options.acl, [{ account: 'alice', name: 'library/*', actions: ['pull', 'push'] }])
  t.match(options, { issuer: 'env-issuer', service: 'env-registry', htpasswd: '/etc/registry/htpasswd', expiresIn: 120 })
  t.equal(String(options.certificates), pki.leafPem + pki.caPem)
  t.same(listen, { host: '127.0.0.1', port: 6001 })
  await t.rejects(tokenServerCommand(['--key', pki.leafKeyPath, '--acl', acl], {}), { name: 'TokenServerConfigError', message: /"issuer"/ })
})
