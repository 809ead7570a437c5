import { availableParallelism } from 'node:os'
import { BcryptWorkers, DEFAULT_COMPARE_NICENESS } from './bcrypt-workers.js'

/** The most compare threads by default, however many cores. */
const MAX_DEFAULT_COMPARES = 4

/**
 * How many bcrypt compares run at once by default: one per core, at most 4.
 * More compares than cores only time-share the CPU (each finishes later,
 * none sooner); past 4, a flood of guesses only burns more CPU, while 4
 * threads already verify some 40 new cost-10 logins a second.
 */
export function defaultConcurrentCompares (cores = availableParallelism()): number {
  return Math.max(1, Math.min(cores, MAX_DEFAULT_COMPARES))
}

/**
 * By default one source may hold half the slots (at least one), so a single
 * client guessing passwords never takes every slot from the others.
 */
export function defaultConcurrentComparesPerSource (concurrent: number): number {
  return Math.max(1, Math.floor(concurrent / 2))
}

export interface BcryptPoolOptions {
  /** At most this many compares at once (default defaultConcurrentCompares()). */
  concurrent?: number
  /** At most this many of them for one source (default half of `concurrent`, at least 1). */
  perSource?: number
  /** How much lower than the process's the compare threads' priority is (Linux nice; default 10). */
  niceness?: number
}

/** Why a compare was not started: every slot is taken, or the source holds its share. */
export type BcryptRefusal = 'pool' | 'source'

export type BcryptAdmission = { started: Promise<boolean> } | { refused: BcryptRefusal }

/**
 * Bounded bcrypt compares off the main thread. A compare runs in
 * @node-rs/bcrypt's native binding on one of `concurrent` worker threads of
 * lower priority (BcryptWorkers), so the event loop keeps serving while it
 * runs, ahead of it for the CPU, and libuv's pool stays free for file I/O. At most `concurrent` run at once, at most
 * `perSource` for one source (a client address); a compare over either cap is
 * refused at once, never queued, so a flood of guesses cannot build a backlog
 * that later requests wait behind.
 */
export class BcryptPool {
  readonly concurrent: number
  readonly perSource: number
  readonly #workers: BcryptWorkers
  readonly #bySource = new Map<string, number>()
  #running = 0
  #started = 0

  constructor (options: BcryptPoolOptions = {}) {
    this.concurrent = options.concurrent ?? defaultConcurrentCompares()
    this.perSource = Math.min(this.concurrent, options.perSource ?? defaultConcurrentComparesPerSource(this.concurrent))
    this.#workers = new BcryptWorkers(this.concurrent, options.niceness ?? DEFAULT_COMPARE_NICENESS)
  }

  /** Compares now running. */
  get running (): number {
    return this.#running
  }

  /** Compares started since the pool was made. */
  get started (): number {
    return this.#started
  }

  /**
   * Starts comparing `password` with a bcrypt `hash` (`$2a$`, `$2b$` or
   * `$2y$`) for `source`, or says at once why it cannot.
   */
  tryCompare (password: string, hash: string, source: string): BcryptAdmission {
    if (this.#running >= this.concurrent) return { refused: 'pool' }
    const held = this.#bySource.get(source) ?? 0
    if (held >= this.perSource) return { refused: 'source' }
    this.#running++
    this.#started++
    this.#bySource.set(source, held + 1)
    return { started: this.compare(password, hash).finally(() => { this.#release(source) }) }
  }

  /** Ends the compare threads (they also end after 30 s idle, and never keep the process alive when idle). */
  async close (): Promise<void> {
    await this.#workers.close()
  }

  /** The compare itself; a subclass may watch it. */
  protected async compare (password: string, hash: string): Promise<boolean> {
    return await this.#workers.compare(password, hash)
  }

  #release (source: string): void {
    this.#running--
    const held = (this.#bySource.get(source) ?? 1) - 1
    if (held === 0) this.#bySource.delete(source)
    else this.#bySource.set(source, held)
  }
}
