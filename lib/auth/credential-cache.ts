import { createHmac, randomBytes } from 'node:crypto'
import { LruCache } from '../store/lru.js'

/**
 * Remembers credentials that passed a bcrypt compare, so a client's burst of
 * requests (a push is dozens) pays bcrypt once, and a client in use never
 * pays it again: the TTL counts from the credential's last use, so a verified
 * client keeps being served from memory while a flood of guesses holds every
 * compare slot. Entries are
 * keyed by an HMAC of the credential under a per-process random key, so
 * neither passwords nor unsalted hashes of them are kept; an entry also holds
 * the hash it matched and only counts while the file still has that hash, so
 * a changed password or a removed user takes effect on the next reload. Only
 * successes are remembered: guesses always pay the full compare.
 */
export class CredentialCache {
  readonly #secret = randomBytes(32)
  readonly #entries: LruCache<string, { hash: string, expiresAt: number }>
  readonly #ttlMs: number
  readonly #now: () => number

  constructor (options: { ttlMs: number, maxEntries: number, now?: () => number }) {
    this.#entries = new LruCache(options.maxEntries)
    this.#ttlMs = options.ttlMs
    this.#now = options.now ?? Date.now
  }

  /** The cache key of a user and password. A user name cannot contain a colon, so the pair is unambiguous. */
  keyOf (username: string, password: string): string {
    return createHmac('sha256', this.#secret).update(`${username}:${password}`, 'utf8').digest('base64url')
  }

  /** Whether this credential matched `hash` and was used within the TTL; a match counts as a use. */
  matches (key: string, hash: string): boolean {
    const entry = this.#entries.get(key)
    if (entry === undefined) return false
    const now = this.#now()
    if (entry.expiresAt <= now || entry.hash !== hash) {
      this.#entries.delete(key)
      return false
    }
    entry.expiresAt = now + this.#ttlMs
    return true
  }

  remember (key: string, hash: string): void {
    if (this.#ttlMs > 0) this.#entries.set(key, { hash, expiresAt: this.#now() + this.#ttlMs })
  }

  get size (): number {
    return this.#entries.size
  }
}
