import t from 'tap'
import { CredentialCache } from '../../lib/auth/credential-cache.js'

t.test('remembers a credential for its hash, until it expires', async (t) => {
  let now = 1000
  const cache = new CredentialCache({ ttlMs: 100, maxEntries: 10, now: () => now })
  const key = cache.keyOf('alice', 'secret')
  t.notOk(cache.matches(key, 'hash-1'))
  cache.remember(key, 'hash-1')
  t.ok(cache.matches(key, 'hash-1'))
  t.notOk(cache.matches(key, 'hash-2'), 'a changed hash (new password) does not match')
  t.notOk(cache.matches(key, 'hash-1'), 'and forgets the entry')
  cache.remember(key, 'hash-1')
  now += 100
  t.notOk(cache.matches(key, 'hash-1'), 'expired')
  t.equal(cache.size, 0)
})

t.test('keys are keyed hashes: distinct per credential and per process, never the password', async (t) => {
  const one = new CredentialCache({ ttlMs: 100, maxEntries: 10 })
  const two = new CredentialCache({ ttlMs: 100, maxEntries: 10 })
  const key = one.keyOf('alice', 'secret')
  t.notOk(key.includes('secret'))
  t.equal(one.keyOf('alice', 'secret'), key, 'stable within a cache')
  t.not(one.keyOf('alice', 'secreT'), key)
  t.not(one.keyOf('alic', 'e:secret'), one.keyOf('alice', ':secret'), 'no ambiguity at the colon')
  t.not(two.keyOf('alice', 'secret'), key, 'another process has another key')
})

t.test('bounded, and off with a zero TTL', async (t) => {
  const cache = new CredentialCache({ ttlMs: 1000, maxEntries: 2 })
  for (const user of ['a', 'b', 'c']) cache.remember(cache.keyOf(user, 'p'), 'h')
  t.equal(cache.size, 2)
  t.notOk(cache.matches(cache.keyOf('a', 'p'), 'h'), 'the oldest went')
  const off = new CredentialCache({ ttlMs: 0, maxEntries: 2 })
  off.remember(off.keyOf('a', 'p'), 'h')
  t.notOk(off.matches(off.keyOf('a', 'p'), 'h'))
})

t.test('the TTL counts from the last use: a credential in use stays remembered', async (t) => {
  let now = 0
  const cache = new CredentialCache({ ttlMs: 100, maxEntries: 10, now: () => now })
  const key = cache.keyOf('alice', 'secret')
  cache.remember(key, 'hash-1')
  for (let step = 0; step < 5; step++) {
    now += 90
    t.ok(cache.matches(key, 'hash-1'), `used again after ${now} ms, 90 ms after the last use`)
  }
  now += 100
  t.notOk(cache.matches(key, 'hash-1'), 'unused for the TTL: forgotten')
})
