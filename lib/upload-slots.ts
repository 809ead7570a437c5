import { RegistryError } from '../errors/index.js'

/**
 * Caps how many upload requests one instance receives at once. A request
 * over the cap is refused at once with TOOMANYREQUESTS and `Retry-After`,
 * rather than queued: the client backs off and tries again.
 */
export class UploadSlots {
  readonly #limit: number
  #inUse = 0

  constructor (limit: number | undefined) {
    this.#limit = limit ?? Number.POSITIVE_INFINITY
  }

  get inUse (): number {
    return this.#inUse
  }

  async run<T> (work: () => Promise<T>): Promise<T> {
    if (this.#inUse >= this.#limit) {
      throw new RegistryError('TOOMANYREQUESTS', {
        message: `this instance is receiving ${this.#inUse} uploads already; retry shortly`,
        headers: { 'Retry-After': '1', Connection: 'close' }
      })
    }
    this.#inUse++
    try {
      return await work()
    } finally {
      this.#inUse--
    }
  }
}
