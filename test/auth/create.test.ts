// The `auth` option through registration: every mistake stops the plugin
// before it serves anything, and what it builds is what was asked for.
import t from 'tap'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import Fastify from 'fastify'
import { pino } from 'pino'
import {
  AnonymousPullAccessController, App, HtpasswdAccessController, OpenAccessController, registry, RegistryConfigError,
  SillyAccessController, TokenAccessController, type AccessController, type RegistryOptions
} from '../../lib/index.js'
import { createAccessController } from '../../lib/auth/create.js'
import { buildRegistry, tempDir } from '../helpers/registry.js'
import { ISSUER, REALM, SERVICE, basic, bearer, claims, htpasswdLine, rsaKeyPair, signToken } from '../helpers/auth.js'

const dir = await tempDir()
t.teardown(dir.cleanup)
const htpasswd = join(dir.path, 'htpasswd')
await writeFile(htpasswd, `${htpasswdLine('alice', 'a-pass')}\n`)
const key = rsaKeyPair()
const token = { realm: REALM, service: SERVICE, issuer: ISSUER, publicKeys: { k: key.publicPem } }
const log = pino({ level: 'silent' })

/** Registers the plugin with `options`; resolves to the registration error, or undefined. */
async function registrationError (options: RegistryOptions | Record<string, unknown>): Promise<unknown> {
  const app = Fastify()
  app.register(registry, { storage: { inmemory: {} }, uploadState: { secret: 's' }, ...options } as RegistryOptions)
  const error = await app.ready().then(() => undefined, (error: unknown) => error)
  await app.close()
  return error
}

t.test('a configuration mistake stops registration, naming the option', async (t) => {
  const spy: AccessController = { authorized: async (_request, access) => ({ access }) }
  const cases: Array<[string, Record<string, unknown>]> = [
    ['auth', { auth: { silly: { realm: 'r', service: 's' } }, accessController: spy }],
    ['auth.ldap', { auth: { ldap: {} } }],
    ['auth', { auth: { silly: { realm: 'r', service: 's' }, htpasswd: { realm: 'r', path: htpasswd } } }],
    ['auth', { auth: { anonymousPull: true } }],
    ['auth.htpasswd.path', { auth: { htpasswd: { realm: 'r' } } }],
    ['auth.htpasswd.path', { auth: { htpasswd: { realm: 'r', path: join(dir.path, 'missing') } } }],
    ['auth.htpasswd.path', { auth: { htpasswd: { realm: 'r', path: dir.path } } }],
    ['auth.token', { auth: { token: { ...token, publicKeys: undefined } } }],
    ['auth.token.issuer', { auth: { token: { ...token, issuer: undefined } } }],
    ['auth.token.service', { auth: { token: { ...token, service: undefined } } }],
    ['auth.token.realm', { auth: { token: { ...token, realm: undefined } } }],
    ['auth.token.rootCertBundle', { auth: { token: { ...token, rootCertBundle: join(dir.path, 'missing.pem') } } }],
    ['auth.token.rootCertBundle', { auth: { token: { ...token, rootCertBundle: htpasswd } } }],
    ['auth.token.jwks', { auth: { token: { ...token, jwks: join(dir.path, 'missing.json') } } }],
    ['auth.token.jwks', { auth: { token: { ...token, jwks: htpasswd } } }],
    ['auth.token.signingAlgorithms', { auth: { token: { ...token, signingAlgorithms: ['HS256'] } } }],
    ['auth.token.publicKeys.k', { auth: { token: { ...token, publicKeys: { k: 'not a key' } } } }]
  ]
  for (const [option, options] of cases) {
    const error = await registrationError(options)
    t.type(error, RegistryConfigError, `${option}: ${JSON.stringify(options).slice(0, 80)}`)
    t.equal((error as RegistryConfigError).option, option)
  }
})

t.test('the controller built for each configuration', async (t) => {
  t.type(await createAccessController({}, log), OpenAccessController, 'nothing configured: open')
  const given: AccessController = { authorized: async (_request, access) => ({ access }) }
  t.equal(await createAccessController({ accessController: given }, log), given)
  t.type(await createAccessController({ auth: { silly: { realm: 'r', service: 's' } } }, log), SillyAccessController)
  t.type(await createAccessController({ auth: { htpasswd: { realm: 'r', path: htpasswd } } }, log), HtpasswdAccessController)
  t.type(await createAccessController({ auth: { token } }, log), TokenAccessController)
  const wrapped = await createAccessController({ auth: { token, anonymousPull: true } }, log)
  t.type(wrapped, AnonymousPullAccessController)
  t.type((wrapped as AnonymousPullAccessController).inner, TokenAccessController)
  t.type(await createAccessController({ auth: { token, anonymousPull: false } }, log), TokenAccessController)
})

t.test('App refuses to be built open from options that ask for auth', async (t) => {
  t.throws(() => new App({ auth: { silly: { realm: 'r', service: 's' } } }, log, ''), /App\.create/)
  const app = await App.create({ storage: { inmemory: {} }, uploadState: { secret: 's' }, auth: { silly: { realm: 'r', service: 's' } } }, log, '')
  t.type(app.accessController, SillyAccessController)
})

t.test('the base route: challenged without credentials (clients probe it), 200 with them', async (t) => {
  for (const [label, auth, good] of [
    ['silly', { silly: { realm: REALM, service: SERVICE } }, { authorization: 'x' }],
    ['htpasswd', { htpasswd: { realm: 'Registry', path: htpasswd } }, basic('alice', 'a-pass')],
    ['token', { token }, bearer(signToken(key, claims([]), { kid: 'k' }))],
    ['token, anonymous pull', { token, anonymousPull: true }, bearer(signToken(key, claims([]), { kid: 'k' }))]
  ] as const) {
    const app = await buildRegistry({ auth })
    for (const method of ['GET', 'HEAD'] as const) {
      const anonymous = await app.inject({ method, url: '/v2/' })
      t.equal(anonymous.statusCode, 401, `${label} ${method}: challenged`)
      t.ok(anonymous.headers['www-authenticate'], `${label} ${method}: with WWW-Authenticate`)
      t.equal(anonymous.headers['docker-distribution-api-version'], 'registry/2.0')
      t.equal((await app.inject({ method, url: '/v2/', headers: good })).statusCode, 200, `${label} ${method}: authenticated`)
    }
    await app.close()
  }
})

t.test('anonymous pull: pulls without credentials; everything else and bad credentials challenged', async (t) => {
  for (const [label, auth, bad, other] of [
    ['htpasswd', { htpasswd: { realm: 'Registry', path: htpasswd }, anonymousPull: true }, basic('alice', 'wrong'), undefined],
    ['token', { token, anonymousPull: true }, bearer(signToken(rsaKeyPair(), claims([]), { kid: 'k' })), bearer(signToken(key, claims([{ type: 'repository', name: 'other', actions: ['pull'] }]), { kid: 'k' }))]
  ] as const) {
    const app = await buildRegistry({ auth, delete: { enabled: true } })
    t.teardown(async () => await app.close())
    for (const [method, url] of [['GET', '/v2/r/tags/list'], ['GET', '/v2/r/manifests/latest'], ['HEAD', '/v2/r/manifests/latest'], ['GET', '/v2/r/blobs/sha256:' + '0'.repeat(64)], ['GET', '/v2/r/referrers/sha256:' + '0'.repeat(64)]] as const) {
      const response = await app.inject({ method, url })
      t.not(response.statusCode, 401, `${label}: ${method} ${url} without credentials reaches the handler`)
      t.equal(response.headers['www-authenticate'], undefined)
      t.equal((await app.inject({ method, url, headers: bad })).statusCode, 401, `${label}: ${method} ${url} with a bad credential`)
      if (other !== undefined) t.not((await app.inject({ method, url, headers: other })).statusCode, 401, `${label}: a valid token for another repository still pulls`)
    }
    for (const [method, url] of [['POST', '/v2/r/blobs/uploads/'], ['PUT', '/v2/r/manifests/latest'], ['DELETE', '/v2/r/manifests/latest'], ['GET', '/v2/_catalog'], ['POST', '/v2/r/blobs/uploads/?mount=sha256:' + '0'.repeat(64) + '&from=s']] as const) {
      const response = await app.inject({ method, url })
      t.equal(response.statusCode, 401, `${label}: ${method} ${url} without credentials`)
      t.ok(response.headers['www-authenticate'])
    }
  }
})
