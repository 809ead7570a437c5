import t from 'tap'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { setTimeout as sleep } from 'node:timers/promises'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { registry, type RegistryOptions } from '../../lib/index.js'
import { UploadPurger } from '../../lib/operations/upload-purger.js'
import { InMemoryDriver } from '../../lib/storage/inmemory.js'
import { paths } from '../../lib/store/paths.js'
import { DEFAULT_UPLOAD_PURGING } from '../../lib/options.js'

const HOUR = 60 * 60 * 1000

interface LogLine { level: number, msg: string, [key: string]: unknown }

function capture (): { logger: FastifyBaseLogger, lines: LogLine[] } {
  const lines: LogLine[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split('\n')) if (text !== '') lines.push(JSON.parse(text) as LogLine)
      done()
    }
  })
  return { logger: pino({ level: 'debug' }, stream) as unknown as FastifyBaseLogger, lines }
}

async function build (driver: InMemoryDriver, options: RegistryOptions = {}): Promise<{ app: FastifyInstance, lines: LogLine[] }> {
  const { logger, lines } = capture()
  const app = Fastify({ loggerInstance: logger })
  await app.register(registry, { storage: driver, uploadState: { secret: 's' }, ...options })
  await app.ready()
  return { app, lines }
}

/** Starts an upload through the registry and returns its id. */
async function startUpload (app: FastifyInstance, name: string): Promise<string> {
  const response = await app.inject({ method: 'POST', url: `/v2/${name}/blobs/uploads/` })
  return String(response.headers['docker-upload-uuid'])
}

async function exists (driver: InMemoryDriver, path: string): Promise<boolean> {
  try {
    await driver.stat(path)
    return true
  } catch {
    return false
  }
}

/** Makes an upload look started `age` milliseconds ago, as its startedat file says. */
async function age (driver: InMemoryDriver, name: string, uuid: string, ms: number): Promise<void> {
  await driver.putContent(paths.uploadStartedAt(name, uuid), Buffer.from(new Date(Date.now() - ms).toISOString()))
}

async function until (condition: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const end = Date.now() + ms
  while (!await condition()) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await sleep(5)
  }
}

t.test('defaults are distribution\'s: on, 168h, every 24h, not a dry run', async (t) => {
  t.match(DEFAULT_UPLOAD_PURGING, { enabled: true, age: 168 * HOUR, interval: 24 * HOUR, dryRun: false })
  t.ok(DEFAULT_UPLOAD_PURGING.delay > 0 && DEFAULT_UPLOAD_PURGING.delay <= 5 * 60_000, 'the first run comes after a short delay')
  const driver = new InMemoryDriver()
  const { app, lines } = await build(driver)
  t.teardown(async () => await app.close())
  t.match(lines.find((line) => line.msg === 'upload purging scheduled'), { ageMs: 168 * HOUR, intervalMs: 24 * HOUR, dryRun: false, firstRunInMs: DEFAULT_UPLOAD_PURGING.delay })
})

t.test('an upload older than the age is removed on the interval; a young one stays; the run is logged', async (t) => {
  const driver = new InMemoryDriver()
  const { app, lines } = await build(driver, { maintenance: { uploadPurging: { age: HOUR, interval: 40, delay: 60_000 } } })
  t.teardown(async () => await app.close())
  const old = await startUpload(app, 'a/b')
  const young = await startUpload(app, 'a/b')
  const patched = await app.inject({ method: 'PATCH', url: `/v2/a/b/blobs/uploads/${old}`, payload: Buffer.from('partial') })
  t.equal(patched.statusCode, 202)
  await age(driver, 'a/b', old, 2 * HOUR)
  await sleep(100)
  t.ok(await exists(driver, paths.uploadDir('a/b', old)), 'nothing before the first run')

  // A second registry on the same storage, whose first run comes at once.
  const { app: soon, lines: soonLines } = await build(driver, { maintenance: { uploadPurging: { age: HOUR, interval: 40, delay: 0 } } })
  t.teardown(async () => await soon.close())
  await until(async () => !await exists(driver, paths.uploadDir('a/b', old)))
  t.ok(await exists(driver, paths.uploadDir('a/b', young)), 'the young upload stays')
  const summary = soonLines.find((line) => /^upload purge: 1 upload removed$/.test(line.msg))
  t.match(summary, { level: 30, count: 1, dryRun: false, uploads: [{ name: 'a/b', uuid: old }] })
  t.same(lines.filter((line) => line.msg.startsWith('upload purge:')), [], 'the first registry has not run yet')

  // Every interval: another old upload goes on the next run.
  const later = await startUpload(app, 'c')
  await age(driver, 'c', later, 3 * HOUR)
  await until(async () => !await exists(driver, paths.uploadDir('c', later)))
  await until(() => soonLines.filter((line) => line.msg.startsWith('upload purge: 0 uploads removed')).length >= 1)
  t.equal((await app.inject({ method: 'GET', url: `/v2/a/b/blobs/uploads/${old}` })).statusCode, 404, 'the purged upload is unknown')
  t.equal((await app.inject({ method: 'GET', url: `/v2/a/b/blobs/uploads/${young}` })).statusCode, 204)
})

t.test('dry run: the old upload is reported and kept', async (t) => {
  const driver = new InMemoryDriver()
  const { app, lines } = await build(driver, { maintenance: { uploadPurging: { age: HOUR, interval: 1000, delay: 0, dryRun: true } } })
  t.teardown(async () => await app.close())
  await until(() => lines.some((line) => line.msg.startsWith('upload purge (dry run)')))
  const old = await startUpload(app, 'r')
  await age(driver, 'r', old, 2 * HOUR)
  const { app: second, lines: secondLines } = await build(driver, { maintenance: { uploadPurging: { age: HOUR, interval: 1000, delay: 0, dryRun: true } } })
  t.teardown(async () => await second.close())
  await until(() => secondLines.some((line) => line.msg.startsWith('upload purge (dry run)')))
  t.match(secondLines.find((line) => line.msg.startsWith('upload purge (dry run)')), { msg: 'upload purge (dry run): 1 upload would be removed', count: 1, dryRun: true, uploads: [{ name: 'r', uuid: old }] })
  t.ok(await exists(driver, paths.uploadDir('r', old)), 'kept')
})

t.test('timers stop on close; disabled and read-only registries never purge', async (t) => {
  const driver = new InMemoryDriver()
  const { app, lines } = await build(driver, { maintenance: { uploadPurging: { age: HOUR, interval: 20, delay: 0 } } })
  await until(() => lines.filter((line) => line.msg.startsWith('upload purge:')).length >= 2)
  await app.close()
  const runs = lines.filter((line) => line.msg.startsWith('upload purge:')).length
  // Put an old upload where the closed registry would have found it.
  const uuid = '3f1d2c4b-0000-4000-8000-000000000001'
  await driver.putContent(paths.uploadStartedAt('r', uuid), Buffer.from(new Date(Date.now() - 2 * HOUR).toISOString()))
  await sleep(100)
  t.equal(lines.filter((line) => line.msg.startsWith('upload purge:')).length, runs, 'no run after close')
  t.ok(await exists(driver, paths.uploadDir('r', uuid)))

  for (const maintenance of [{ uploadPurging: { enabled: false, delay: 0, interval: 10 } }, { readOnly: { enabled: true }, uploadPurging: { delay: 0, interval: 10 } }]) {
    const { app: idle, lines: idleLines } = await build(driver, { maintenance })
    await sleep(60)
    t.ok(await exists(driver, paths.uploadDir('r', uuid)), JSON.stringify(maintenance))
    t.notOk(idleLines.some((line) => line.msg.startsWith('upload purg')), 'not scheduled, never run')
    await idle.close()
  }
})

t.test('the purger: never overlaps itself, logs failures and carries on, waits for its run on stop', async (t) => {
  let release: (() => void) | undefined
  let calls = 0
  let failing = false
  class SlowDriver extends InMemoryDriver {
    override async list (path: string): Promise<string[]> {
      calls++
      if (failing) throw new Error('listing failed')
      if (release === undefined) await new Promise<void>((resolve) => { release = resolve })
      return await super.list(path)
    }
  }
  const { logger, lines } = capture()
  const purger = new UploadPurger({ ...DEFAULT_UPLOAD_PURGING, delay: 0, interval: 5, driver: new SlowDriver(), log: logger })
  purger.start()
  purger.start()
  await until(() => calls === 1)
  await sleep(30)
  t.equal(calls, 1, 'no second run while the first is going, whatever the interval')
  t.ok(purger.running)
  const joined = purger.run()
  release!()
  t.same(await joined, [], 'a run asked for meanwhile joins the one going')
  await until(() => calls >= 3)

  failing = true
  await until(() => lines.filter((line) => line.msg.startsWith('upload purge failed')).length >= 2)
  t.match(lines.find((line) => line.msg.startsWith('upload purge failed')), { level: 50, err: { message: 'listing failed' } })
  t.equal(await purger.run(), undefined, 'a failed run resolves; it never throws')
  failing = false
  release = undefined
  const stopping = purger.stop()
  await sleep(10)
  ;(release as (() => void) | undefined)?.()
  await stopping
  const after = calls
  await sleep(30)
  t.equal(calls, after, 'stopped')
  t.notOk(purger.running)
  purger.start()
  await sleep(20)
  t.equal(calls, after, 'a stopped purger does not start again')
})
