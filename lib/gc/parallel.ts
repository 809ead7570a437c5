import { forEachBounded } from '../storage-concurrency.js'

/**
 * Runs `work` on every item, at most `limit` at once and within the process's
 * shared storage slots (lib/storage-concurrency.ts); rejects with the first
 * failure after the running ones settle. Items are not retried: a collector's
 * steps count what they did, so running one twice would miscount.
 */
export async function forEachLimit<T> (items: Iterable<T>, limit: number, work: (item: T) => Promise<void>): Promise<void> {
  await forEachBounded(items, async (item) => { await work(item) }, { limit, retry: false })
}
