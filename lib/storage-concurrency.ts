import { AsyncLocalStorage } from 'node:async_hooks'
import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises'
import { isDescriptorExhaustion } from './storage/errors.js'

/**
 * Bounded fan-out over storage. A request that touches many storage paths at
 * once (the references of a manifest, the tags of a repository, the
 * referrers of a subject, a collector's blobs) goes through here, and is held
 * to two bounds:
 *
 * - per call: at most `limit` of its operations in flight (default
 *   {@link FANOUT_PER_CALL}), so one big manifest cannot take every slot;
 * - per process: every call's operations together hold at most
 *   {@link FANOUT_PROCESS} slots of one shared semaphore, so a hundred big
 *   requests at once still open at most that many files, far below the
 *   common descriptor limit of 1,024, and leave the rest to sockets and
 *   blob streams.
 *
 * A storage operation that meets EMFILE/ENFILE (descriptors exhausted by
 * something else) is retried after a short backoff, a few times; if that
 * does not clear it, the error goes up and the error handler answers 503
 * with Retry-After.
 *
 * A fan-out started from inside another one's item runs its items one at a
 * time on the slot the outer item already holds: nested fan-outs can neither
 * multiply the bound nor deadlock waiting for slots their parents hold.
 */

/** Operations one fan-out runs at once. The libuv pool has 4 threads by default: more in flight only queues. */
export const FANOUT_PER_CALL = 16
/** Slots shared by every fan-out in the process: an item holds one descriptor while it runs, or a few for a recursive delete. */
export const FANOUT_PROCESS = 128
/**
 * How long a call's items may keep the event loop before every worker of the
 * call waits one turn. Items answered from a cache (a synchronous lstat and
 * a resolved promise) never leave the microtask queue, so without a turn
 * now and then 37,000 of them would hold up every other request for their
 * whole run. All workers compare against the same mark, so once it passes
 * they all wait, and the loop really turns.
 */
const TURN_MS = 5
/** Backoff before each retry of an operation that met EMFILE/ENFILE; about 0.6 s in all. */
const RETRY_DELAYS_MS = [10, 20, 40, 80, 160, 320]

/** A counting semaphore, first come first served. */
export class Semaphore {
  readonly size: number
  #inUse = 0
  readonly #waiting: Array<() => void> = []

  constructor (size: number) {
    if (!Number.isInteger(size) || size < 1) throw new TypeError(`semaphore size must be an integer >= 1, got ${String(size)}`)
    this.size = size
  }

  get inUse (): number {
    return this.#inUse
  }

  get waiting (): number {
    return this.#waiting.length
  }

  /** Resolves with the function that gives the slot back (call it once). */
  async acquire (): Promise<() => void> {
    if (this.#inUse < this.size) {
      this.#inUse++
    } else {
      // The releasing holder hands its slot straight over: #inUse stays as it is.
      await new Promise<void>((resolve) => { this.#waiting.push(resolve) })
    }
    let released = false
    return () => {
      if (released) return
      released = true
      const next = this.#waiting.shift()
      if (next !== undefined) next()
      else this.#inUse--
    }
  }
}

/** The process's storage slots, shared by every fan-out of every registry instance in it. */
export const storageSlots = new Semaphore(FANOUT_PROCESS)

export interface FanoutOptions {
  /** Items in flight at once for this call; default {@link FANOUT_PER_CALL}. */
  limit?: number
  /** The shared slots; default {@link storageSlots}. */
  slots?: Semaphore
  /**
   * Retry an item that failed with EMFILE/ENFILE (default true). Only for
   * items that can run twice: lookups, idempotent writes and deletes.
   */
  retry?: boolean
}

/** Set while an item of a fan-out runs: nested fan-outs then run inline on its slot. */
const holdingSlot = new AsyncLocalStorage<true>()

/** Runs `work`, retrying after a backoff while it fails with EMFILE/ENFILE. */
export async function retryOnDescriptorExhaustion<R> (work: () => Promise<R>): Promise<R> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await work()
    } catch (error) {
      if (attempt >= RETRY_DELAYS_MS.length || !isDescriptorExhaustion(error)) throw error
      await sleep(RETRY_DELAYS_MS[attempt])
    }
  }
}

/**
 * Runs `work` on the items in order, bounded as above, until every item is
 * done or `stop` returns true for a result (no new item starts after that;
 * those already running finish). On a failure no new item starts either,
 * and the first failure is thrown once the running items have settled.
 * Resolves with the results of the items that ran, by index (holes for
 * those that did not start).
 */
async function run<T, R> (items: Iterable<T>, work: (item: T, index: number) => Promise<R>, options: FanoutOptions, stop?: (result: R) => boolean): Promise<R[]> {
  const results: R[] = []
  const retry = options.retry !== false
  const runItem = async (item: T, index: number): Promise<R> => retry ? await retryOnDescriptorExhaustion(async () => await work(item, index)) : await work(item, index)
  const iterator = items[Symbol.iterator]()
  let index = 0
  let stopped = false
  let failure: { error: unknown } | undefined
  let lastTurn = performance.now()
  const turnWhenDue = async (): Promise<void> => {
    if (performance.now() - lastTurn < TURN_MS) return
    await yieldToEventLoop()
    lastTurn = performance.now()
  }
  if (holdingSlot.getStore() === true) {
    for (let next = iterator.next(); next.done !== true; next = iterator.next()) {
      await turnWhenDue()
      const result = await runItem(next.value, index)
      results[index++] = result
      if (stop?.(result) === true) break
    }
    return results
  }
  const slots = options.slots ?? storageSlots
  const limit = Math.max(1, Math.floor(options.limit ?? FANOUT_PER_CALL))
  const worker = async (): Promise<void> => {
    while (!stopped && failure === undefined) {
      await turnWhenDue()
      const release = await slots.acquire()
      try {
        if (stopped || failure !== undefined) return
        const next = iterator.next()
        if (next.done === true) return
        const at = index++
        const result = await holdingSlot.run(true, async () => await runItem(next.value, at))
        results[at] = result
        if (stop?.(result) === true) stopped = true
      } catch (error) {
        failure ??= { error }
      } finally {
        release()
      }
    }
  }
  await Promise.all(Array.from({ length: limit }, worker))
  if (failure !== undefined) throw failure.error
  return results
}

/** `work` on every item, bounded; the results in the items' order. */
export async function mapBounded<T, R> (items: Iterable<T>, work: (item: T, index: number) => Promise<R>, options: FanoutOptions = {}): Promise<R[]> {
  return await run(items, work, options)
}

/** `work` on every item, bounded. */
export async function forEachBounded<T> (items: Iterable<T>, work: (item: T, index: number) => Promise<void>, options: FanoutOptions = {}): Promise<void> {
  await run(items, work, options)
}

/**
 * The items for which `test` is true, in order, checked bounded; stops
 * starting new checks once `enough` of them are found (those in flight still
 * count), so a manifest with one missing blob among 37,000 stops early.
 */
export async function filterBounded<T> (items: Iterable<T>, test: (item: T) => Promise<boolean>, options: FanoutOptions & { enough?: number } = {}): Promise<T[]> {
  const enough = options.enough ?? Infinity
  const found: Array<{ index: number, item: T }> = []
  await run(items, async (item, index) => {
    const passed = await test(item)
    if (passed) found.push({ index, item })
    return passed
  }, options, () => found.length >= enough)
  // In the items' order, not the order the checks finished in.
  return found.sort((a, b) => a.index - b.index).map(({ item }) => item)
}
