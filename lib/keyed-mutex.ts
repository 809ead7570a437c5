/** Serialises async work per key within this process (for example one upload's requests). */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<void>>()

  /** True while work for `key` is running or queued. */
  isLocked (key: string): boolean {
    return this.#tails.has(key)
  }

  async run<T> (key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve()
    let release!: () => void
    const current = new Promise<void>((resolve) => { release = resolve })
    const tail = previous.then(async () => await current)
    this.#tails.set(key, tail)
    try {
      await previous
      return await work()
    } finally {
      release()
      if (this.#tails.get(key) === tail) this.#tails.delete(key)
    }
  }
}
