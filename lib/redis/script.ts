import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'

/**
 * A Lua script run by its SHA1 (EVALSHA), sent in full (EVAL) only when the
 * server does not know it yet. Works on any client, including one the
 * embedding app owns, without defining commands on it.
 */
export class RedisScript {
  readonly lua: string
  readonly sha: string

  constructor (lua: string) {
    this.lua = lua
    this.sha = createHash('sha1').update(lua).digest('hex')
  }

  async run (client: Redis, keys: string[], args: Array<string | number>): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args)
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
      return await client.eval(this.lua, keys.length, ...keys, ...args)
    }
  }
}
