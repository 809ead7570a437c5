import t from 'tap'
import Fastify, { type FastifyRequest } from 'fastify'
import { pino } from 'pino'
import { authorize } from '../lib/authorize.js'
import { Context, RegistryError, registry, UrlBuilder, type Access, type AccessController, type Grant } from '../lib/index.js'
import { routesByName } from '../routes/table.js'
import { fakeRequest, firstError } from './helpers/auth.js'

/** An access controller that records what it is asked and answers with `answer`. */
function spy (answer: (access: Access[]) => Grant = (access) => ({ user: { name: 'spy' }, access })): AccessController & { asked: Access[][] } {
  const controller = {
    asked: [] as Access[][],
    async authorized (_request: FastifyRequest, access: Access[]): Promise<Grant> {
      controller.asked.push(access)
      return answer(access)
    }
  }
  return controller
}

const digest = `sha256:${'a'.repeat(64)}`

t.test('a scoped route whose Context has no name is refused before the controller is asked', async (t) => {
  const controller = spy()
  for (const name of ['tags', 'manifest', 'blob', 'blob-upload', 'blob-upload-chunk', 'referrers'] as const) {
    const context = new Context({ route: routesByName[name], urls: new UrlBuilder(), log: pino({ level: 'silent' }) })
    const error = await authorize(fakeRequest(), context, { accessController: controller }).catch((error: unknown) => error)
    t.type(error, RegistryError, name)
    t.equal((error as RegistryError).code, 'NAME_INVALID', name)
  }
  t.equal(controller.asked.length, 0, 'the controller was never asked')
  const base = new Context({ route: routesByName.base, urls: new UrlBuilder(), log: pino({ level: 'silent' }) })
  t.same(await authorize(fakeRequest({ 'x': 'y' }), base, { accessController: controller }), { user: { name: 'spy' }, access: [] }, 'the base route needs no name')
  t.same(controller.asked, [[]])
})

t.test('through the plugin: the controller is asked for exactly what each route needs, and its grant is kept', async (t) => {
  const controller = spy()
  const app = Fastify()
  const grants: unknown[] = []
  app.addHook('onResponse', async (request) => { grants.push(request.registry?.grant) })
  await app.register(registry, { storage: { inmemory: {} }, uploadState: { secret: 's' }, accessController: controller, delete: { enabled: true } })
  t.teardown(async () => await app.close())

  const repo = (name: string, ...actions: string[]): Access => ({ type: 'repository', name, actions })
  const cases: Array<[string, string, Access[]]> = [
    ['GET', '/v2/', []],
    ['GET', '/v2/_catalog', [{ type: 'registry', name: 'catalog', actions: ['*'] }]],
    ['GET', '/v2/a/b/tags/list', [repo('a/b', 'pull')]],
    ['HEAD', `/v2/a/manifests/${digest}`, [repo('a', 'pull')]],
    ['PUT', '/v2/a/manifests/latest', [repo('a', 'pull', 'push')]],
    ['DELETE', '/v2/a/manifests/latest', [repo('a', 'delete')]],
    ['GET', `/v2/a/blobs/${digest}`, [repo('a', 'pull')]],
    ['DELETE', `/v2/a/blobs/${digest}`, [repo('a', 'delete')]],
    ['POST', '/v2/a/blobs/uploads/', [repo('a', 'pull', 'push')]],
    ['POST', `/v2/a/blobs/uploads/?mount=${digest}&from=b/c`, [repo('a', 'pull', 'push'), repo('b/c', 'pull')]],
    ['POST', `/v2/a/blobs/uploads/?mount=${digest}&from=b/c&from=d`, [repo('a', 'pull', 'push'), repo('b/c', 'pull')]],
    ['POST', `/v2/a/blobs/uploads/?mount=${digest}&from=a`, [repo('a', 'pull', 'push')]],
    ['PATCH', '/v2/a/blobs/uploads/0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9', [repo('a', 'pull', 'push')]],
    ['GET', '/v2/a/blobs/uploads/0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9', [repo('a', 'pull', 'push')]],
    ['DELETE', '/v2/a/blobs/uploads/0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9', [repo('a', 'pull', 'push')]],
    ['GET', `/v2/a/referrers/${digest}`, [repo('a', 'pull')]]
  ]
  for (const [method, url, access] of cases) {
    controller.asked.length = 0
    grants.length = 0
    await app.inject({ method: method as 'GET', url })
    t.same(controller.asked, [access], `${method} ${url}`)
    t.same(grants, [{ user: { name: 'spy' }, access }], `${method} ${url}: the grant is on the Context`)
  }

  controller.asked.length = 0
  const invalid = await app.inject({ method: 'GET', url: '/v2/Bad/Name/tags/list' })
  t.equal(invalid.statusCode, 400)
  t.equal(controller.asked.length, 0, 'an invalid name is refused before the controller is asked')
})

t.test('a denial is answered as the controller made it, before any body is read', async (t) => {
  const controller = spy((access) => { throw new RegistryError('UNAUTHORIZED', { headers: { 'WWW-Authenticate': 'Custom realm="x"' }, detail: access }) })
  const app = Fastify()
  await app.register(registry, { storage: { inmemory: {} }, uploadState: { secret: 's' }, accessController: controller })
  t.teardown(async () => await app.close())
  const response = await app.inject({ method: 'PUT', url: '/v2/a/manifests/latest', payload: '{"not":"read"}', headers: { 'content-type': 'application/json' } })
  t.equal(response.statusCode, 401)
  t.equal(response.headers['www-authenticate'], 'Custom realm="x"')
  t.same(firstError(response.body), { code: 'UNAUTHORIZED', message: 'authentication required', detail: [{ type: 'repository', name: 'a', actions: ['pull', 'push'] }] })
})
