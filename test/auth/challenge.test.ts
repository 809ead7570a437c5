import t from 'tap'
import { AuthChallenge, basicChallenge, bearerChallenge, scopeParameter } from '../../lib/auth/challenge.js'
import { RegistryError, toEnvelope, type Access } from '../../lib/index.js'

const pull = (name: string): Access => ({ type: 'repository', name, actions: ['pull'] })

t.test('scope: one resource per record, actions of the same resource merged, in order', async (t) => {
  t.equal(scopeParameter([]), '')
  t.equal(scopeParameter([pull('a')]), 'repository:a:pull')
  t.equal(scopeParameter([{ type: 'repository', name: 'a', actions: ['pull', 'push'] }, pull('b/c')]), 'repository:a:pull,push repository:b/c:pull')
  t.equal(scopeParameter([pull('a'), { type: 'repository', name: 'a', actions: ['push', 'pull'] }]), 'repository:a:pull,push')
  t.equal(scopeParameter([{ type: 'registry', name: 'catalog', actions: ['*'] }]), 'registry:catalog:*')
})

t.test('Bearer challenges as distribution writes them', async (t) => {
  const base = { realm: 'https://auth.test/token', service: 'registry.test' }
  t.equal(bearerChallenge({ ...base, access: [] }), 'Bearer realm="https://auth.test/token",service="registry.test"', 'no scope for the base route')
  t.equal(bearerChallenge({ ...base, access: [pull('a')] }), 'Bearer realm="https://auth.test/token",service="registry.test",scope="repository:a:pull"')
  t.equal(bearerChallenge({ ...base, access: [pull('a')], reason: 'missing' }), 'Bearer realm="https://auth.test/token",service="registry.test",scope="repository:a:pull"')
  t.equal(bearerChallenge({ ...base, access: [pull('a')], reason: 'invalid' }), 'Bearer realm="https://auth.test/token",service="registry.test",scope="repository:a:pull",error="invalid_token"')
  t.equal(bearerChallenge({ ...base, access: [pull('a')], reason: 'insufficient_scope' }), 'Bearer realm="https://auth.test/token",service="registry.test",scope="repository:a:pull",error="insufficient_scope"')
})

t.test('parameter values are quoted strings that cannot break the header', async (t) => {
  const header = bearerChallenge({ realm: 'a"b\\c', service: 's', access: [pull('x"\r\nSet-Cookie: y')] })
  t.equal(header, 'Bearer realm="a\\"b\\\\c",service="s",scope="repository:x\\"Set-Cookie: y:pull"')
  t.notMatch(header, /[\r\n]/)
  t.equal(basicChallenge('Registry Realm'), 'Basic realm="Registry Realm"')
})

t.test('AuthChallenge is a 401 UNAUTHORIZED RegistryError with its header and the needed access', async (t) => {
  const access = [pull('a')]
  const challenge = new AuthChallenge('Basic realm="r"', access, 'invalid', { name: 'bob' })
  t.type(challenge, RegistryError)
  t.equal(challenge.status, 401)
  t.equal(challenge.code, 'UNAUTHORIZED')
  t.same(challenge.headers, { 'WWW-Authenticate': 'Basic realm="r"' })
  t.same(toEnvelope(challenge).errors[0].detail, access)
  t.not(challenge.detail, access, 'the detail is a copy')
  t.equal(challenge.reason, 'invalid')
  t.same(challenge.user, { name: 'bob' })
  t.equal(new AuthChallenge('x', [], 'missing').message, 'authentication required')
})
