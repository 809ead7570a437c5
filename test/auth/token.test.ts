import t, { type Test } from 'tap'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { generateKeyPairSync } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { TokenAccessController, type Access } from '../../lib/index.js'
import { jwkThumbprint, libtrustKeyId } from '../../lib/auth/token-keys.js'
import { buildRegistry, pushBlob, sha256 } from '../helpers/registry.js'
import { pushImage } from '../helpers/images.js'
import {
  ISSUER, REALM, SERVICE, bearer, basic, claims, craftToken, ecKeyPair, fakeRequest, firstError, hmacWith, makeCertificates,
  publicJwk, rsaKeyPair, rsaWith, signToken, unsigned, withHeaders, x5cEntry
} from '../helpers/auth.js'

const certs = await makeCertificates()
t.teardown(certs.cleanup)
const rsa = rsaKeyPair()
const ec = ecKeyPair()
const other = rsaKeyPair()

const tokenOptions = {
  realm: REALM,
  service: SERVICE,
  issuer: ISSUER,
  rootCertBundle: certs.bundlePath,
  jwks: { keys: [publicJwk(ec, 'kid-ec')] },
  publicKeys: { 'kid-rsa': rsa.publicPem }
}

const pull = (name: string): Access => ({ type: 'repository', name, actions: ['pull'] })
const pushPull = (name: string): Access => ({ type: 'repository', name, actions: ['pull', 'push'] })
const all = (name: string): Access => ({ type: 'repository', name, actions: ['*'] })
const now = (): number => Math.floor(Date.now() / 1000)

/** A token signed with the RSA key under kid-rsa. */
function token (access: Access[], overrides: Record<string, unknown> = {}): string {
  return signToken(rsa, claims(access, overrides), { kid: 'kid-rsa' })
}

let app: FastifyInstance
t.before(async () => {
  app = await buildRegistry({ auth: { token: tokenOptions }, delete: { enabled: true } })
  const admin = bearer(token([all('library/alpine'), all('team/base'), all('team/app')]))
  const content = Buffer.from('seed layer')
  const response = await app.inject({ method: 'POST', url: `/v2/library/alpine/blobs/uploads/?digest=${sha256(content)}`, payload: content, headers: { ...admin, 'content-type': 'application/octet-stream' } })
  if (response.statusCode !== 201) throw new Error(response.body)
})
t.teardown(async () => await app.close())

async function get (url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET'): Promise<Awaited<ReturnType<FastifyInstance['inject']>>> {
  return await app.inject({ method, url, headers })
}

const SEED = sha256(Buffer.from('seed layer'))
const BLOB_URL = `/v2/library/alpine/blobs/${SEED}`
const CHALLENGE = `Bearer realm="${REALM}",service="${SERVICE}",scope="repository:library/alpine:pull"`

t.test('a token with the needed access is let in, whichever way its key is named', async (t) => {
  const payload = claims([pull('library/alpine')])
  const tokens: Array<[string, string]> = [
    ['RS256, kid from publicKeys', signToken(rsa, payload, { kid: 'kid-rsa' })],
    ['PS256, kid from publicKeys', signToken(rsa, payload, { kid: 'kid-rsa', algorithm: 'PS256' })],
    ['RS512, kid from publicKeys', signToken(rsa, payload, { kid: 'kid-rsa', algorithm: 'RS512' })],
    ['ES256, kid from the JWKS', signToken(ec, payload, { kid: 'kid-ec' })],
    ['RS256, x5c leaf + intermediate', signToken(certs.leaf, payload, { x5c: [x5cEntry(certs.leaf.certPem), x5cEntry(certs.intermediatePem)] })],
    ['ES256, x5c leaf issued by the root', signToken(certs.ecLeaf, payload, { x5c: [x5cEntry(certs.ecLeaf.certPem)] })],
    ['ES256, kid = RFC 7638 thumbprint of a bundled root', signToken(certs.root, payload, { kid: jwkThumbprint(certs.root.publicKey) })],
    ['ES256, kid = libtrust key ID of a bundled root', signToken(certs.root, payload, { kid: libtrustKeyId(certs.root.publicKey) })]
  ]
  for (const [label, value] of tokens) {
    const response = await get(BLOB_URL, bearer(value))
    t.equal(response.statusCode, 200, label)
  }
})

t.test('the grant names the token\'s subject', async (t) => {
  const controller = await TokenAccessController.load(tokenOptions)
  const grant = await controller.authorized(fakeRequest(bearer(token([pull('a/b')], { sub: 'carol' }))), [pull('a/b')])
  t.same(grant, { user: { name: 'carol' }, access: [pull('a/b')] })
  const anonymous = await controller.authorized(fakeRequest(bearer(token([pull('a/b')], { sub: undefined }))), [pull('a/b')])
  t.same(anonymous, { access: [pull('a/b')] }, 'no sub, no user')
})

t.test('without a Bearer token: a challenge naming realm, service and scope, no error', async (t) => {
  for (const headers of [{}, basic('alice', 'secret'), { authorization: 'Bearer' }, { authorization: 'Bearer a b' }, { authorization: 'Token abc' }]) {
    const response = await get(BLOB_URL, headers)
    t.equal(response.statusCode, 401)
    t.equal(response.headers['www-authenticate'], CHALLENGE, JSON.stringify(headers))
    const error = firstError(response.body)
    t.equal(error.code, 'UNAUTHORIZED')
    t.same(error.detail, [pull('library/alpine')], 'the needed access as detail')
  }
})

/** Asserts a 401 with `error="invalid_token"`. */
async function refused (t: Test, value: string, label: string): Promise<void> {
  const response = await get(BLOB_URL, bearer(value))
  t.equal(response.statusCode, 401, label)
  t.equal(response.headers['www-authenticate'], `${CHALLENGE},error="invalid_token"`, label)
  t.equal(firstError(response.body).code, 'UNAUTHORIZED', label)
}

t.test('attack: alg none', async (t) => {
  const payload = claims([pull('library/alpine')])
  await refused(t, craftToken({ alg: 'none', typ: 'JWT', kid: 'kid-rsa' }, payload, unsigned), 'alg none, kid of a real key')
  await refused(t, craftToken({ alg: 'none', typ: 'JWT' }, payload, unsigned), 'alg none, no key named')
  await refused(t, craftToken({ alg: 'none', typ: 'JWT', kid: 'kid-rsa' }, payload, rsaWith(rsa)), 'alg none with a signature')
})

t.test('attack: HS256 signed with the public key as HMAC secret (algorithm confusion)', async (t) => {
  const payload = claims([pull('library/alpine')])
  await refused(t, craftToken({ alg: 'HS256', typ: 'JWT', kid: 'kid-rsa' }, payload, hmacWith(rsa.publicPem)), 'PEM as secret')
  await refused(t, craftToken({ alg: 'HS256', typ: 'JWT', kid: 'kid-rsa' }, payload, hmacWith(rsa.publicPem.trim())), 'trimmed PEM as secret')
  await refused(t, craftToken({ alg: 'HS256', typ: 'JWT', x5c: [x5cEntry(certs.leaf.certPem), x5cEntry(certs.intermediatePem)] }, payload, hmacWith(certs.leaf.publicPem)), 'x5c leaf PEM as secret')
})

t.test('attack: an algorithm that does not fit the key', async (t) => {
  const payload = claims([pull('library/alpine')])
  await refused(t, craftToken({ alg: 'ES256', typ: 'JWT', kid: 'kid-rsa' }, payload, rsaWith(rsa)), 'ES256 header on an RSA key')
  await refused(t, craftToken({ alg: 'RS256', typ: 'JWT', kid: 'kid-ec' }, payload, rsaWith(rsa)), 'RS256 header on an EC key')
})

t.test('expiry and not-before, with a 60 s leeway', async (t) => {
  const access = [pull('library/alpine')]
  await refused(t, token(access, { exp: now() - 120 }), 'expired 2 minutes ago')
  t.equal((await get(BLOB_URL, bearer(token(access, { exp: now() - 30 })))).statusCode, 200, 'expired 30 s ago: within the leeway')
  await refused(t, token(access, { nbf: now() + 120 }), 'valid only in 2 minutes')
  t.equal((await get(BLOB_URL, bearer(token(access, { nbf: now() + 30 })))).statusCode, 200, 'valid in 30 s: within the leeway')
  await refused(t, token(access, { exp: undefined }), 'no exp')
  await refused(t, craftToken({ alg: 'RS256', typ: 'JWT', kid: 'kid-rsa' }, claims(access, { exp: String(now() + 300) }), rsaWith(rsa)), 'exp not a number')
  t.equal((await get(BLOB_URL, bearer(craftToken({ alg: 'RS256', typ: 'JWT', kid: 'kid-rsa' }, claims(access), rsaWith(rsa))))).statusCode, 200, 'the same hand-made token with a numeric exp passes')
})

t.test('issuer and audience', async (t) => {
  const access = [pull('library/alpine')]
  await refused(t, token(access, { iss: 'someone-else' }), 'wrong issuer')
  await refused(t, token(access, { iss: undefined }), 'no issuer')
  await refused(t, token(access, { iss: [ISSUER] }), 'issuer as an array')
  await refused(t, token(access, { aud: 'another-registry' }), 'wrong audience')
  await refused(t, token(access, { aud: undefined }), 'no audience')
  await refused(t, token(access, { aud: ['another-registry'] }), 'audience list without the service')
  t.equal((await get(BLOB_URL, bearer(token(access, { aud: ['another-registry', SERVICE] })))).statusCode, 200, 'audience list with the service')
})

t.test('keys: unknown kid, wrong key, x5c not rooted in the bundle, tampering', async (t) => {
  const payload = claims([pull('library/alpine')])
  await refused(t, signToken(ec, payload, { kid: 'kid-missing' }), 'a JWKS kid that does not exist')
  await refused(t, signToken(other, payload, { kid: 'kid-rsa' }), 'a known kid, signed with another key')
  await refused(t, signToken(other, payload), 'no kid and no x5c')
  await refused(t, signToken(certs.strangerLeaf, payload, { x5c: [x5cEntry(certs.strangerLeaf.certPem)] }), 'x5c chain under another root')
  await refused(t, signToken(certs.impostorLeaf, payload, { x5c: [x5cEntry(certs.impostorLeaf.certPem), x5cEntry(certs.impostorRootPem)] }), 'x5c chain under a root impostor of the same name')
  await refused(t, signToken(certs.leaf, payload, { x5c: [x5cEntry(certs.leaf.certPem)] }), 'x5c chain missing its intermediate')
  await refused(t, signToken(other, payload, { x5c: [x5cEntry(certs.leaf.certPem), x5cEntry(certs.intermediatePem)] }), 'a good x5c chain, signed with another key')
  await refused(t, signToken(other, payload, { kid: 'kid-rsa', x5c: [x5cEntry(certs.strangerLeaf.certPem)] }), 'x5c wins over kid')
  const genuine = token([pull('team/other')]).split('.')
  const forged = Buffer.from(JSON.stringify(claims([pull('library/alpine')]))).toString('base64url')
  await refused(t, `${genuine[0]}.${forged}.${genuine[2]}`, 'claims swapped under a genuine signature')
  await refused(t, 'not.a.token', 'garbage')
  await refused(t, token([pull('library/alpine')]).slice(0, -4), 'truncated signature')
})

t.test('a malformed access claim makes the token invalid', async (t) => {
  await refused(t, token([], { access: { type: 'repository', name: 'library/alpine', actions: ['pull'] } }), 'an object, not a list')
  await refused(t, token([], { access: [{ type: 'repository', name: 'library/alpine', actions: 'pull' }] }), 'actions as a string')
  await refused(t, token([], { access: [null] }), 'a null entry')
})

/** Asserts a 401 with `error="insufficient_scope"` naming `scope`. */
async function insufficient (t: Test, response: Awaited<ReturnType<FastifyInstance['inject']>>, scope: string, label: string): Promise<void> {
  t.equal(response.statusCode, 401, label)
  t.equal(response.headers['www-authenticate'], `Bearer realm="${REALM}",service="${SERVICE}",scope="${scope}",error="insufficient_scope"`, label)
  t.equal(firstError(response.body).code, 'UNAUTHORIZED', label)
}

t.test('attack: a token for another repository, or fewer actions', async (t) => {
  await insufficient(t, await get(BLOB_URL, bearer(token([all('library/alpine2'), all('library'), all('alpine')]))), 'repository:library/alpine:pull', 'other repositories')
  await insufficient(t, await get(BLOB_URL, bearer(token([{ type: 'registry', name: 'library/alpine', actions: ['*'] }]))), 'repository:library/alpine:pull', 'another resource type')
  await insufficient(t, await get(BLOB_URL, bearer(token([{ type: 'repository', name: 'Library/alpine', actions: ['pull'] }]))), 'repository:library/alpine:pull', 'the name in another case')
  await insufficient(t, await get(BLOB_URL, bearer(token([{ type: 'repository', name: 'library/alpine', actions: ['push'] }]))), 'repository:library/alpine:pull', 'push is not pull')
  const upload = await app.inject({ method: 'POST', url: '/v2/library/alpine/blobs/uploads/', headers: bearer(token([pull('library/alpine')])) })
  await insufficient(t, upload, 'repository:library/alpine:pull,push', 'pull alone cannot push')
  const remove = await app.inject({ method: 'DELETE', url: BLOB_URL, headers: bearer(token([pushPull('library/alpine')])) })
  await insufficient(t, remove, 'repository:library/alpine:delete', 'push is not delete')
  t.equal((await get(BLOB_URL, bearer(token([pull('library/alpine')])), 'HEAD')).statusCode, 200, 'the blob is still there')
})

/** A GET over a real socket with the path exactly as written: no client-side URL normalization. */
async function rawGet (path: string, headers: Record<string, string>): Promise<{ statusCode: number, body: string, headers: IncomingHttpHeaders }> {
  const address = app.server.address() as AddressInfo
  return await new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port: address.port, path, headers }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => { body += chunk })
      response.on('end', () => { resolve({ statusCode: response.statusCode ?? 0, body, headers: response.headers }) })
    })
    request.on('error', reject)
    request.end()
  })
}

t.test('attack: names differing by case, encoding or slashes never reach a handler', async (t) => {
  await app.listen({ port: 0, host: '127.0.0.1' })
  const good = bearer(token([all('library/alpine')]))
  for (const url of [
    `/v2/Library/alpine/blobs/${SEED}`,
    `/v2/library%2Falpine/blobs/${SEED}`,
    `/v2/library%2falpine/blobs/${SEED}`,
    `/v2/library/%2e%2e/alpine/blobs/${SEED}`,
    `/v2/library/../alpine/blobs/${SEED}`,
    `/v2/library/alpine//blobs/${SEED}`,
    `/v2//library/alpine/blobs/${SEED}`,
    '/v2/Library/alpine/tags/list'
  ]) {
    for (const headers of [{}, good]) {
      const response = await rawGet(url, headers)
      t.equal(response.statusCode, 400, `${url} ${headers === good ? 'with' : 'without'} a token`)
      t.equal(firstError(response.body).code, 'NAME_INVALID')
    }
  }
  for (const url of [`/v2/library/alpine/blobs/${SEED}/`, '/v2/library/alpine/tags/list/', '/v2/library/alpine/manifests/latest/']) {
    const response = await rawGet(url, good)
    t.equal(response.statusCode, 404, `${url}: no route`)
    t.notOk(response.headers['docker-content-digest'])
  }
})

t.test('the catalog needs registry:catalog:*', async (t) => {
  const scope = 'registry:catalog:*'
  await insufficient(t, await get('/v2/_catalog', bearer(token([all('library/alpine')]))), scope, 'repository access only')
  await insufficient(t, await get('/v2/_catalog', bearer(token([{ type: 'registry', name: 'catalog', actions: ['pull'] }]))), scope, 'catalog without *')
  const ok = await get('/v2/_catalog', bearer(token([{ type: 'registry', name: 'catalog', actions: ['*'] }])))
  t.equal(ok.statusCode, 200)
  t.ok((ok.json() as { repositories: string[] }).repositories.includes('library/alpine'))
})

t.test('attack: mount without pull on `from` does not happen', async (t) => {
  const content = Buffer.from('only in team/base')
  const digest = await pushBlob(withHeaders(app, bearer(token([all('team/base')]))), 'team/base', content)
  const mountUrl = `/v2/team/app/blobs/uploads/?mount=${digest}&from=team/base`
  const scope = 'repository:team/app:pull,push repository:team/base:pull'
  await insufficient(t, await app.inject({ method: 'POST', url: mountUrl, headers: bearer(token([all('team/app')])) }), scope, 'push on the target only')
  await insufficient(t, await app.inject({ method: 'POST', url: mountUrl, headers: bearer(token([all('team/app'), { type: 'repository', name: 'team/base', actions: ['push'] }])) }), scope, 'push but not pull on from')
  const anonymous = await app.inject({ method: 'POST', url: mountUrl })
  t.equal(anonymous.statusCode, 401)
  t.equal(anonymous.headers['www-authenticate'], `Bearer realm="${REALM}",service="${SERVICE}",scope="${scope}"`, 'the challenge asks for both scopes')
  const readTarget = bearer(token([pull('team/app')]))
  t.equal((await get(`/v2/team/app/blobs/${digest}`, readTarget, 'HEAD')).statusCode, 404, 'the target repository did not get the blob')

  const mounted = await app.inject({ method: 'POST', url: mountUrl, headers: bearer(token([pushPull('team/app'), pull('team/base')])) })
  t.equal(mounted.statusCode, 201, 'with pull on from, the mount happens')
  t.equal((await get(`/v2/team/app/blobs/${digest}`, readTarget, 'HEAD')).statusCode, 200)
})

t.test('a token with * may do everything on its repository', async (t) => {
  const star = bearer(token([all('team/star')]))
  const image = await pushImage(withHeaders(app, star), 'team/star', 'v1')
  const remove = await app.inject({ method: 'DELETE', url: `/v2/team/star/manifests/${image.digest}`, headers: star })
  t.equal(remove.statusCode, 202)
})

t.test('EdDSA when configured; the default list leaves it out', async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const ed = { privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), publicKey }
  const options = { realm: REALM, service: SERVICE, issuer: ISSUER, publicKeys: { ed: ed.publicPem } }
  const controller = await TokenAccessController.load({ ...options, signingAlgorithms: ['EdDSA'] })
  const value = signToken(ed, claims([pull('a')]), { kid: 'ed', algorithm: 'EdDSA' })
  t.same(await controller.authorized(fakeRequest(bearer(value)), [pull('a')]), { user: { name: 'alice' }, access: [pull('a')] })
  await t.rejects(TokenAccessController.load(options), { name: 'RegistryConfigError', option: 'auth.token.publicKeys' }, 'an Ed25519 key under the default algorithms is a configuration mistake')
  const rsaOnly = await TokenAccessController.load({ realm: REALM, service: SERVICE, issuer: ISSUER, publicKeys: { 'kid-rsa': rsa.publicPem }, signingAlgorithms: ['RS256'] })
  await t.rejects(rsaOnly.authorized(fakeRequest(bearer(signToken(rsa, claims([pull('a')]), { kid: 'kid-rsa', algorithm: 'PS256' }))), [pull('a')]), { name: 'AuthChallenge', reason: 'invalid' }, 'PS256 is refused when only RS256 is accepted')
})
