import t from 'tap'
import { BufferPool } from '../../lib/http/buffer-pool.js'

const tiers = [{ size: 1024, budget: 2, keep: 1 }, { size: 64, budget: 1, keep: 1 }]

t.test('large buffers first, then small ones, then a wait in line', async (t) => {
  const pool = new BufferPool(tiers)
  t.equal(pool.limit, 2 * 1024 + 64, 'the budget in bytes')
  const a = (await pool.take())!
  const b = (await pool.take())!
  const c = (await pool.take())!
  t.same([a.length, b.length, c.length], [1024, 1024, 64], 'two large, then the small one')
  t.same(pool.state.tiers.map((tier) => tier.lent), [2, 1])
  let first: Buffer | undefined
  let second: Buffer | undefined
  const waits = [pool.take().then((buffer) => { first = buffer }), pool.take().then((buffer) => { second = buffer })]
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(pool.state.waiting, 2, 'over the budget, takers wait: nothing is allocated')
  t.equal(first, undefined)
  pool.give(c)
  pool.give(a)
  await Promise.all(waits)
  t.equal(first, c, 'the first in line gets the first buffer given back')
  t.equal(second, a, 'then the next')
  t.same(pool.state.tiers.map((tier) => tier.lent), [2, 1], 'still within every budget')
})

t.test('given back with nobody waiting: kept up to `keep`, the rest let go and their place freed', async (t) => {
  const pool = new BufferPool(tiers)
  const a = (await pool.take())!
  const b = (await pool.take())!
  pool.give(a)
  pool.give(b)
  t.same(pool.state.tiers.map((tier) => tier.lent), [0, 0])
  t.equal(await pool.take(), a, 'the kept one is reused')
  const fresh = (await pool.take())!
  t.not(fresh, b, 'the one let go is not')
  t.equal(fresh.length, 1024, 'but its place in the budget was freed')
})

t.test('a wait ends when its taker goes away; a forgotten buffer frees its place', async (t) => {
  const pool = new BufferPool([{ size: 16, budget: 1, keep: 1 }])
  const held = (await pool.take())!
  const gone = new AbortController()
  const waiting = pool.take(gone.signal)
  gone.abort()
  t.equal(await waiting, undefined, 'the cancelled wait resolves empty')
  t.equal(pool.state.waiting, 0, 'and leaves the line')
  t.equal(await pool.take(gone.signal), undefined, 'an already cancelled taker does not wait at all')

  const next = pool.take()
  pool.forget(held)
  const replacement = (await next)!
  t.not(replacement, held, 'a buffer written off is never lent again')
  t.equal(replacement.length, 16)
  pool.give(replacement)
  t.same(pool.state.tiers.map((tier) => tier.lent), [0], 'nothing leaks from the budget')
})
