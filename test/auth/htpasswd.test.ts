import t, { type Test } from 'tap'
import { mkdir, rm, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import { pino } from 'pino'
import { AuthChallenge, HtpasswdAccessController, RegistryConfigError, type Access, type Grant } from '../../lib/index.js'
import { BcryptPool } from '../../lib/auth/bcrypt-pool.js'
import { tempDir } from '../helpers/registry.js'
import { basic, fakeRequest, htpasswdLine } from '../helpers/auth.js'

const access: Access[] = [{ type: 'repository', name: 'a', actions: ['pull', 'push'] }]
const REALM = 'Registry Realm'

/** A real pool that records every compare it runs (password and hash). */
class RecordingPool extends BcryptPool {
  readonly calls: Array<{ password: string, hash: string }> = []
  protected override async compare (password: string, hash: string): Promise<boolean> {
    this.calls.push({ password, hash })
    return await super.compare(password, hash)
  }
}

async function file (t: Test, lines: string[]): Promise<string> {
  const dir = await tempDir()
  t.teardown(dir.cleanup)
  const path = join(dir.path, 'htpasswd')
  await writeFile(path, lines.join('\n') + '\n')
  return path
}

/** Rewrites the file and moves its mtime, so the change is seen whatever the clock's resolution. */
let generation = 0
async function rewrite (path: string, lines: string[]): Promise<void> {
  await writeFile(path, lines.join('\n') + '\n')
  const when = new Date(Date.UTC(2030, 0, 1) + ++generation * 1000)
  await utimes(path, when, when)
}

async function attempt (controller: HtpasswdAccessController, user: string, password: string): Promise<Grant | AuthChallenge> {
  return await controller.authorized(fakeRequest(basic(user, password)), access).catch((error: AuthChallenge) => error)
}

function memoryLogger (): { log: FastifyBaseLogger, lines: Array<{ level: number, msg: string }> } {
  const lines: Array<{ level: number, msg: string }> = []
  const log = pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line) as { level: number, msg: string }) } }) as FastifyBaseLogger
  return { log, lines }
}

t.test('bcrypt users in every prefix are let in with every access; others get a Basic challenge', async (t) => {
  const path = await file(t, [htpasswdLine('alice', 'a-pass', '$2y$'), htpasswdLine('bob', 'b-pass', '$2a$'), htpasswdLine('carol', 'c-pass', '$2b$')])
  const controller = await HtpasswdAccessController.load({ realm: REALM, path })
  t.equal(controller.users, 3)
  for (const [user, password] of [['alice', 'a-pass'], ['bob', 'b-pass'], ['carol', 'c-pass']]) {
    t.same(await attempt(controller, user, password), { user: { name: user }, access }, user)
  }
  for (const [label, headers] of [['none', {}], ['bearer', { authorization: 'Bearer x' }], ['wrong password', basic('alice', 'b-pass')], ['unknown user', basic('mallory', 'a-pass')], ['user in another case', basic('Alice', 'a-pass')]] as const) {
    const error = await controller.authorized(fakeRequest(headers), access).catch((error: unknown) => error)
    t.type(error, AuthChallenge, label)
    t.equal((error as AuthChallenge).status, 401)
    t.same((error as AuthChallenge).headers, { 'WWW-Authenticate': 'Basic realm="Registry Realm"' }, label)
    t.equal((error as AuthChallenge).reason, label === 'none' || label === 'bearer' ? 'missing' : 'invalid', label)
  }
})

t.test('a missing, unreadable or invalid file stops loading, naming the option and the line', async (t) => {
  const dir = await tempDir()
  t.teardown(dir.cleanup)
  const load = async (path: string): Promise<unknown> => await HtpasswdAccessController.load({ realm: REALM, path }).then(() => undefined, (error: unknown) => error)

  const missing = await load(join(dir.path, 'nope'))
  t.type(missing, RegistryConfigError)
  t.equal((missing as RegistryConfigError).option, 'auth.htpasswd.path')
  t.match((missing as Error).message, /ENOENT/)

  await mkdir(join(dir.path, 'a-directory'))
  t.match(await load(join(dir.path, 'a-directory')), { option: 'auth.htpasswd.path', message: /EISDIR/ })

  for (const [label, line, reason] of [
    ['SHA', 'bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=', /SHA-1/],
    ['apr1', 'bob:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/', /Apache MD5/],
    ['crypt', 'bob:rqXexS6ZhobKA', /crypt/],
    ['plain', 'bob:hunter2', /plain-text/]
  ] as const) {
    const path = join(dir.path, `bad-${label}`)
    await writeFile(path, `${htpasswdLine('alice', 'x')}\n${line}\n`)
    const error = await load(path)
    t.type(error, RegistryConfigError, label)
    t.equal((error as RegistryConfigError).option, 'auth.htpasswd.path')
    t.match((error as Error).message, /line 2 \(user "bob"\)/, `${label}: names the line`)
    t.match((error as Error).message, reason, label)
    t.notMatch((error as Error).message, 'hunter2')
  }
})

t.test('an unknown user costs a compare against a hash of the file\'s cost', async (t) => {
  const path = await file(t, [htpasswdLine('alice', 'a-pass')])
  const bcrypt = new RecordingPool()
  const controller = await HtpasswdAccessController.load({ realm: REALM, path }, { bcrypt })
  const calls = bcrypt.calls
  t.type(await attempt(controller, 'mallory', 'guess'), AuthChallenge)
  t.equal(calls.length, 1, 'one compare for a user who does not exist')
  t.match(calls[0].hash, /^\$2b\$04\$/, 'at the cost of the real entries')
  t.equal(calls[0].password, 'guess')
})

t.test('successes are remembered briefly, failures never; concurrent requests share one compare', async (t) => {
  const path = await file(t, [htpasswdLine('alice', 'a-pass')])
  const bcrypt = new RecordingPool()
  const controller = await HtpasswdAccessController.load({ realm: REALM, path }, { bcrypt })
  const calls = bcrypt.calls
  await Promise.all([attempt(controller, 'alice', 'a-pass'), attempt(controller, 'alice', 'a-pass'), attempt(controller, 'alice', 'a-pass')])
  t.equal(calls.length, 1, 'three concurrent requests, one compare')
  t.same(await attempt(controller, 'alice', 'a-pass'), { user: { name: 'alice' }, access })
  t.equal(calls.length, 1, 'then served from the cache')
  await attempt(controller, 'alice', 'wrong')
  await attempt(controller, 'alice', 'wrong')
  t.equal(calls.length, 3, 'every wrong guess pays a compare')

  const uncached = await HtpasswdAccessController.load({ realm: REALM, path }, { cacheTtlMs: 0, bcrypt })
  await attempt(uncached, 'alice', 'a-pass')
  await attempt(uncached, 'alice', 'a-pass')
  t.equal(calls.length, 5, 'cacheTtlMs 0 turns the cache off')
})

t.test('the file is re-read when it changes: new users, removed users, changed passwords', async (t) => {
  const path = await file(t, [htpasswdLine('alice', 'a-pass')])
  const { log, lines } = memoryLogger()
  const controller = await HtpasswdAccessController.load({ realm: REALM, path }, { checkIntervalMs: 0, log })
  t.same(await attempt(controller, 'alice', 'a-pass'), { user: { name: 'alice' }, access }, 'alice is in (and cached)')
  t.type(await attempt(controller, 'bob', 'b-pass'), AuthChallenge)

  await rewrite(path, [htpasswdLine('bob', 'b-pass')])
  t.same(await attempt(controller, 'bob', 'b-pass'), { user: { name: 'bob' }, access }, 'bob was added')
  t.type(await attempt(controller, 'alice', 'a-pass'), AuthChallenge, 'alice was removed, cache or not')
  t.ok(lines.some((line) => line.msg === 'htpasswd file reloaded'), 'the reload is logged')

  await rewrite(path, [htpasswdLine('bob', 'new-b-pass')])
  t.type(await attempt(controller, 'bob', 'b-pass'), AuthChallenge, 'the old password stops working, cache or not')
  t.same(await attempt(controller, 'bob', 'new-b-pass'), { user: { name: 'bob' }, access })
})

t.test('changes are looked for at most once per interval; reload() looks now', async (t) => {
  const path = await file(t, [htpasswdLine('alice', 'a-pass')])
  const controller = await HtpasswdAccessController.load({ realm: REALM, path }, { checkIntervalMs: 3_600_000 })
  await rewrite(path, [htpasswdLine('bob', 'b-pass')])
  t.type(await attempt(controller, 'bob', 'b-pass'), AuthChallenge, 'not looked at yet')
  await controller.reload()
  t.same(await attempt(controller, 'bob', 'b-pass'), { user: { name: 'bob' }, access })
})

t.test('a file that becomes invalid or disappears keeps the last good users, logging one error', async (t) => {
  const path = await file(t, [htpasswdLine('alice', 'a-pass')])
  const { log, lines } = memoryLogger()
  const controller = await HtpasswdAccessController.load({ realm: REALM, path }, { checkIntervalMs: 0, log, cacheTtlMs: 0 })

  await rewrite(path, [htpasswdLine('alice', 'a-pass'), 'bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g='])
  t.same(await attempt(controller, 'alice', 'a-pass'), { user: { name: 'alice' }, access }, 'alice still in')
  t.type(await attempt(controller, 'bob', 'anything'), AuthChallenge, 'bob never got in')
  await attempt(controller, 'alice', 'a-pass')
  const errors = lines.filter((line) => line.level === 50)
  t.equal(errors.length, 1, 'one error for one bad version')
  t.match(errors[0].msg, /line 2 \(user "bob"\) has a SHA-1/)
  t.match(errors[0].msg, /keeping the 1 users read before/)

  await rewrite(path, ['garbage line'])
  t.same(await attempt(controller, 'alice', 'a-pass'), { user: { name: 'alice' }, access }, 'a second bad version: still the last good users')
  t.equal(lines.filter((line) => line.level === 50).length, 2)

  await rm(path)
  t.same(await attempt(controller, 'alice', 'a-pass'), { user: { name: 'alice' }, access }, 'deleted: still the last good users')
  t.match(lines.filter((line) => line.level === 50).at(-1)?.msg, /ENOENT/)

  await rewrite(path, [htpasswdLine('carol', 'c-pass')])
  t.same(await attempt(controller, 'carol', 'c-pass'), { user: { name: 'carol' }, access }, 'a good version is picked up again')
  t.type(await attempt(controller, 'alice', 'a-pass'), AuthChallenge)
})
