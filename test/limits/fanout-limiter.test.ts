import t from 'tap'
import { setImmediate as tick } from 'node:timers/promises'
import { Semaphore, filterBounded, forEachBounded, mapBounded, retryOnDescriptorExhaustion } from '../../lib/storage-concurrency.js'
import { isDescriptorExhaustion } from '../../lib/storage/errors.js'
import { toRegistryError } from '../../lib/error-handler.js'

function emfile (): Error {
  return Object.assign(new Error('EMFILE: too many open files, open \'/x\''), { code: 'EMFILE', errno: -24, syscall: 'open' })
}

/** Work that records how many items run at once. */
function tracked (): { work: (item: number) => Promise<number>, peak: () => number } {
  let running = 0
  let peak = 0
  return {
    work: async (item) => {
      running++
      peak = Math.max(peak, running)
      await tick()
      running--
      return item * 2
    },
    peak: () => peak
  }
}

t.test('mapBounded keeps the order and the per-call bound', async (t) => {
  const { work, peak } = tracked()
  const items = Array.from({ length: 1000 }, (_unused, i) => i)
  t.same(await mapBounded(items, work, { limit: 7, slots: new Semaphore(100) }), items.map((i) => i * 2))
  t.equal(peak(), 7)
})

t.test('the shared slots bound several calls together', async (t) => {
  const slots = new Semaphore(5)
  const { work, peak } = tracked()
  const items = Array.from({ length: 200 }, (_unused, i) => i)
  await Promise.all(Array.from({ length: 4 }, async () => await mapBounded(items, work, { limit: 4, slots })))
  t.equal(peak(), 5, 'four calls of 4 each share 5 slots')
  t.equal(slots.inUse, 0)
  t.equal(slots.waiting, 0)
})

t.test('a nested fan-out runs on its parent\'s slot, one item at a time, and cannot deadlock', async (t) => {
  const slots = new Semaphore(2)
  const { work, peak } = tracked()
  const inner = Array.from({ length: 10 }, (_unused, i) => i)
  const outer = await mapBounded([1, 2, 3, 4], async () => (await mapBounded(inner, work, { slots })).length, { slots })
  t.same(outer, [10, 10, 10, 10])
  t.ok(peak() <= 2)
})

t.test('filterBounded stops starting checks once enough are found, and answers in the items\' order', async (t) => {
  let started = 0
  const items = Array.from({ length: 10_000 }, (_unused, i) => i)
  const found = await filterBounded(items, async (item) => { started++; await tick(); return item % 1000 === 5 }, { limit: 4, enough: 1, slots: new Semaphore(10) })
  t.same(found, [5])
  t.ok(started < 20, `stopped early (${started} checks started)`)
  t.same(await filterBounded(items, async (item) => { await tick(); return item % 2500 === 0 }, { slots: new Semaphore(10) }), [0, 2500, 5000, 7500])
})

t.test('the first failure is thrown after the running items settle, and no new item starts', async (t) => {
  let started = 0
  let running = 0
  const failure = new Error('boom')
  await t.rejects(forEachBounded(Array.from({ length: 100 }, (_unused, i) => i), async (item) => {
    started++
    running++
    await tick()
    running--
    if (item === 3) throw failure
  }, { limit: 4, slots: new Semaphore(10) }), failure)
  t.equal(running, 0)
  t.ok(started <= 8, `${started} started`)
})

t.test('EMFILE and ENFILE are retried with backoff; other errors are not', async (t) => {
  let attempts = 0
  t.equal(await retryOnDescriptorExhaustion(async () => { if (++attempts < 3) throw emfile(); return 'ok' }), 'ok')
  t.equal(attempts, 3)
  let items = 0
  t.same(await mapBounded([1], async () => { if (++items < 2) throw Object.assign(new Error('ENFILE'), { code: 'ENFILE' }); return 'done' }), ['done'])
  let other = 0
  await t.rejects(mapBounded([1], async () => { other++; throw new Error('EACCES') }), /EACCES/)
  t.equal(other, 1)
  let noRetry = 0
  await t.rejects(mapBounded([1], async () => { noRetry++; throw emfile() }, { retry: false }), { code: 'EMFILE' })
  t.equal(noRetry, 1)
  let forever = 0
  await t.rejects(retryOnDescriptorExhaustion(async () => { forever++; throw emfile() }), { code: 'EMFILE' })
  t.equal(forever, 7, 'gives up after six retries')
})

t.test('EMFILE/ENFILE, bare or as a cause, become 503 UNAVAILABLE with Retry-After', async (t) => {
  t.ok(isDescriptorExhaustion(emfile()))
  t.ok(isDescriptorExhaustion(new Error('wrapped', { cause: emfile() })))
  t.notOk(isDescriptorExhaustion(Object.assign(new Error('x'), { code: 'ENOENT' })))
  t.notOk(isDescriptorExhaustion(undefined))
  const mapped = toRegistryError(emfile())
  t.equal(mapped?.code, 'UNAVAILABLE')
  t.equal(mapped?.status, 503)
  t.equal(mapped?.headers['Retry-After'], '1')
  t.notMatch(mapped?.message ?? '', /\/x/, 'no path in the message')
})

t.test('a semaphore rejects a size that is not a positive integer', async (t) => {
  t.throws(() => new Semaphore(0), TypeError)
  t.throws(() => new Semaphore(1.5), TypeError)
})

t.test('items that never leave the microtask queue still let the event loop turn', async (t) => {
  let turned = false
  setImmediate(() => { turned = true })
  let sink = 0
  let turnedBeforeTheEnd = false
  await forEachBounded(Array.from({ length: 50_000 }, (_unused, i) => i), async (item) => {
    // What a cached lookup costs: synchronous work and a resolved promise.
    for (let i = 0; i < 500; i++) sink += i ^ item
    if (turned) turnedBeforeTheEnd = true
  }, { slots: new Semaphore(100) })
  t.ok(turnedBeforeTheEnd, 'a setImmediate queued before the fan-out ran during it')
  t.ok(sink !== 0)
})
