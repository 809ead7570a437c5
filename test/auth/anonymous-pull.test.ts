import t from 'tap'
import type { FastifyRequest } from 'fastify'
import { AnonymousPullAccessController, AuthChallenge, RegistryError, type Access, type AccessController, type Grant } from '../../lib/index.js'
import { bearer, fakeRequest } from '../helpers/auth.js'

const pull: Access[] = [{ type: 'repository', name: 'a', actions: ['pull'] }]
const push: Access[] = [{ type: 'repository', name: 'a', actions: ['pull', 'push'] }]
const mount: Access[] = [{ type: 'repository', name: 'a', actions: ['pull', 'push'] }, { type: 'repository', name: 'b', actions: ['pull'] }]
const catalog: Access[] = [{ type: 'registry', name: 'catalog', actions: ['*'] }]

/** A controller that records its calls and answers as told. */
function inner (answer: (request: FastifyRequest, access: Access[]) => Grant): AccessController & { calls: number } {
  const spy = {
    calls: 0,
    async authorized (request: FastifyRequest, access: Access[]): Promise<Grant> {
      spy.calls++
      return answer(request, access)
    }
  }
  return spy
}
const challenge = (reason: 'missing' | 'invalid' | 'insufficient_scope', user?: { name: string }) => (_request: FastifyRequest, access: Access[]): Grant => {
  throw new AuthChallenge('Bearer realm="r",service="s"', access, reason, user)
}

t.test('a pull-only route without credentials is let in without asking the wrapped controller', async (t) => {
  const wrapped = inner(challenge('missing'))
  const controller = new AnonymousPullAccessController(wrapped)
  t.same(await controller.authorized(fakeRequest(), pull), { access: pull })
  t.same(await controller.authorized(fakeRequest({ authorization: '  ' }), pull), { access: pull }, 'a blank header is no credential')
  t.equal(wrapped.calls, 0)
})

t.test('push, mount, delete, the catalog and the base route are still challenged', async (t) => {
  const controller = new AnonymousPullAccessController(inner(challenge('missing')))
  for (const access of [push, mount, catalog, [], [{ type: 'repository', name: 'a', actions: ['delete'] }]]) {
    await t.rejects(controller.authorized(fakeRequest(), access), { name: 'AuthChallenge', status: 401, reason: 'missing' }, JSON.stringify(access))
  }
})

t.test('a request with credentials is checked: a bad credential is refused even for pull', async (t) => {
  const controller = new AnonymousPullAccessController(inner(challenge('invalid')))
  await t.rejects(controller.authorized(fakeRequest(bearer('forged')), pull), { name: 'AuthChallenge', reason: 'invalid' })
  const failing = new AnonymousPullAccessController(inner(() => { throw new RegistryError('DENIED') }))
  await t.rejects(failing.authorized(fakeRequest(bearer('x')), pull), { name: 'RegistryError', code: 'DENIED' }, 'other errors pass through')
})

t.test('a good credential lacking pull still pulls (worth at least no credential), but not more', async (t) => {
  const controller = new AnonymousPullAccessController(inner(challenge('insufficient_scope', { name: 'dave' })))
  t.same(await controller.authorized(fakeRequest(bearer('valid')), pull), { user: { name: 'dave' }, access: pull })
  await t.rejects(controller.authorized(fakeRequest(bearer('valid')), push), { name: 'AuthChallenge', reason: 'insufficient_scope' })
  const nameless = new AnonymousPullAccessController(inner(challenge('insufficient_scope')))
  t.same(await nameless.authorized(fakeRequest(bearer('valid')), pull), { access: pull })
})

t.test('a good credential is passed through with its grant', async (t) => {
  const controller = new AnonymousPullAccessController(inner((_request, access) => ({ user: { name: 'erin' }, access })))
  t.same(await controller.authorized(fakeRequest(bearer('valid')), push), { user: { name: 'erin' }, access: push })
  t.same(await controller.authorized(fakeRequest(bearer('valid')), pull), { user: { name: 'erin' }, access: pull })
})
