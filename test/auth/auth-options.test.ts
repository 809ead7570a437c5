import t, { type Test } from 'tap'
import { validateAuthOptions, authType } from '../../lib/auth/auth-options.js'
import { RegistryConfigError, validateOptions, type AccessController } from '../../lib/index.js'

const silly = { realm: 'https://auth.test/token', service: 'registry.test' }
const token = { realm: 'https://auth.test/token', service: 'registry.test', issuer: 'issuer', publicKeys: { k: 'PEM' } }

function refused (t: Test, value: unknown, option: string, message?: RegExp): void {
  try {
    validateAuthOptions(value)
  } catch (error) {
    t.type(error, RegistryConfigError, option)
    t.equal((error as RegistryConfigError).option, option, `names ${option}`)
    if (message !== undefined) t.match((error as Error).message, message, option)
    return
  }
  t.fail(`accepted ${JSON.stringify(value)}`)
}

t.test('one type, with its settings, and anonymousPull', async (t) => {
  t.same(validateAuthOptions({ silly }), { silly })
  t.same(validateAuthOptions({ htpasswd: { realm: 'r', path: '/etc/htpasswd' }, anonymousPull: true }), { htpasswd: { realm: 'r', path: '/etc/htpasswd' }, anonymousPull: true })
  t.same(validateAuthOptions({ token }), { token })
  const withJwks = { token: { ...token, publicKeys: undefined, jwks: { keys: [{ kty: 'EC', kid: 'a' }] }, signingAlgorithms: ['ES256', 'EdDSA'] } }
  t.equal(validateAuthOptions(withJwks), withJwks, 'a JWKS object and EdDSA are accepted')
  t.equal(authType({ silly }), 'silly')
  t.equal(authType({ htpasswd: { realm: 'r', path: 'p' } }), 'htpasswd')
  t.equal(authType({ token }), 'token')
})

t.test('no type, two types, unknown types', async (t) => {
  refused(t, null, 'auth')
  refused(t, 'htpasswd', 'auth')
  refused(t, [], 'auth')
  refused(t, {}, 'auth', /must configure one of silly, htpasswd, token/)
  refused(t, { anonymousPull: true }, 'auth', /must configure one of/)
  refused(t, { silly: null }, 'auth.silly')
  refused(t, { silly, token }, 'auth', /silly and token; choose one/)
  refused(t, { ldap: { url: 'ldap://x' } }, 'auth.ldap', /not a known access controller type/)
  refused(t, { silly, anonymouspull: true }, 'auth.anonymouspull')
  refused(t, { silly, anonymousPull: 'yes' }, 'auth.anonymousPull')
})

t.test('each type\'s settings', async (t) => {
  refused(t, { silly: { realm: 'r' } }, 'auth.silly.service')
  refused(t, { silly: { ...silly, extra: 1 } }, 'auth.silly.extra')
  refused(t, { htpasswd: { realm: 'r' } }, 'auth.htpasswd.path')
  refused(t, { htpasswd: { path: '/p' } }, 'auth.htpasswd.realm')
  refused(t, { htpasswd: { realm: '', path: '/p' } }, 'auth.htpasswd.realm')
  refused(t, { htpasswd: { realm: 'a\r\nSet-Cookie: x', path: '/p' } }, 'auth.htpasswd.realm', /invalid/)
  refused(t, { token: { ...token, realm: undefined } }, 'auth.token.realm')
  refused(t, { token: { ...token, service: undefined } }, 'auth.token.service')
  refused(t, { token: { ...token, issuer: undefined } }, 'auth.token.issuer')
  refused(t, { token: { ...token, issuer: '' } }, 'auth.token.issuer')
  refused(t, { token: { ...token, publicKeys: undefined } }, 'auth.token', /rootCertBundle, jwks or publicKeys/)
  refused(t, { token: { ...token, publicKeys: {} } }, 'auth.token.publicKeys', /empty/)
  refused(t, { token: { ...token, jwks: { nokeys: true } } }, 'auth.token.jwks')
  refused(t, { token: { ...token, rootCertBundle: 42 } }, 'auth.token.rootCertBundle')
  refused(t, { token: { ...token, autoredirect: true } }, 'auth.token.autoredirect')
})

t.test('signing algorithms: never none, never HMAC', async (t) => {
  refused(t, { token: { ...token, signingAlgorithms: ['none'] } }, 'auth.token.signingAlgorithms', /unsigned tokens are never accepted/)
  refused(t, { token: { ...token, signingAlgorithms: ['RS256', 'HS256'] } }, 'auth.token.signingAlgorithms', /HMAC algorithms are refused/)
  refused(t, { token: { ...token, signingAlgorithms: ['hs512'] } }, 'auth.token.signingAlgorithms', /HMAC/)
  refused(t, { token: { ...token, signingAlgorithms: ['RS1024'] } }, 'auth.token.signingAlgorithms', /not a supported algorithm/)
  refused(t, { token: { ...token, signingAlgorithms: [] } }, 'auth.token.signingAlgorithms')
})

t.test('registry options: auth is checked, and never together with accessController', async (t) => {
  const controller: AccessController = { authorized: async (_request, access) => ({ access }) }
  t.throws(() => validateOptions({ auth: { silly }, accessController: controller }), { name: 'RegistryConfigError', option: 'auth', message: /cannot be combined with accessController/ })
  t.throws(() => validateOptions({ auth: { silly: { realm: 'r' } } }), { name: 'RegistryConfigError', option: 'auth.silly.service' })
  t.throws(() => validateOptions({ auth: null }), { name: 'RegistryConfigError', option: 'auth' })
  t.same(validateOptions({ auth: { silly } }), { auth: { silly } })
})

t.test('challenge values are printable ASCII', async (t) => {
  refused(t, { silly: { realm: 'https://auth.test/tökén', service: 's' } }, 'auth.silly.realm')
  refused(t, { token: { ...token, service: 'reg\tistry' } }, 'auth.token.service')
  t.same(validateAuthOptions({ silly: { realm: 'https://auth.test/token?x="y"', service: 'registry.test:5000' } }).anonymousPull, undefined)
})
