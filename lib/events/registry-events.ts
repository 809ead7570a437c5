import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { EventAction, RegistryEvent } from './event.js'

/** What each name of `RegistryEvents` delivers: one action, or `event` for every action. */
export interface RegistryEventMap {
  push: RegistryEvent<'push'>
  pull: RegistryEvent<'pull'>
  delete: RegistryEvent<'delete'>
  mount: RegistryEvent<'mount'>
  event: RegistryEvent
}

export type RegistryEventName = keyof RegistryEventMap

/** A listener may return a promise; a rejection is logged like a throw. */
export type RegistryEventListener<K extends RegistryEventName> = (event: RegistryEventMap[K]) => unknown

export interface RegistryEventsOptions {
  /** Where listener failures are logged. */
  log?: FastifyBaseLogger
  /** `source.instanceID` of this registry's events; default a random UUID. */
  instanceID?: string
  /** Whether manifest events carry `target.references` (distribution's `notifications.events.includereferences`). */
  includeReferences?: boolean
}

type AnyListener = (event: RegistryEvent) => unknown

/**
 * The registry's events, for the embedding app (`app.events`, reached through
 * a `RegistryHandle`): `on('push' | 'pull' | 'delete' | 'mount' | 'event', listener)`.
 * Listeners are called after the response has been sent. A listener that
 * throws or rejects is logged and never affects a request or other listeners.
 */
export class RegistryEvents {
  readonly instanceID: string
  readonly includeReferences: boolean
  readonly #log: FastifyBaseLogger | undefined
  // Copied on change, so a listener removing itself (once) does not disturb the delivery in progress.
  readonly #listeners = new Map<RegistryEventName, readonly AnyListener[]>()
  #count = 0

  constructor (options: RegistryEventsOptions = {}) {
    this.instanceID = options.instanceID ?? randomUUID()
    this.includeReferences = options.includeReferences === true
    this.#log = options.log
  }

  /** True when anything listens: without listeners, responses are not turned into events at all. */
  get active (): boolean {
    return this.#count > 0
  }

  listenerCount (name?: RegistryEventName): number {
    if (name === undefined) return this.#count
    return this.#listeners.get(name)?.length ?? 0
  }

  on<K extends RegistryEventName>(name: K, listener: RegistryEventListener<K>): this {
    this.#check(name, listener)
    this.#listeners.set(name, [...(this.#listeners.get(name) ?? []), listener as AnyListener])
    this.#count++
    return this
  }

  /** Calls `listener` for the next event of `name` only. */
  once<K extends RegistryEventName>(name: K, listener: RegistryEventListener<K>): this {
    this.#check(name, listener)
    const wrapper: RegistryEventListener<K> = (event) => {
      this.#remove(name, wrapper as AnyListener)
      return listener(event)
    }
    onceOriginals.set(wrapper as AnyListener, listener as AnyListener)
    return this.on(name, wrapper)
  }

  off<K extends RegistryEventName>(name: K, listener: RegistryEventListener<K>): this {
    const listeners = this.#listeners.get(name)
    if (listeners === undefined) return this
    // The listener itself, or the wrapper `once` made for it.
    const found = listeners.find((candidate) => candidate === listener || onceOriginals.get(candidate) === listener)
    if (found !== undefined) this.#remove(name, found)
    return this
  }

  /**
   * Delivers an event to the listeners of its action, then to `event`
   * listeners. Synchronous listeners run now; nothing is awaited.
   */
  publish (event: RegistryEvent): void {
    const specific = this.#listeners.get(event.action as EventAction)
    if (specific !== undefined) for (const listener of specific) this.#call(listener, event)
    const all = this.#listeners.get('event')
    if (all !== undefined) for (const listener of all) this.#call(listener, event)
  }

  #call (listener: AnyListener, event: RegistryEvent): void {
    try {
      const result = listener(event)
      if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
        (result as Promise<unknown>).then(undefined, (error: unknown) => { this.#failed(error, event) })
      }
    } catch (error) {
      this.#failed(error, event)
    }
  }

  #failed (error: unknown, event: RegistryEvent): void {
    this.#log?.error({ err: error, event: { id: event.id, action: event.action, repository: event.target.repository } }, 'fastify-oci-registry: a registry event listener failed')
  }

  #remove (name: RegistryEventName, listener: AnyListener): void {
    const listeners = this.#listeners.get(name)
    if (listeners === undefined) return
    const index = listeners.indexOf(listener)
    if (index === -1) return
    const rest = listeners.filter((_candidate, at) => at !== index)
    if (rest.length === 0) this.#listeners.delete(name)
    else this.#listeners.set(name, rest)
    this.#count--
  }

  #check (name: string, listener: unknown): void {
    if (!EVENT_NAMES.has(name)) throw new TypeError(`fastify-oci-registry: unknown registry event "${name}"; one of ${[...EVENT_NAMES].join(', ')}`)
    if (typeof listener !== 'function') throw new TypeError('fastify-oci-registry: a registry event listener must be a function')
  }
}

const EVENT_NAMES: ReadonlySet<string> = new Set<RegistryEventName>(['push', 'pull', 'delete', 'mount', 'event'])
const onceOriginals = new WeakMap<AnyListener, AnyListener>()
