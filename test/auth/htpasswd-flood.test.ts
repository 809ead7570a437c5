// A flood of wrong passwords against a real listening registry: guesses over
// the compare cap get 429 with Retry-After at once, while a verified user is
// served from the credential cache with every slot taken.
import t, { type Test } from 'tap'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { hash } from '@node-rs/bcrypt'
import type { FastifyInstance } from 'fastify'
import { BcryptPool } from '../../lib/auth/bcrypt-pool.js'
import { HtpasswdAccessController, type RegistryOptions } from '../../lib/index.js'
import { buildRegistry, tempDir } from '../helpers/registry.js'
import { basic, firstError } from '../helpers/auth.js'

const REALM = 'Registry Realm'

interface Answer { status: number, headers: IncomingHttpHeaders, body: string }

/** One request on a fresh connection from `from` (any 127.0.0.0/8 address is local on Linux). */
async function send (app: FastifyInstance, from: string, options: { path?: string, method?: string, headers?: Record<string, string>, body?: Buffer } = {}): Promise<Answer> {
  const { port } = app.server.address() as AddressInfo
  return await new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port, localAddress: from, agent: false, method: options.method ?? 'GET', path: options.path ?? '/v2/', headers: options.headers }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => { body += chunk })
      response.on('end', () => { resolve({ status: response.statusCode ?? 0, headers: response.headers, body }) })
    })
    request.on('error', reject)
    request.end(options.body)
  })
}

async function htpasswd (t: Test, users: Array<[string, string, number]>): Promise<string> {
  const dir = await tempDir()
  t.teardown(dir.cleanup)
  const path = join(dir.path, 'htpasswd')
  const lines = await Promise.all(users.map(async ([user, password, cost]) => `${user}:${(await hash(password, cost)).replace(/^\$2b\$/, '$2y$')}`))
  await writeFile(path, lines.join('\n') + '\n')
  return path
}

async function listening (t: Test, options: RegistryOptions): Promise<FastifyInstance> {
  const app = await buildRegistry(options)
  t.teardown(async () => { await app.close() })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return app
}

/** Waits until `pool` runs `count` compares (they take seconds at cost 14; this takes milliseconds). */
async function untilRunning (pool: BcryptPool, count: number): Promise<void> {
  for (let tries = 0; pool.running !== count; tries++) {
    if (tries > 6000) throw new Error(`the pool never ran ${count} compares (it runs ${pool.running})`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

function assertTooMany (t: Test, answer: Answer, label: string, message: RegExp): void {
  t.equal(answer.status, 429, `${label}: 429`)
  t.equal(answer.headers['retry-after'], '1', `${label}: Retry-After`)
  t.notOk(answer.headers['www-authenticate'], `${label}: not a challenge, the credential was not judged`)
  t.equal(firstError(answer.body).code, 'TOOMANYREQUESTS', label)
  t.match(firstError(answer.body).message, message, label)
}

t.test('with every compare slot taken by guesses, verified users are served, and further guesses get 429 at once', async (t) => {
  // alice's cost-4 entry verifies fast; guesses at bob's cost-14 entry hold their slot for a second or more.
  const path = await htpasswd(t, [['alice', 'a-pass', 4], ['bob', 'b-pass', 14], ['carol', 'c-pass', 4]])
  const pool = new BcryptPool({ concurrent: 2, perSource: 1 })
  const controller = await HtpasswdAccessController.load({ realm: REALM, path }, { bcrypt: pool })
  const app = await listening(t, { accessController: controller })

  t.equal((await send(app, '127.0.0.9', { headers: basic('alice', 'a-pass') })).status, 200, 'alice verifies (and is cached)')
  t.equal(pool.started, 1)

  const guessA = send(app, '127.0.0.2', { headers: basic('bob', 'guess-1') })
  await untilRunning(pool, 1)
  assertTooMany(t, await send(app, '127.0.0.2', { headers: basic('bob', 'guess-2') }), 'a second guess from the same source', /from this client/)
  const guessB = send(app, '127.0.0.3', { headers: basic('bob', 'guess-3') })
  await untilRunning(pool, 2)
  assertTooMany(t, await send(app, '127.0.0.4', { headers: basic('bob', 'guess-4') }), 'a guess from a third source', /too many password checks are in progress/)
  assertTooMany(t, await send(app, '127.0.0.4', { headers: basic('nobody', 'guess-5') }), 'a guess at a user who does not exist', /in progress/)
  const pushed = await send(app, '127.0.0.4', { method: 'POST', path: '/v2/team/app/blobs/uploads/', headers: { ...basic('bob', 'guess-6'), 'content-type': 'application/octet-stream' }, body: Buffer.alloc(64 * 1024) })
  assertTooMany(t, pushed, 'a guess carrying a body', /in progress/)
  t.equal(pushed.headers.connection, 'close', 'with a body unread, the connection is closed')

  for (let request = 0; request < 20; request++) {
    const answer = await send(app, '127.0.0.9', { headers: basic('alice', 'a-pass') })
    if (answer.status !== 200) t.fail(`alice's request ${request}: ${answer.status}`)
  }
  t.pass('alice got 20 answers of 200 in a row')
  t.equal(pool.running, 2, 'while both slots were still taken by guesses')
  assertTooMany(t, await send(app, '127.0.0.5', { headers: basic('carol', 'c-pass') }), 'a right password never verified before still needs a slot', /in progress/)
  t.equal(pool.started, 3, 'refused guesses started no compare')

  for (const [label, guess] of [['first guess', guessA], ['third guess', guessB]] as const) {
    const answer = await guess
    t.equal(answer.status, 401, `${label}: judged, and wrong`)
    t.equal(answer.headers['www-authenticate'], `Basic realm="${REALM}"`, label)
  }
  t.equal(pool.running, 0)
  t.equal((await send(app, '127.0.0.5', { headers: basic('carol', 'c-pass') })).status, 200, 'with slots free again, carol verifies')
  t.equal((await send(app, '127.0.0.2', { headers: basic('bob', 'b-pass') })).status, 200, 'and bob, from the guessing source')
})

t.test('the plugin\'s auth.htpasswd options set the cap', async (t) => {
  const path = await htpasswd(t, [['bob', 'b-pass', 14]])
  const app = await listening(t, { auth: { htpasswd: { realm: REALM, path, concurrentCompares: 1 } } })
  const answers = await Promise.all(['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'].map(async (from, index) => await send(app, from, { headers: basic('bob', `guess-${index}`) })))
  const statuses = answers.map((answer) => answer.status).sort()
  t.equal(statuses.filter((status) => status === 401).length, 1, `one slot: one guess judged (${statuses.join(' ')})`)
  t.equal(statuses.filter((status) => status === 429).length, 4, 'the others refused')
  for (const answer of answers.filter((answer) => answer.status === 429)) t.equal(answer.headers['retry-after'], '1')

  for (const [label, value] of [['zero', 0], ['a fraction', 1.5], ['a string', '2']] as const) {
    const error = await buildRegistry({ auth: { htpasswd: { realm: REALM, path, concurrentCompares: value as number } } }).then(async (app) => { await app.close() }, (error: unknown) => error)
    t.match(error, { option: 'auth.htpasswd.concurrentCompares' }, `${label} is refused, naming the option`)
  }
  const error = await buildRegistry({ auth: { htpasswd: { realm: REALM, path, concurrentComparesPerSource: 0 } } }).then(async (app) => { await app.close() }, (error: unknown) => error)
  t.match(error, { option: 'auth.htpasswd.concurrentComparesPerSource' })
})
