import type { FastifyBaseLogger } from 'fastify'
import type { StorageDriver } from '../storage/driver.js'
import { purgeUploads, type PurgedUpload } from '../store/upload-purge.js'
import type { ResolvedUploadPurging } from '../options.js'

/** Uploads named one by one in the log of a run; the rest are counted. */
const LOGGED_UPLOADS = 20

export interface UploadPurgerOptions extends ResolvedUploadPurging {
  driver: StorageDriver
  log: FastifyBaseLogger
  /** The clock; tests move it. */
  now?: () => number
}

/**
 * Removes unfinished uploads older than `age` every `interval`, the first run
 * `delay` after start, as distribution's upload purger does. One run at a
 * time: the next is scheduled when the last has finished, and a run asked for
 * while one is going joins it. Failures are logged, never thrown. Timers are
 * unref'd: they never keep the process alive.
 */
export class UploadPurger {
  readonly #options: UploadPurgerOptions
  #timer: NodeJS.Timeout | undefined
  #running: Promise<PurgedUpload[] | undefined> | undefined
  #started = false
  #stopped = false

  constructor (options: UploadPurgerOptions) {
    this.#options = options
  }

  get enabled (): boolean {
    return this.#options.enabled
  }

  /** Whether a run is going now. */
  get running (): boolean {
    return this.#running !== undefined
  }

  /** Schedules the first run; does nothing when disabled, started already or stopped. */
  start (): void {
    if (!this.#options.enabled || this.#started || this.#stopped) return
    this.#started = true
    const { age, interval, dryRun, delay } = this.#options
    this.#options.log.info({ ageMs: age, intervalMs: interval, dryRun, firstRunInMs: delay }, 'upload purging scheduled')
    this.#schedule(delay)
  }

  /** Stops scheduling; waits for a run in progress to finish. */
  async stop (): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#running
  }

  /**
   * One run now (joining the one going, if any). Resolves with the uploads
   * removed (or, in a dry run, that would be), or undefined when the run failed.
   */
  async run (): Promise<PurgedUpload[] | undefined> {
    this.#running ??= this.#purge().finally(() => { this.#running = undefined })
    return await this.#running
  }

  #schedule (ms: number): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      void this.run().then(() => { this.#schedule(this.#options.interval) })
    }, ms)
    this.#timer.unref()
  }

  async #purge (): Promise<PurgedUpload[] | undefined> {
    const { driver, log, age, dryRun } = this.#options
    const started = Date.now()
    const olderThan = new Date((this.#options.now ?? Date.now)() - age)
    try {
      const purged = await purgeUploads(driver, { olderThan, dryRun })
      const uploads = purged.slice(0, LOGGED_UPLOADS).map(({ name, uuid, startedAt }) => ({ name, uuid, startedAt: startedAt.toISOString() }))
      const summary = { count: purged.length, dryRun, olderThan: olderThan.toISOString(), durationMs: Date.now() - started, uploads }
      const message = dryRun
        ? `upload purge (dry run): ${purged.length} upload${purged.length === 1 ? '' : 's'} would be removed`
        : `upload purge: ${purged.length} upload${purged.length === 1 ? '' : 's'} removed`
      log.info(summary, message)
      return purged
    } catch (error) {
      log.error({ err: error, durationMs: Date.now() - started }, 'upload purge failed; the next run is still scheduled')
      return undefined
    }
  }
}
