/** A small least-recently-used map, bounded by entry count. */
export class LruCache<K, V> {
  readonly #max: number
  readonly #entries = new Map<K, V>()

  constructor (max: number) {
    this.#max = max
  }

  get (key: K): V | undefined {
    const value = this.#entries.get(key)
    if (value !== undefined) {
      this.#entries.delete(key)
      this.#entries.set(key, value)
    }
    return value
  }

  set (key: K, value: V): void {
    this.#entries.delete(key)
    this.#entries.set(key, value)
    if (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value as K
      this.#entries.delete(oldest)
    }
  }

  delete (key: K): void {
    this.#entries.delete(key)
  }

  get size (): number {
    return this.#entries.size
  }
}
