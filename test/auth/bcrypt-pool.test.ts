import t from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { hash as nativeHash } from '@node-rs/bcrypt'
import bcryptjs from 'bcryptjs'
import { BcryptPool, defaultConcurrentCompares, defaultConcurrentComparesPerSource } from '../../lib/auth/bcrypt-pool.js'
import { parseHtpasswd } from '../../lib/auth/htpasswd-file.js'
import { tempDir } from '../helpers/registry.js'

// Written by Apache's `htpasswd -nbB -C 5 <user> <password>` (apache2-utils 2.4.68), which writes `$2y$`.
const APACHE_HTPASSWD = [
  'alice:$2y$05$2huAxw.fzqrp3vLy740R0uA4DQm9/DxaCLsl7tGot4FwYZZHEfafO',
  'bob:$2y$05$FmgTlindc8AIgSfN81.6beEZZsCoDySBbBsvsS8wMC0AneHvwCwnK',
  'carol:$2y$05$PI.yN3esQ2EF44GF3EpNTOV0L6f2S9oD0Wq8drQrbDBJL4PcQV9xm'
].join('\n')
const APACHE_PASSWORDS: Record<string, string> = { alice: 'alice-Pässwort', bob: 'hunter2', carol: 'c a r o l' }

/** A pool with room for everything a test starts at once. */
const roomy = (): BcryptPool => new BcryptPool({ concurrent: 8, perSource: 8 })

async function compare (pool: BcryptPool, password: string, hash: string, source = 'test'): Promise<boolean> {
  const admission = pool.tryCompare(password, hash, source)
  if ('refused' in admission) throw new Error(`refused (${admission.refused})`)
  return await admission.started
}

t.test('$2y$ entries written by Apache htpasswd verify; wrong passwords do not', async (t) => {
  const pool = roomy()
  const entries = parseHtpasswd(APACHE_HTPASSWD)
  for (const [user, hash] of entries) {
    t.match(hash, /^\$2y\$05\$/)
    t.equal(await compare(pool, APACHE_PASSWORDS[user], hash), true, `${user}: the right password`)
    t.equal(await compare(pool, `${APACHE_PASSWORDS[user]}x`, hash), false, `${user}: one character more`)
    t.equal(await compare(pool, APACHE_PASSWORDS[user].slice(1), hash), false, `${user}: one character less`)
    t.equal(await compare(pool, APACHE_PASSWORDS[user].toUpperCase(), hash), false, `${user}: another case`)
  }
})

t.test('entries htpasswd writes now verify too', { skip: existsSync('/usr/bin/htpasswd') ? false : 'no /usr/bin/htpasswd (apt-get install apache2-utils)' }, async (t) => {
  const pool = roomy()
  const line = execFileSync('/usr/bin/htpasswd', ['-nbB', '-C', '4', 'dave', 'dave-pass'], { encoding: 'utf8' }).trim()
  const hash = parseHtpasswd(line).get('dave') as string
  t.match(hash, /^\$2y\$04\$/)
  t.equal(await compare(pool, 'dave-pass', hash), true)
  t.equal(await compare(pool, 'dave-pas', hash), false)
})

t.test('$2a$ and $2b$ from bcryptjs and the native hash verify', async (t) => {
  const pool = roomy()
  const js = bcryptjs.hashSync('secret', 4)
  const native = await nativeHash('secret', 4)
  for (const [label, hash] of [['bcryptjs $2b$', js], ['bcryptjs as $2a$', js.replace('$2b$', '$2a$')], ['bcryptjs as $2y$', js.replace('$2b$', '$2y$')], ['native', native]]) {
    t.equal(await compare(pool, 'secret', hash), true, label)
    t.equal(await compare(pool, 'Secret', hash), false, label)
    t.equal(await compare(pool, '', hash), false, `${label}: empty password`)
  }
})

t.test('over the cap, or over a source\'s share, a compare is refused at once; a freed slot is used again', async (t) => {
  const hash = await nativeHash('right', 12)
  const pool = new BcryptPool({ concurrent: 2, perSource: 1 })
  const first = pool.tryCompare('wrong', hash, 'a')
  t.ok('started' in first, 'a: started')
  t.same(pool.tryCompare('wrong', hash, 'a'), { refused: 'source' }, 'a: its share (1) is taken')
  const second = pool.tryCompare('right', hash, 'b')
  t.ok('started' in second, 'b: started')
  t.equal(pool.running, 2)
  t.same(pool.tryCompare('right', hash, 'c'), { refused: 'pool' }, 'c: every slot is taken')
  t.equal(pool.started, 2, 'refusals start nothing')
  if (!('started' in first) || !('started' in second)) return
  t.same(await Promise.all([first.started, second.started]), [false, true])
  t.equal(pool.running, 0, 'slots are released')
  const third = pool.tryCompare('right', hash, 'a')
  t.ok('started' in third, 'a again, once its compare ended')
  if ('started' in third) t.equal(await third.started, true)
})

t.test('a hash that is not bcrypt never matches; a compare that fails releases its slot', async (t) => {
  const pool = new BcryptPool({ concurrent: 1, perSource: 1 })
  t.equal(await compare(pool, 'x', 'not a bcrypt hash'), false)
  t.equal(await compare(pool, 'x', '$2y$04$' + 'a'.repeat(53)), false)
  class Failing extends BcryptPool {
    protected override async compare (): Promise<boolean> { throw new Error('binding failed') }
  }
  const failing = new Failing({ concurrent: 1, perSource: 1 })
  const admission = failing.tryCompare('x', 'y', 'a')
  if (!('started' in admission)) return t.fail('refused')
  await t.rejects(admission.started, /binding failed/)
  t.equal(failing.running, 0)
  const again = failing.tryCompare('x', 'y', 'a')
  t.ok('started' in again, 'the slot is free again')
  if ('started' in again) await t.rejects(again.started)
})

t.test('compares run off the main thread: the event loop stays idle and timers fire during a cost-12 batch', async (t) => {
  const hash = await nativeHash('right', 12)
  const pool = new BcryptPool({ concurrent: 2, perSource: 2 })
  const before = performance.eventLoopUtilization()
  const batch = [compare(pool, 'wrong-1', hash, 'a'), compare(pool, 'wrong-2', hash, 'a')]
  let settled = false
  void Promise.all(batch).then(() => { settled = true })
  const timerFiredFirst = await new Promise<boolean>((resolve) => setTimeout(() => { resolve(!settled) }, 1))
  t.ok(timerFiredFirst, 'a 1 ms timer fires before the batch ends')
  t.same(await Promise.all(batch), [false, false])
  const used = performance.eventLoopUtilization(before)
  t.ok(used.utilization < 0.5, `the event loop was busy for ${(used.utilization * 100).toFixed(1)}% of the batch (bcryptjs: ~100%)`)
})

t.test('defaults: a slot per core, at most 4, at least one; half of them per source', async (t) => {
  t.equal(defaultConcurrentCompares(2), 2)
  t.equal(defaultConcurrentCompares(1), 1)
  t.equal(defaultConcurrentCompares(32), 4)
  t.equal(defaultConcurrentCompares(0), 1, 'never 0')
  t.equal(defaultConcurrentComparesPerSource(1), 1)
  t.equal(defaultConcurrentComparesPerSource(2), 1)
  t.equal(defaultConcurrentComparesPerSource(8), 4)
  const pool = new BcryptPool({ concurrent: 3, perSource: 9 })
  t.equal(pool.perSource, 3, 'a source\'s share is at most the pool')
  t.ok(new BcryptPool().concurrent >= 1)
})

t.test('compares run in threads of lower priority than the event loop, started on demand, none past the cap', { skip: process.platform === 'linux' ? false : 'thread priorities are read from /proc' }, async (t) => {
  const own = (): string[] => readdirSync('/proc/self/task')
  const niceOf = (tid: string): number => Number(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ')[16])
  const before = new Set(own())
  const mainNice = niceOf(String(process.pid))
  const pool = new BcryptPool({ concurrent: 2, perSource: 2, niceness: 7 })
  t.teardown(async () => { await pool.close() })
  t.same(own().filter((tid) => !before.has(tid)), [], 'no thread before the first compare')
  const hash = await nativeHash('right', 12)
  const batch = [compare(pool, 'a', hash), compare(pool, 'b', hash)]
  let threads: string[] = []
  // A worker thread appears with its own helper threads; the compare thread is the one that lowered its priority.
  for (let tries = 0; tries < 2000 && threads.length < 2; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 5))
    threads = own().filter((tid) => !before.has(tid) && niceOf(tid) === Math.min(19, mainNice + 7))
  }
  t.equal(threads.length, 2, 'two compare threads at the process\'s priority + 7')
  t.equal(niceOf(String(process.pid)), mainNice, 'the event loop\'s priority is unchanged')
  t.same(await Promise.all(batch), [false, false])
  t.same(await Promise.all([compare(pool, 'right', hash), compare(pool, 'c', hash)]), [true, false], 'the threads are reused')
  const inFlight = t.rejects(compare(pool, 'd', hash), /closed/, 'a compare in progress is rejected by close')
  await pool.close()
  await inFlight
  const left = own().filter((tid) => threads.includes(tid))
  t.same(left, [], 'closing ends them')
})

t.test('idle compare threads do not keep a process alive', async (t) => {
  // A child that runs one compare and then has nothing left to do must exit on its own, without close().
  const script = [
    `import { BcryptPool } from ${JSON.stringify(new URL('../../lib/auth/bcrypt-pool.js', import.meta.url).href)}`,
    `const [user, hash] = ${JSON.stringify(APACHE_HTPASSWD.split('\n')[2].split(':'))}`,
    `const admission = new BcryptPool({ concurrent: 1 }).tryCompare(${JSON.stringify(APACHE_PASSWORDS.carol)}, hash, user)`,
    `console.log('matched', await admission.started)`
  ].join('\n')
  // Only the TypeScript loader of the runner's flags, so the child imports the source as the test does.
  const loader = process.execArgv.filter((arg) => arg.includes('typescript'))
  const dir = await tempDir()
  t.teardown(dir.cleanup)
  const file = join(dir.path, 'one-compare.mjs')
  await writeFile(file, script)
  const child = spawn(process.execPath, [...loader, file], { cwd: fileURLToPath(new URL('../..', import.meta.url)), stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  let errors = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { errors += chunk.toString() })
  // Idle threads end after 30 s anyway; a child still alive at 20 s is held by them.
  const hang = setTimeout(() => { child.kill('SIGKILL') }, 20_000)
  const [code, signal] = await once(child, 'exit') as [number | null, string | null]
  clearTimeout(hang)
  t.equal(output.trim(), 'matched true', `the compare ran in its thread ${errors}`)
  t.same([code, signal], [0, null], 'and the process ended by itself (killed at 20 s otherwise)')
})
