import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { setTimeout as sleep } from 'node:timers/promises'
import { registry, type RegistryOptions } from '../../lib/index.js'
import { RegistryHandle } from '../../lib/operations/handle.js'
import { registryHealth, type RegistryHealthOptions } from '../../lib/operations/health-plugin.js'
import { InMemoryDriver } from '../../lib/storage/inmemory.js'
import type { FileInfo } from '../../lib/storage/driver.js'

class FlakyDriver extends InMemoryDriver {
  failing = false
  hanging = false
  stats = 0
  override async stat (path: string): Promise<FileInfo> {
    this.stats++
    if (this.hanging) return await new Promise(() => {})
    if (this.failing) throw new Error('EIO: the disk went away')
    return await super.stat(path)
  }
}

async function build (health: Omit<RegistryHealthOptions, 'handle'> = {}, options: RegistryOptions = {}): Promise<{ app: FastifyInstance, driver: FlakyDriver }> {
  const driver = new FlakyDriver()
  const handle = new RegistryHandle()
  const app = Fastify()
  await app.register(registry, { storage: driver, uploadState: { secret: 's' }, handle, ...options })
  await app.register(async (ops) => {
    ops.addHook('onRequest', async (request, reply) => {
      if (request.headers['x-ops'] !== 'yes') await reply.code(403).send({ error: 'ops only' })
    })
    await ops.register(registryHealth, { handle, ...health })
  }, { prefix: '/_ops' })
  await app.ready()
  return { app, driver }
}

async function health (app: FastifyInstance, url = '/_ops/health'): Promise<{ status: number, body: any, headers: Record<string, unknown> }> {
  const response = await app.inject({ method: 'GET', url, headers: { 'x-ops': 'yes' } })
  return { status: response.statusCode, body: response.json(), headers: response.headers }
}

async function until (condition: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms
  while (!condition()) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await sleep(5)
  }
}

t.test('healthy storage: 200, placed and protected by the host', async (t) => {
  const { app } = await build()
  t.teardown(async () => await app.close())
  t.equal((await app.inject({ method: 'GET', url: '/_ops/health' })).statusCode, 403, 'the host\'s hook guards it')
  t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 404, 'only where the host placed it')
  const answer = await health(app)
  t.equal(answer.status, 200)
  t.equal(answer.headers['cache-control'], 'no-store')
  t.match(answer.body, { status: 'ok', readOnly: false, checks: { storage: { status: 'ok', driver: 'inmemory', consecutiveFailures: 0, threshold: 1 } } })
  t.type(answer.body.checks.storage.checkedAt, 'string')
  t.notOk('error' in answer.body.checks.storage)
  t.equal(answer.headers['docker-distribution-api-version'], undefined, 'none of the registry\'s hooks run on it')
  const head = await app.inject({ method: 'HEAD', url: '/_ops/health', headers: { 'x-ops': 'yes' } })
  t.equal(head.statusCode, 200)
})

t.test('failing storage: 503 with a body saying so, after the threshold; healthy again after one success', async (t) => {
  const { app, driver } = await build({ storage: { interval: 20, threshold: 3 } })
  t.teardown(async () => await app.close())
  t.equal((await health(app)).status, 200)
  driver.failing = true
  const before = driver.stats
  await until(() => driver.stats >= before + 1)
  await sleep(1)
  const below = await health(app)
  if (below.body.checks.storage.consecutiveFailures < 3) {
    t.equal(below.status, 200, 'below the threshold: still healthy')
    t.equal(below.body.checks.storage.status, 'ok')
    t.match(below.body.checks.storage.error, /EIO/, 'the last failure is shown meanwhile')
  }
  await until(() => driver.stats >= before + 4)
  await sleep(1)
  const failing = await health(app)
  t.equal(failing.status, 503)
  t.match(failing.body, { status: 'unavailable', checks: { storage: { status: 'failing', driver: 'inmemory', threshold: 3, error: 'EIO: the disk went away' } } })
  t.ok(failing.body.checks.storage.consecutiveFailures >= 3)

  driver.failing = false
  const again = driver.stats
  await until(() => driver.stats >= again + 2)
  const healthy = await health(app)
  t.equal(healthy.status, 200)
  t.equal(healthy.body.checks.storage.consecutiveFailures, 0)
  t.notOk('error' in healthy.body.checks.storage)
})

t.test('a storage check that hangs fails after the timeout', async (t) => {
  const { app, driver } = await build({ storage: { interval: 1000, timeout: 30 } })
  t.teardown(async () => await app.close())
  driver.hanging = true
  await sleep(1)
  const started = Date.now()
  // The first check went through before it hung; ask for another through the next tick.
  await until(() => driver.stats >= 2, 3000)
  await until(() => Date.now() - started > 40)
  await sleep(40)
  const answer = await health(app)
  t.equal(answer.status, 503)
  t.match(answer.body.checks.storage.error, /did not answer within 30 ms/)
})

t.test('the first answer waits for the first check; read-only shows; storage checks can be off', async (t) => {
  const { app, driver } = await build({ url: '/ready', storage: { enabled: false } }, { maintenance: { readOnly: { enabled: true } } })
  t.teardown(async () => await app.close())
  driver.failing = true
  const answer = await health(app, '/_ops/ready')
  t.equal(answer.status, 200)
  t.same(answer.body, { status: 'ok', readOnly: true, checks: {} })
  t.equal(driver.stats, 0, 'storage never checked')

  const first = new FlakyDriver()
  first.failing = true
  const handle = new RegistryHandle()
  const other = Fastify()
  await other.register(registry, { storage: first, uploadState: { secret: 's' }, handle })
  await other.register(registryHealth, { handle })
  await other.ready()
  t.teardown(async () => await other.close())
  const immediate = await other.inject({ method: 'GET', url: '/health' })
  t.equal(immediate.statusCode, 503, 'a failure at start-up is reported at once')
  t.equal(immediate.json().checks.storage.status, 'failing')
})

t.test('timers stop on close; bad options and a handle without a registry stop start-up', async (t) => {
  const { app, driver } = await build({ storage: { interval: 10 } })
  await until(() => driver.stats >= 2)
  await app.close()
  const after = driver.stats
  await sleep(50)
  t.equal(driver.stats, after, 'no check after close')

  for (const [options, option] of [
    [{ storage: { interval: 0 } }, 'registryHealth.storage.interval'],
    [{ storage: { threshold: 1.5 } }, 'registryHealth.storage.threshold'],
    [{ url: 'health' }, 'registryHealth.url'],
    [{ bogus: 1 }, 'registryHealth.bogus']
  ] as const) {
    const bad = Fastify()
    await t.rejects(async () => { await bad.register(registryHealth, { handle: new RegistryHandle(), ...options } as RegistryHealthOptions).ready() }, { name: 'RegistryConfigError', option })
    await bad.close()
  }
  const orphan = Fastify()
  await orphan.register(registryHealth, { handle: new RegistryHandle() })
  await t.rejects(async () => { await orphan.ready() }, /belongs to no registered registry/)
  await orphan.close()

  // A handle serves one registry at a time.
  const handle = new RegistryHandle()
  const one = Fastify()
  await one.register(registry, { storage: { inmemory: {} }, uploadState: { secret: 's' }, handle })
  await one.ready()
  const two = Fastify()
  await t.rejects(async () => { await two.register(registry, { storage: { inmemory: {} }, uploadState: { secret: 's' }, handle }).ready() }, { name: 'RegistryConfigError', option: 'handle' })
  await two.close()
  t.ok(handle.attached)
  await one.close()
  t.notOk(handle.attached, 'free again once its registry closed')
  t.throws(() => handle.app, /belongs to no registered registry/)
})
