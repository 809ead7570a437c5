import type { FastifyBaseLogger } from 'fastify'
import type { RegistryEvent } from '../events/event.js'
import type { RegistryEvents } from '../events/registry-events.js'
import { WebhookEndpoint, type EndpointStatus, type EventSink } from './endpoint.js'
import { resolveEndpoint, type NotificationsOptions, type ResolvedEndpoint } from './options.js'

export interface NotificationsCreateOptions {
  /** Makes each endpoint's sender (tests); default: HTTP POST. */
  sink?: (endpoint: ResolvedEndpoint) => EventSink
}

/**
 * The webhook endpoints of `notifications.endpoints` (the enabled ones): every
 * event is offered to each, and each queues, filters and delivers on its own,
 * so a slow or unreachable endpoint delays neither requests nor other endpoints.
 */
export class Notifications {
  readonly endpoints: readonly WebhookEndpoint[]
  readonly #listener = (event: RegistryEvent): void => { this.write(event) }
  #source: RegistryEvents | undefined

  constructor (options: NotificationsOptions, log: FastifyBaseLogger, create: NotificationsCreateOptions = {}) {
    const endpoints: WebhookEndpoint[] = []
    for (const endpoint of options.endpoints ?? []) {
      if (endpoint.disabled === true) {
        log.info({ endpoint: endpoint.name }, 'fastify-oci-registry: notification endpoint disabled; skipping it')
        continue
      }
      const resolved = resolveEndpoint(endpoint)
      endpoints.push(new WebhookEndpoint(resolved, log, create.sink?.(resolved)))
    }
    this.endpoints = endpoints
  }

  /** Offers an event to every endpoint; never waits. */
  write (event: RegistryEvent): void {
    for (const endpoint of this.endpoints) endpoint.write(event)
  }

  /** Sends the events `events` publishes from now on, until `close`. */
  attach (events: RegistryEvents): void {
    if (this.#source === events) return
    this.#source?.off('event', this.#listener)
    this.#source = events
    events.on('event', this.#listener)
  }

  status (): EndpointStatus[] {
    return this.endpoints.map((endpoint) => endpoint.status())
  }

  /** Stops listening and closes every endpoint, each flushing its queue within its `queuepurgetimeout`. */
  async close (): Promise<void> {
    this.#source?.off('event', this.#listener)
    this.#source = undefined
    await Promise.all(this.endpoints.map(async (endpoint) => { await endpoint.close() }))
  }
}

/** The endpoints the option enables, or undefined when there are none. */
export function createNotifications (options: NotificationsOptions | undefined, log: FastifyBaseLogger, create: NotificationsCreateOptions = {}): Notifications | undefined {
  if (options === undefined) return undefined
  const notifications = new Notifications(options, log, create)
  return notifications.endpoints.length === 0 ? undefined : notifications
}
