import t from 'tap'
import { setImmediate as tick } from 'node:timers/promises'
import { KeyedMutex } from '../lib/keyed-mutex.js'

interface Deferred<T> {
  promise: Promise<T>
  resolve: (value: T) => void
  reject: (error: unknown) => void
}

function deferred<T = void> (): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

/** Lets every pending microtask and one macrotask turn run. */
async function settle (): Promise<void> {
  for (let i = 0; i < 5; i++) await tick()
}

t.test('returns the work result and unlocks', async (t) => {
  const mutex = new KeyedMutex()
  t.equal(mutex.isLocked('a'), false, 'unlocked at first')
  const result = await mutex.run('a', async () => 42)
  t.equal(result, 42)
  t.equal(mutex.isLocked('a'), false, 'unlocked after')
})

t.test('isLocked while running', async (t) => {
  const mutex = new KeyedMutex()
  const gate = deferred()
  const running = mutex.run('a', async () => { await gate.promise; return 'done' })
  t.equal(mutex.isLocked('a'), true, 'locked while running')
  t.equal(mutex.isLocked('b'), false, 'other keys unaffected')
  gate.resolve()
  t.equal(await running, 'done')
  t.equal(mutex.isLocked('a'), false)
})

t.test('serialises work on one key, in call order', async (t) => {
  const mutex = new KeyedMutex()
  const events: string[] = []
  const gates = [deferred(), deferred(), deferred()]
  const runs = gates.map((gate, i) => mutex.run('k', async () => {
    events.push(`start ${i}`)
    await gate.promise
    events.push(`end ${i}`)
    return i
  }))
  await settle()
  t.strictSame(events, ['start 0'], 'only the first runs')
  // release out of order: the second must still wait for the first
  gates[2].resolve()
  gates[1].resolve()
  await settle()
  t.strictSame(events, ['start 0'], 'later work waits even when ready')
  t.equal(mutex.isLocked('k'), true)
  gates[0].resolve()
  t.strictSame(await Promise.all(runs), [0, 1, 2])
  t.strictSame(events, ['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2'], 'never overlapping, FIFO')
  t.equal(mutex.isLocked('k'), false, 'unlocked after the last')
})

t.test('stays locked until the last queued work finishes', async (t) => {
  const mutex = new KeyedMutex()
  const first = deferred()
  const second = deferred()
  const a = mutex.run('k', async () => await first.promise)
  const b = mutex.run('k', async () => await second.promise)
  first.resolve()
  await a
  await settle()
  t.equal(mutex.isLocked('k'), true, 'still locked: the second is running')
  second.resolve()
  await b
  t.equal(mutex.isLocked('k'), false)
})

t.test('different keys run concurrently', async (t) => {
  const mutex = new KeyedMutex()
  const gate = deferred()
  let started = 0
  const a = mutex.run('a', async () => { started++; await gate.promise })
  const b = mutex.run('b', async () => { started++; await gate.promise })
  await settle()
  t.equal(started, 2, 'both started')
  t.equal(mutex.isLocked('a'), true)
  t.equal(mutex.isLocked('b'), true)
  gate.resolve()
  await Promise.all([a, b])
  t.equal(mutex.isLocked('a'), false)
  t.equal(mutex.isLocked('b'), false)
})

t.test('separate mutexes do not share locks', async (t) => {
  const one = new KeyedMutex()
  const two = new KeyedMutex()
  const gate = deferred()
  const a = one.run('k', async () => await gate.promise)
  t.equal(two.isLocked('k'), false)
  t.equal(await two.run('k', async () => 'free'), 'free', 'not blocked by the other mutex')
  gate.resolve()
  await a
})

t.test('a failing work releases the lock and rejects its own caller only', async (t) => {
  const mutex = new KeyedMutex()
  const gate = deferred()
  const events: string[] = []
  const failing = mutex.run('k', async () => { await gate.promise; events.push('fail'); throw new Error('boom') })
  const next = mutex.run('k', async () => { events.push('next'); return 'ok' })
  gate.resolve()
  await t.rejects(failing, { message: 'boom' })
  t.equal(await next, 'ok', 'the queued work still runs')
  t.strictSame(events, ['fail', 'next'])
  t.equal(mutex.isLocked('k'), false)
  t.equal(await mutex.run('k', async () => 'after'), 'after', 'usable afterwards')
})

t.test('a work that throws synchronously releases the lock', async (t) => {
  const mutex = new KeyedMutex()
  const work = (() => { throw new TypeError('sync') }) as unknown as () => Promise<void>
  await t.rejects(mutex.run('k', work), TypeError)
  t.equal(mutex.isLocked('k'), false)
  t.equal(await mutex.run('k', async () => 1), 1)
})

t.test('a long queue drains and frees the key', async (t) => {
  const mutex = new KeyedMutex()
  let active = 0
  let maxActive = 0
  const order: number[] = []
  const runs = Array.from({ length: 200 }, async (_, i) => await mutex.run('k', async () => {
    active++
    maxActive = Math.max(maxActive, active)
    await tick()
    order.push(i)
    active--
  }))
  await Promise.all(runs)
  t.equal(maxActive, 1, 'never two at once')
  t.strictSame(order, Array.from({ length: 200 }, (_, i) => i), 'in call order')
  t.equal(mutex.isLocked('k'), false)
})

t.test('work queued after the lock drains starts at once', async (t) => {
  const mutex = new KeyedMutex()
  await mutex.run('k', async () => undefined)
  let ran = false
  const p = mutex.run('k', async () => { ran = true })
  await settle()
  t.equal(ran, true)
  await p
})
