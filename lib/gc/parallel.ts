/** Runs `work` on every item, at most `limit` at once; rejects with the first failure after the running ones settle. */
export async function forEachLimit<T> (items: Iterable<T>, limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const iterator = items[Symbol.iterator]()
  let failure: { error: unknown } | undefined
  const worker = async (): Promise<void> => {
    while (failure === undefined) {
      const next = iterator.next()
      if (next.done === true) return
      try {
        await work(next.value)
      } catch (error) {
        failure ??= { error }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker))
  if (failure !== undefined) throw failure.error
}
