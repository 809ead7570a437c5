import type { App } from '../app.js'

/**
 * The host's way to the registry it mounted. Give a handle to the registry
 * (`app.register(registry, { handle })`) and to `registryHealth` /
 * `registryMetrics`, registered wherever the host wants them (another prefix,
 * behind its own auth, on another server). The registry is encapsulated, so
 * nothing else reaches its App from outside.
 */
export class RegistryHandle {
  #app: App | undefined

  /** True from the registry's registration until it closes. */
  get attached (): boolean {
    return this.#app !== undefined
  }

  /** The registry's App: storage, stores, metrics, read-only state. Throws before the registry is registered. */
  get app (): App {
    if (this.#app === undefined) {
      throw new Error('fastify-oci-registry: this RegistryHandle belongs to no registered registry; pass it as the registry\'s `handle` option and register the registry')
    }
    return this.#app
  }

  /** Called by the registry plugin once its App exists. */
  attach (app: App): void {
    if (this.#app !== undefined && this.#app !== app) throw new Error('fastify-oci-registry: this RegistryHandle already belongs to another registry')
    this.#app = app
  }

  /** Called by the registry plugin when it closes; the handle can then be given to another registry. */
  detach (app: App): void {
    if (this.#app === app) this.#app = undefined
  }
}
