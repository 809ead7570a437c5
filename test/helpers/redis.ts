// The Redis the Redis-backed tests run against: a real redis-server started by
// test/services/redis.sh (or any server named by REDIS_URL). Nothing answering is a
// failure, never a skip: .ci/run starts it before the tests.
import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { Redis } from 'ioredis'
import type { Test } from 'tap'

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:7060'

const HOW_TO_START = 'start one with `test/services/redis.sh start /tmp/redis-test` ' +
  '(Debian: apt-get install --no-install-recommends redis-server), or point REDIS_URL at a Redis server'

/** `host:port` of REDIS_URL, as the `redis.addr` option takes it. */
export function redisAddr (): string {
  const url = new URL(REDIS_URL)
  return `${url.hostname}:${url.port === '' ? '6379' : url.port}`
}

/** Rejects with a message saying how to start a server unless a Redis at REDIS_URL answers PING. */
export async function requireRedis (): Promise<void> {
  const url = new URL(REDIS_URL)
  const port = Number(url.port === '' ? 6379 : url.port)
  const host = url.hostname.replace(/^\[|\]$/g, '')
  try {
    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host, port })
      let reply = ''
      socket.setTimeout(3000, () => { socket.destroy(new Error('no answer within 3 s')) })
      socket.on('connect', () => {
        const password = decodeURIComponent(url.password)
        if (password !== '') socket.write(`AUTH ${url.username === '' ? '' : `${decodeURIComponent(url.username)} `}${password}\r\n`)
        socket.write('PING\r\n')
      })
      socket.on('data', (chunk) => {
        reply += chunk.toString('latin1')
        if (reply.includes('+PONG\r\n')) {
          socket.end()
          resolve()
        } else if (reply.startsWith('-')) {
          socket.destroy(new Error(`answered ${reply.trim()}`))
        }
      })
      socket.on('error', reject)
      socket.on('close', () => { reject(new Error('connection closed without PONG')) })
    })
  } catch (error) {
    throw new Error(`No Redis answers at ${REDIS_URL} (${(error as Error).message}): ${HOW_TO_START}`)
  }
}

/** A unique key prefix, so test files (and tests) can share one server at once. */
export function uniquePrefix (label = 'test'): string {
  return `oci-test:${label}:${Date.now().toString(36)}:${randomBytes(4).toString('hex')}:`
}

/** A client for REDIS_URL that fails fast instead of queueing forever when the server is away. */
export function newRedisClient (): Redis {
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 3000, commandTimeout: 3000 })
  client.on('error', () => {}) // a test asserts what it expects; connection noise is not a result
  return client
}

/** Deletes every key under `prefix`. */
export async function deleteKeys (client: Redis, prefix: string): Promise<number> {
  let deleted = 0
  let cursor = '0'
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) deleted += await client.del(...keys)
  } while (cursor !== '0')
  return deleted
}

export interface TestRedis {
  /** Connected and ready; quit when the test ends. */
  client: Redis
  /** This test's key prefix; its keys are deleted when the test ends. */
  keyPrefix: string
  /** Another client to the same server (an instance of its own), quit when the test ends. */
  newClient: () => Promise<Redis>
}

/**
 * A Redis for one tap test: fails clearly when there is no server; gives a
 * unique key prefix, clients that are quit, and keys that are deleted at
 * the test's end.
 */
export async function testRedis (t: Test, label = 'test'): Promise<TestRedis> {
  await requireRedis()
  const keyPrefix = uniquePrefix(label)
  const clients: Redis[] = []
  const newClient = async (): Promise<Redis> => {
    const client = newRedisClient()
    clients.push(client)
    await client.ping() // ready, or a failure bounded by the client's timeouts
    return client
  }
  const client = await newClient()
  t.teardown(async () => {
    await deleteKeys(client, keyPrefix)
    for (const each of clients) {
      if (each.status === 'ready') await each.quit().catch(() => {})
      else each.disconnect()
    }
  })
  return { client, keyPrefix, newClient }
}
