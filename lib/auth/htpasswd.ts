import { readFile, stat } from 'node:fs/promises'
import type { Stats } from 'node:fs'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { RegistryError } from '../../errors/index.js'
import { RegistryConfigError } from '../config-error.js'
import { unreadBodyHeaders } from '../operations/unread-body.js'
import type { AccessController } from './access-controller.js'
import type { Access, Grant } from './access.js'
import type { HtpasswdAuthOptions } from './auth-options.js'
import { BcryptPool, type BcryptRefusal } from './bcrypt-pool.js'
import { compareSource } from './bcrypt-source.js'
import { AuthChallenge, basicChallenge } from './challenge.js'
import { CredentialCache } from './credential-cache.js'
import { authorization, basicCredentials } from './credentials.js'
import { bcryptCost, parseHtpasswd } from './htpasswd-file.js'

export interface HtpasswdSettings {
  /** Where reload problems are logged; default the request's logger. */
  log?: FastifyBaseLogger
  /** At most how often the file is checked for changes, in milliseconds (default 1000). */
  checkIntervalMs?: number
  /** How long a verified credential is remembered after its last use, in milliseconds (default 60 000; 0 turns it off). */
  cacheTtlMs?: number
  /** Runs the compares; default a BcryptPool sized by the options' `concurrentCompares` and `concurrentComparesPerSource`. */
  bcrypt?: BcryptPool
}

/** A bcrypt salt and hash that match no password; its cost is set to the file's. */
const DUMMY_SALT_AND_HASH = 'C6UzMDM.H6dfI/f/IKxGhuW7xXwAOeRCkESwkTOEK/xZ7H5yVgc.O'
const DEFAULT_COST = 10
/** What a client refused a compare is told to wait, in seconds: about one compare. */
const RETRY_AFTER_SECONDS = 1
/** At most how often refused compares are logged as a warning, in milliseconds. */
const REFUSAL_WARNING_INTERVAL_MS = 60_000

interface Loaded {
  entries: Map<string, string>
  /** Identifies the file version read: a change to any of these means it was rewritten. */
  signature: string
}

function signatureOf (stats: Stats): string {
  return `${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`
}

function describe (error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code
  return code ?? (error as Error).message
}

async function readEntries (path: string): Promise<Loaded> {
  const signature = signatureOf(await stat(path))
  return { entries: parseHtpasswd(await readFile(path, 'utf8')), signature }
}

function dummyHashFor (entries: Map<string, string>): string {
  let cost = 0
  for (const hash of entries.values()) cost = Math.max(cost, bcryptCost(hash))
  return `$2b$${String(cost === 0 ? DEFAULT_COST : cost).padStart(2, '0')}$${DUMMY_SALT_AND_HASH}`
}

/**
 * HTTP Basic authentication against an htpasswd file of bcrypt entries, as
 * distribution's `htpasswd` controller. A valid user gets every access (Basic
 * has no scopes). The file is read at load (missing or invalid: a
 * configuration error) and re-read when its metadata changes, checked at most
 * once per `checkIntervalMs`; a file that becomes unreadable or invalid keeps
 * the users last read and logs an error, so a bad edit never opens the
 * registry nor locks everyone out.
 *
 * Compares run off the main thread in a bounded BcryptPool. A credential
 * verified before is answered from the CredentialCache and never waits for a
 * compare slot; a credential that needs a compare when every slot is taken,
 * or when its source holds its share, is answered 429 TOOMANYREQUESTS with
 * `Retry-After` at once, so a flood of wrong passwords is refused rather than
 * queued, and verified clients stay as fast as without it.
 */
export class HtpasswdAccessController implements AccessController {
  readonly #realm: string
  readonly #path: string
  readonly #log: FastifyBaseLogger | undefined
  readonly #checkIntervalMs: number
  readonly #cache: CredentialCache
  readonly #bcrypt: BcryptPool
  readonly #pending = new Map<string, Promise<boolean>>()
  #entries: Map<string, string>
  #dummyHash: string
  #signature: string
  #checkedAt: number
  #refreshing: Promise<void> | undefined
  #failedSignature: string | undefined
  #lastProblem: string | undefined
  #refusedSinceWarning = 0
  #warnedAt = Number.NEGATIVE_INFINITY

  private constructor (options: HtpasswdAuthOptions, loaded: Loaded, settings: HtpasswdSettings) {
    this.#realm = options.realm
    this.#path = options.path
    this.#log = settings.log
    this.#checkIntervalMs = settings.checkIntervalMs ?? 1000
    this.#cache = new CredentialCache({ ttlMs: settings.cacheTtlMs ?? 60_000, maxEntries: 1000 })
    this.#bcrypt = settings.bcrypt ?? new BcryptPool({ concurrent: options.concurrentCompares, perSource: options.concurrentComparesPerSource })
    this.#entries = loaded.entries
    this.#dummyHash = dummyHashFor(loaded.entries)
    this.#signature = loaded.signature
    this.#checkedAt = Date.now()
  }

  /** Reads the file; throws RegistryConfigError when it is missing, unreadable or has an entry that is not bcrypt. */
  static async load (options: HtpasswdAuthOptions, settings: HtpasswdSettings = {}): Promise<HtpasswdAccessController> {
    let loaded: Loaded
    try {
      loaded = await readEntries(options.path)
    } catch (error) {
      throw new RegistryConfigError('auth.htpasswd.path', `names ${options.path}, which cannot be used: ${describe(error)}`)
    }
    return new HtpasswdAccessController(options, loaded, settings)
  }

  /** The number of users currently known. */
  get users (): number {
    return this.#entries.size
  }

  async authorized (request: FastifyRequest, access: Access[]): Promise<Grant> {
    const credentials = basicCredentials(authorization(request))
    if (credentials === undefined) throw this.#challenge(access, 'missing')
    await this.#refresh(this.#log ?? request.log)
    if (!await this.#verify(request, credentials.username, credentials.password)) {
      request.log.debug({ user: credentials.username }, 'htpasswd: authentication failed')
      throw this.#challenge(access, 'invalid')
    }
    return { user: { name: credentials.username }, access }
  }

  /** Checks the file for changes now, whatever the interval. */
  async reload (log?: FastifyBaseLogger): Promise<void> {
    this.#checkedAt = 0
    await this.#refresh(log ?? this.#log)
  }

  #challenge (access: Access[], reason: 'missing' | 'invalid'): AuthChallenge {
    return new AuthChallenge(basicChallenge(this.#realm), access, reason)
  }

  async #refresh (log: FastifyBaseLogger | undefined): Promise<void> {
    const now = Date.now()
    if (this.#refreshing === undefined && now - this.#checkedAt < this.#checkIntervalMs) return
    this.#checkedAt = now
    this.#refreshing ??= this.#reloadIfChanged(log).finally(() => { this.#refreshing = undefined })
    await this.#refreshing
  }

  async #reloadIfChanged (log: FastifyBaseLogger | undefined): Promise<void> {
    let signature: string
    try {
      signature = signatureOf(await stat(this.#path))
    } catch (error) {
      this.#problem(log, `htpasswd file ${this.#path} cannot be read (${describe(error)}); keeping the ${this.#entries.size} users read before`)
      return
    }
    if (signature === this.#signature || signature === this.#failedSignature) return
    try {
      const loaded = await readEntries(this.#path)
      this.#entries = loaded.entries
      this.#dummyHash = dummyHashFor(loaded.entries)
      this.#signature = loaded.signature
      this.#failedSignature = undefined
      this.#lastProblem = undefined
      log?.info({ path: this.#path, users: loaded.entries.size }, 'htpasswd file reloaded')
    } catch (error) {
      this.#failedSignature = signature
      this.#problem(log, `htpasswd file ${this.#path} is not usable (${describe(error)}); keeping the ${this.#entries.size} users read before`)
    }
  }

  /** Logs a reload problem once, not on every check. */
  #problem (log: FastifyBaseLogger | undefined, message: string): void {
    if (message === this.#lastProblem) return
    this.#lastProblem = message
    log?.error({ path: this.#path }, message)
  }

  async #verify (request: FastifyRequest, username: string, password: string): Promise<boolean> {
    const hash = this.#entries.get(username)
    const key = this.#cache.keyOf(username, password)
    if (hash !== undefined && this.#cache.matches(key, hash)) return true
    // Concurrent requests with the same credential share one compare (and one slot).
    const pendingKey = `${key}:${hash ?? ''}`
    let pending = this.#pending.get(pendingKey)
    if (pending === undefined) {
      // An unknown user costs the same compare as a known one, so timing does not tell which users exist.
      const admission = this.#bcrypt.tryCompare(password, hash ?? this.#dummyHash, compareSource(request.ip))
      if ('refused' in admission) throw this.#tooMany(request, admission.refused)
      pending = admission.started.then((matched) => matched && hash !== undefined).finally(() => { this.#pending.delete(pendingKey) })
      this.#pending.set(pendingKey, pending)
    }
    const matched = await pending
    if (matched && hash !== undefined) this.#cache.remember(key, hash)
    return matched
  }

  #tooMany (request: FastifyRequest, refusal: BcryptRefusal): RegistryError {
    this.#refusedSinceWarning++
    const now = Date.now()
    if (now - this.#warnedAt >= REFUSAL_WARNING_INTERVAL_MS) {
      (this.#log ?? request.log).warn({ refusedSinceLastWarning: this.#refusedSinceWarning, concurrentCompares: this.#bcrypt.concurrent, concurrentComparesPerSource: this.#bcrypt.perSource },
        'htpasswd: password checks refused with 429, every compare slot (or the client\'s share) being in use')
      this.#warnedAt = now
      this.#refusedSinceWarning = 0
    }
    request.log.debug({ refusal }, 'htpasswd: password check refused, over the compare cap')
    return new RegistryError('TOOMANYREQUESTS', {
      message: refusal === 'source'
        ? 'too many password checks from this client are in progress; retry shortly'
        : 'too many password checks are in progress; retry shortly',
      detail: { retryAfter: RETRY_AFTER_SECONDS },
      headers: { 'Retry-After': String(RETRY_AFTER_SECONDS), ...unreadBodyHeaders(request) }
    })
  }
}
