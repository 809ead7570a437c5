/** One size of buffer in a pool, and how many of it may exist. */
export interface BufferTier {
  /** Bytes per buffer. */
  size: number
  /** Buffers of this size that may exist at once. */
  budget: number
  /** Given-back buffers kept for the next takers when nobody waits (their pages are already mapped); the rest are let go. */
  keep: number
}

interface Tier extends BufferTier {
  spare: Buffer[]
  /** Buffers that exist and count against the budget: lent out plus spare. */
  allocated: number
}

/**
 * A process-wide budget of buffers for sending files, in tiers: large buffers
 * first (few syscalls per GiB), then, when they are all lent out, small ones, so
 * that clients holding the large ones (a stalled reader holds one until it is cut)
 * slow the others down rather than stop them. Over every tier's budget a taker
 * waits, first come first served, for a buffer another gives back, rather than
 * allocating: memory for downloads in flight stays under the sum of
 * `budget × size` however many clients download, and however slowly they read.
 */
export class BufferPool {
  readonly #tiers: Tier[]
  readonly #waiting: Array<(buffer: Buffer | undefined) => void> = []

  /** `tiers` from the preferred (largest) to the last resort. */
  constructor (tiers: readonly BufferTier[]) {
    this.#tiers = tiers.map((tier) => ({ ...tier, keep: Math.min(tier.keep, tier.budget), spare: [], allocated: 0 }))
  }

  /** The tiers' sizes and budgets, how many of each are lent out now, and how many takers wait. */
  get state (): { tiers: Array<{ size: number, budget: number, lent: number }>, waiting: number } {
    return {
      tiers: this.#tiers.map(({ size, budget, allocated, spare }) => ({ size, budget, lent: allocated - spare.length })),
      waiting: this.#waiting.length
    }
  }

  /** Bytes that the budget allows to exist at once. */
  get limit (): number {
    return this.#tiers.reduce((sum, tier) => sum + tier.size * tier.budget, 0)
  }

  /**
   * A buffer, at once when one is spare or a tier's budget allows another (the
   * first such tier), else when one is given back. `cancelled` resolves the wait
   * with undefined (the taker went away).
   */
  async take (cancelled?: AbortSignal): Promise<Buffer | undefined> {
    for (const tier of this.#tiers) {
      const spare = tier.spare.pop()
      if (spare !== undefined) return spare
      if (tier.allocated < tier.budget) {
        tier.allocated++
        return Buffer.allocUnsafeSlow(tier.size)
      }
    }
    if (cancelled?.aborted === true) return undefined
    return await new Promise<Buffer | undefined>((resolve) => {
      const waiter = (buffer: Buffer | undefined): void => {
        cancelled?.removeEventListener('abort', abort)
        resolve(buffer)
      }
      const abort = (): void => {
        const index = this.#waiting.indexOf(waiter)
        if (index >= 0) this.#waiting.splice(index, 1)
        resolve(undefined)
      }
      cancelled?.addEventListener('abort', abort, { once: true })
      this.#waiting.push(waiter)
    })
  }

  /** Gives a lent buffer back: to the first waiter, else to its tier's spares, else lets it go. */
  give (buffer: Buffer): void {
    const waiter = this.#waiting.shift()
    if (waiter !== undefined) {
      waiter(buffer)
      return
    }
    const tier = this.#tierOf(buffer)
    if (tier.spare.length < tier.keep) tier.spare.push(buffer)
    else tier.allocated--
  }

  /**
   * Writes a lent buffer off: it may still be referenced (by a socket that failed or
   * closed mid-write) and must not be lent again. Its place in the budget is freed.
   */
  forget (buffer: Buffer): void {
    const tier = this.#tierOf(buffer)
    const waiter = this.#waiting.shift()
    if (waiter !== undefined) {
      waiter(Buffer.allocUnsafeSlow(tier.size))
      return
    }
    tier.allocated--
  }

  #tierOf (buffer: Buffer): Tier {
    return this.#tiers.find((tier) => tier.size === buffer.length) ?? this.#tiers[this.#tiers.length - 1]
  }
}
