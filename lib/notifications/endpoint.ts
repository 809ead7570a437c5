import type { FastifyBaseLogger } from 'fastify'
import type { RegistryEvent } from '../events/event.js'
import { HttpSink } from './http-sink.js'
import { isIgnored } from './ignore.js'
import type { ResolvedEndpoint } from './options.js'

/** What delivers one envelope: one attempt, no retry. */
export interface EventSink {
  send: (events: readonly RegistryEvent[], signal: AbortSignal) => Promise<unknown>
  close: () => void
}

export interface EndpointStatus {
  name: string
  /** The URL without query or credentials. */
  url: string
  /** Events waiting, not counting those being sent. */
  pending: number
  /** Events in the envelope being sent (or retried). */
  sending: number
  delivered: number
  /** Events dropped: the queue was full, or the endpoint closed before they could be sent. */
  dropped: number
  ignored: number
  /** Consecutive failed attempts; 0 after a success. */
  failures: number
  /** Failed attempts in all. */
  failedAttempts: number
}

/** How often "queue full" is logged at most while events keep being dropped. */
const DROP_WARNING_INTERVAL_MS = 10_000

/**
 * One webhook endpoint, like distribution's: its ignore rules, its own bounded
 * in-memory queue, and one sender that posts queued events in batches, in order,
 * retrying the batch until it is delivered. Failed attempts are retried at once
 * until `threshold` consecutive ones have failed; from then on, `backoff` apart
 * (distribution's breaker). `write` never waits: a full queue drops its oldest
 * event, with a warning. `close` delivers what it can within `queuePurgeTimeout`.
 */
export class WebhookEndpoint {
  readonly name: string
  readonly #config: ResolvedEndpoint
  readonly #sink: EventSink
  readonly #log: FastifyBaseLogger
  readonly #stop = new AbortController()
  #queue: RegistryEvent[] = []
  #sending: RegistryEvent[] | undefined
  #wake: (() => void) | undefined
  #closing = false
  #closed: Promise<void> | undefined
  readonly #loop: Promise<void>
  #failures = 0
  #lastFailure = 0
  #failedAttempts = 0
  #delivered = 0
  #dropped = 0
  #ignored = 0
  #droppedSinceWarning = 0
  #lastDropWarning = -Infinity

  constructor (config: ResolvedEndpoint, log: FastifyBaseLogger, sink?: EventSink) {
    this.name = config.name
    this.#config = config
    this.#log = log.child({ endpoint: config.name })
    this.#sink = sink ?? new HttpSink({ url: config.url, headers: config.headers, timeout: config.timeout })
    this.#loop = this.#run().catch((error: unknown) => {
      this.#log.error({ err: error }, 'fastify-oci-registry: a notification endpoint stopped unexpectedly')
    })
  }

  /** Queues an event unless the ignore rules keep it out. Never waits, never throws. */
  write (event: RegistryEvent): void {
    if (isIgnored(event, this.#config)) {
      this.#ignored++
      return
    }
    if (this.#closing) {
      this.#drop(1, 'the endpoint is closed')
      return
    }
    this.#queue.push(event)
    if (this.#queue.length > this.#config.queueSizeLimit) {
      this.#queue.shift()
      this.#drop(1, `its queue is full (${this.#config.queueSizeLimit} events)`)
    }
    this.#wakeUp()
  }

  status (): EndpointStatus {
    const url = this.#config.url
    return {
      name: this.name,
      url: `${url.protocol}//${url.host}${url.pathname}`,
      pending: this.#queue.length,
      sending: this.#sending?.length ?? 0,
      delivered: this.#delivered,
      dropped: this.#dropped,
      ignored: this.#ignored,
      failures: this.#failures,
      failedAttempts: this.#failedAttempts
    }
  }

  /**
   * Stops taking events and delivers the queued ones, giving up after
   * `queuePurgeTimeout` milliseconds: what is left then is dropped, with a warning.
   */
  async close (): Promise<void> {
    this.#closed ??= this.#shutDown()
    await this.#closed
  }

  async #shutDown (): Promise<void> {
    this.#closing = true
    this.#wakeUp()
    // Kept referenced: the process stays up while the queue is flushed, at most this long.
    const deadline = setTimeout(() => { this.#stop.abort() }, this.#config.queuePurgeTimeout)
    try {
      await this.#loop
    } finally {
      clearTimeout(deadline)
      this.#stop.abort()
      this.#sink.close()
    }
    const left = this.#queue.length + (this.#sending?.length ?? 0)
    this.#queue = []
    this.#sending = undefined
    if (left > 0) this.#drop(left, `it closed before they could be delivered (queuepurgetimeout ${this.#config.queuePurgeTimeout} ms)`, true)
  }

  async #run (): Promise<void> {
    const signal = this.#stop.signal
    while (!signal.aborted) {
      if (this.#sending === undefined) {
        if (this.#queue.length === 0) {
          if (this.#closing) return
          await new Promise<void>((resolve) => { this.#wake = resolve })
          continue
        }
        this.#sending = this.#queue.splice(0, this.#config.batchSize)
      }
      const wait = this.#failures >= this.#config.threshold ? this.#lastFailure + this.#config.backoff - Date.now() : 0
      if (wait > 0) {
        await sleep(wait, signal)
        continue
      }
      const batch = this.#sending
      try {
        await this.#sink.send(batch, signal)
      } catch (error) {
        if (signal.aborted) return
        this.#failed(error, batch.length)
        continue
      }
      this.#sending = undefined
      this.#delivered += batch.length
      if (this.#failures > 0) this.#log.info({ failures: this.#failures }, 'fastify-oci-registry: notification endpoint reachable again; delivering')
      this.#failures = 0
    }
  }

  #failed (error: unknown, events: number): void {
    this.#failures++
    this.#failedAttempts++
    this.#lastFailure = Date.now()
    const details = { err: error, failures: this.#failures, events, pending: this.#queue.length }
    if (this.#failures === this.#config.threshold) {
      this.#log.warn(details, `fastify-oci-registry: notification delivery keeps failing; retrying every ${this.#config.backoff} ms`)
    } else if (this.#failures === 1) {
      this.#log.warn(details, 'fastify-oci-registry: notification delivery failed; retrying')
    } else {
      this.#log.debug(details, 'fastify-oci-registry: notification delivery failed again')
    }
  }

  #drop (count: number, reason: string, always = false): void {
    this.#dropped += count
    this.#droppedSinceWarning += count
    const now = Date.now()
    if (!always && now - this.#lastDropWarning < DROP_WARNING_INTERVAL_MS) return
    this.#log.warn({ dropped: this.#droppedSinceWarning, droppedTotal: this.#dropped }, `fastify-oci-registry: notification events dropped: ${reason}`)
    this.#droppedSinceWarning = 0
    this.#lastDropWarning = now
  }

  #wakeUp (): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }
}

/** Waits `ms`, or less when `signal` aborts. Does not keep the process alive on its own. */
async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return
  await new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    timer.unref()
    signal.addEventListener('abort', done, { once: true })
  })
}
