import type { StorageDriver } from '../storage/driver.js'
import { isPathNotFound } from '../storage/errors.js'

export interface StorageHealthOptions {
  /** Milliseconds between checks (default 10 s, as distribution's `health.storagedriver.interval`). */
  interval: number
  /** Consecutive failed checks before storage is reported unhealthy (default 1: any failure). */
  threshold: number
  /** Milliseconds a check may take before it counts as failed (default 5 s, at most the interval). */
  timeout: number
}

export const DEFAULT_STORAGE_HEALTH: Readonly<StorageHealthOptions> = Object.freeze({ interval: 10_000, threshold: 1, timeout: 5_000 })

export interface StorageHealthReport {
  /** `ok`, `failing` (at or above the threshold), or `pending` before the first check ends. */
  status: 'ok' | 'failing' | 'pending'
  /** The storage driver's name. */
  driver: string
  /** When the last check ended. */
  checkedAt?: string
  /** Checks failed in a row. */
  consecutiveFailures: number
  threshold: number
  /** Why the last check failed, while failures continue. */
  error?: string
}

/**
 * Checks the storage driver periodically, as distribution's storage driver
 * health check does: `stat('/')` answers (a missing root is fine: nothing was
 * pushed yet). Storage is unhealthy after `threshold` failures in a row and
 * healthy again after one success. Timers are unref'd.
 */
export class StorageHealthCheck {
  readonly #driver: StorageDriver
  readonly #options: StorageHealthOptions
  #timer: NodeJS.Timeout | undefined
  #checking: Promise<void> | undefined
  #failures = 0
  #checkedAt: Date | undefined
  #error: string | undefined

  constructor (driver: StorageDriver, options: StorageHealthOptions) {
    this.#driver = driver
    this.#options = options
  }

  /** Checks now, then every interval. */
  start (): void {
    if (this.#timer !== undefined) return
    void this.check()
    this.#timer = setInterval(() => { void this.check() }, this.#options.interval)
    this.#timer.unref()
  }

  /** Stops checking; waits for a check in progress. */
  async stop (): Promise<void> {
    clearInterval(this.#timer)
    this.#timer = undefined
    await this.#checking
  }

  get healthy (): boolean {
    return this.#failures < this.#options.threshold
  }

  /** One check now (joining one in progress). Never rejects. */
  async check (): Promise<void> {
    this.#checking ??= this.#check().finally(() => { this.#checking = undefined })
    await this.#checking
  }

  /** The state for a health response; waits for the first check if none has ended yet. */
  async report (): Promise<StorageHealthReport> {
    if (this.#checkedAt === undefined && this.#checking !== undefined) await this.#checking
    const status = this.#checkedAt === undefined ? 'pending' : this.healthy ? 'ok' : 'failing'
    return {
      status,
      driver: this.#driver.name,
      ...(this.#checkedAt === undefined ? {} : { checkedAt: this.#checkedAt.toISOString() }),
      consecutiveFailures: this.#failures,
      threshold: this.#options.threshold,
      ...(this.#error === undefined ? {} : { error: this.#error })
    }
  }

  async #check (): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new Error(`storage did not answer within ${this.#options.timeout} ms`)) }, this.#options.timeout)
      timer.unref()
    })
    try {
      await Promise.race([this.#driver.stat('/').catch((error: unknown) => { if (!isPathNotFound(error)) throw error }), timeout])
      this.#failures = 0
      this.#error = undefined
    } catch (error) {
      this.#failures++
      this.#error = error instanceof Error ? error.message : String(error)
    } finally {
      clearTimeout(timer)
      this.#checkedAt = new Date()
    }
  }
}
