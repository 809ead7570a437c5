import t from 'tap'
import { AuthChallenge, SillyAccessController, type Access } from '../../lib/index.js'
import { fakeRequest } from '../helpers/auth.js'

const controller = new SillyAccessController({ realm: 'https://auth.test/token', service: 'registry.test' })
const access: Access[] = [{ type: 'repository', name: 'a', actions: ['pull', 'push'] }, { type: 'repository', name: 'b', actions: ['pull'] }]

t.test('any Authorization header is let in with the access asked for', async (t) => {
  for (const value of ['Bearer x', 'Basic Zm9vOmJhcg==', 'anything at all']) {
    t.same(await controller.authorized(fakeRequest({ authorization: value }), access), { user: { name: 'silly' }, access }, value)
  }
})

t.test('none, or a blank one, is challenged with realm, service and scope', async (t) => {
  const blank: Array<Record<string, string>> = [{}, { authorization: '' }, { authorization: ' \t ' }]
  for (const headers of blank) {
    const error = await controller.authorized(fakeRequest(headers), access).then(() => undefined, (error: unknown) => error)
    t.type(error, AuthChallenge)
    t.equal((error as AuthChallenge).status, 401)
    t.same((error as AuthChallenge).headers, { 'WWW-Authenticate': 'Bearer realm="https://auth.test/token",service="registry.test",scope="repository:a:pull,push repository:b:pull"' })
  }
})
