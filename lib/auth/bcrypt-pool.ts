import { availableParallelism } from 'node:os'
import { verify } from '@node-rs/bcrypt'

/** libuv's thread pool size when `UV_THREADPOOL_SIZE` does not set it. */
const LIBUV_DEFAULT_THREADS = 4

/**
 * How many bcrypt compares run at once by default: one per core, and never
 * more than half of libuv's thread pool, which file I/O shares. More compares
 * than cores only time-share the CPU (each finishes later, none sooner) and
 * take it from the event loop; more than half the pool would leave file reads
 * and writes queued behind password guesses.
 */
export function defaultConcurrentCompares (cores = availableParallelism(), threads = Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10)): number {
  const pool = Number.isInteger(threads) && threads > 0 ? threads : LIBUV_DEFAULT_THREADS
  return Math.max(1, Math.min(cores, Math.floor(pool / 2)))
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
}

/** Why a compare was not started: every slot is taken, or the source holds its share. */
export type BcryptRefusal = 'pool' | 'source'

export type BcryptAdmission = { started: Promise<boolean> } | { refused: BcryptRefusal }

/**
 * Bounded bcrypt compares off the main thread. A compare runs in
 * @node-rs/bcrypt's native binding on libuv's thread pool, so the event loop
 * keeps serving while it runs. At most `concurrent` run at once, at most
 * `perSource` for one source (a client address); a compare over either cap is
 * refused at once, never queued, so a flood of guesses cannot build a backlog
 * that later requests wait behind.
 */
export class BcryptPool {
  readonly concurrent: number
  readonly perSource: number
  readonly #bySource = new Map<string, number>()
  #running = 0
  #started = 0

  constructor (options: BcryptPoolOptions = {}) {
    this.concurrent = options.concurrent ?? defaultConcurrentCompares()
    this.perSource = Math.min(this.concurrent, options.perSource ?? defaultConcurrentComparesPerSource(this.concurrent))
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

  /** The compare itself; a subclass may watch it. */
  protected async compare (password: string, hash: string): Promise<boolean> {
    return await verify(password, hash)
  }

  #release (source: string): void {
    this.#running--
    const held = (this.#bySource.get(source) ?? 1) - 1
    if (held === 0) this.#bySource.delete(source)
    else this.#bySource.set(source, held)
  }
}
