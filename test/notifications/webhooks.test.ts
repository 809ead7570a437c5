import { test } from 'tap'
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { registry } from '../../lib/index.js'
import { RegistryHandle } from '../../lib/operations/handle.js'
import { eventFor } from '../../lib/events/event-for.js'
import { RegistryEvents } from '../../lib/events/registry-events.js'
import { EVENTS_MEDIA_TYPE, type EventAction, type RegistryEvent } from '../../lib/events/event.js'
import { createNotifications, Notifications } from '../../lib/notifications/notifications.js'
import { WebhookEndpoint } from '../../lib/notifications/endpoint.js'
import { resolveEndpoint, type NotificationEndpointOptions } from '../../lib/notifications/options.js'
import { randomBlob } from '../helpers/registry.js'
import { OCI_MANIFEST, pushImage } from '../helpers/images.js'

type Answer = number | 'hold'

interface Delivery {
  headers: IncomingHttpHeaders
  events: RegistryEvent[]
  status: number | 'held'
}

/** A real webhook receiver on 127.0.0.1: records every POST and answers as told. */
class Receiver {
  readonly deliveries: Delivery[] = []
  /** Requests held open ('hold'), answered by `release`. */
  readonly held: Array<{ response: ServerResponse, delivery: Delivery }> = []
  /** Answers for the next requests, in order; then `then`. */
  answers: Answer[] = []
  then: Answer = 200
  port = 0
  #server: Server | undefined

  async start (port = 0): Promise<this> {
    const server = createServer((request, response) => { this.#handle(request, response) })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => { resolve() })
    })
    this.#server = server
    this.port = (server.address() as AddressInfo).port
    return this
  }

  get url (): string {
    return `http://127.0.0.1:${this.port}/hook?token=secret`
  }

  /** Events in requests answered with success, in order. */
  get accepted (): RegistryEvent[] {
    return this.deliveries.filter((delivery) => typeof delivery.status === 'number' && delivery.status < 400).flatMap((delivery) => delivery.events)
  }

  #handle (request: IncomingMessage, response: ServerResponse): void {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events: RegistryEvent[] }
      const answer = this.answers.shift() ?? this.then
      const delivery: Delivery = { headers: request.headers, events: body.events, status: answer === 'hold' ? 'held' : answer }
      this.deliveries.push(delivery)
      if (answer === 'hold') {
        this.held.push({ response, delivery })
        return
      }
      response.writeHead(answer, answer >= 300 && answer < 400 ? { location: '/elsewhere' } : {}).end('answer body')
    })
  }

  release (status = 200): void {
    for (const { response, delivery } of this.held.splice(0)) {
      delivery.status = status
      if (!response.destroyed) response.writeHead(status).end()
    }
  }

  /** Stops listening and drops every connection: the endpoint then gets "connection refused". */
  async stop (): Promise<void> {
    const server = this.#server
    this.#server = undefined
    if (server === undefined) return
    server.closeAllConnections()
    await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  }
}

const silentLog = { child: () => silentLog, info: () => {}, warn: () => {}, error: () => {}, debug: () => {} } as unknown as FastifyBaseLogger

interface LogEntry { level: string, details: unknown, message: string }
function recordingLog (): { log: FastifyBaseLogger, entries: LogEntry[] } {
  const entries: LogEntry[] = []
  const at = (level: string) => (details: unknown, message: string) => { entries.push({ level, details, message }) }
  const log = { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') } as unknown as FastifyBaseLogger
  ;(log as unknown as { child: () => FastifyBaseLogger }).child = () => log
  return { log, entries }
}

async function until (condition: () => boolean, what: string, timeout = 5000): Promise<void> {
  const deadline = Date.now() + timeout
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

function endpoint (url: string, options: Partial<NotificationEndpointOptions> = {}): NotificationEndpointOptions {
  return { name: 'hook', url, timeout: 2000, threshold: 2, backoff: 50, ...options }
}

function syntheticEvent (n: number, action: EventAction = 'push', mediaType = OCI_MANIFEST): RegistryEvent {
  return {
    id: `event-${n}`,
    timestamp: new Date().toISOString(),
    action,
    target: { mediaType, repository: 'repo', digest: `sha256:${String(n).padStart(64, '0')}` },
    request: { id: `req-${n}`, method: 'PUT', useragent: 'test' },
    actor: {},
    source: { instanceID: 'test' }
  }
}

/** The registry in a host app whose onResponse hook turns responses into events (as the plugin's hook will), sent to `notifications`. */
async function registryWith (notifications: Notifications): Promise<{ app: FastifyInstance, events: RegistryEvents }> {
  const handle = new RegistryHandle()
  const events = new RegistryEvents({ instanceID: 'webhook-test' })
  notifications.attach(events)
  const app = Fastify({ logger: false })
  app.addHook('onResponse', async (request, reply) => {
    if (!events.active) return
    const event = await eventFor(request, reply, { instanceID: events.instanceID, lookups: handle.app })
    if (event !== undefined) events.publish(event)
  })
  await app.register(registry, { storage: { inmemory: {} }, uploadState: { secret: 'test-secret' }, handle })
  await app.ready()
  return { app, events }
}

test('events reach the receiver in distribution\'s envelope, with the configured headers; ignore rules apply per endpoint', async (t) => {
  const all = await new Receiver().start()
  const filtered = await new Receiver().start()
  t.teardown(async () => { await all.stop(); await filtered.stop() })
  const notifications = createNotifications({
    endpoints: [
      endpoint(all.url, { name: 'all', headers: { Authorization: ['Bearer abc'], 'X-Multi': ['one', 'two'], 'X-Single': 'yes' } }),
      endpoint(filtered.url, { name: 'filtered', ignoredmediatypes: ['application/octet-stream'], ignore: { actions: ['pull'] } }),
      endpoint('http://127.0.0.1:1/never', { name: 'off', disabled: true })
    ]
  }, silentLog)!
  t.equal(notifications.endpoints.length, 2, 'the disabled endpoint is left out')
  const { app } = await registryWith(notifications)
  t.teardown(async () => { await app.close(); await notifications.close() })

  const manifest = await pushImage(app, 'team/app', 'v1')
  t.equal((await app.inject({ method: 'GET', url: '/v2/team/app/manifests/v1', headers: { 'user-agent': 'puller/1' } })).statusCode, 200)
  await until(() => all.accepted.length === 4, 'four events at the first receiver')
  await until(() => filtered.accepted.length === 1, 'one event at the filtered receiver')

  const first = all.deliveries[0]
  t.equal(first.headers['content-type'], EVENTS_MEDIA_TYPE)
  t.equal(first.headers.authorization, 'Bearer abc')
  t.equal(first.headers['x-multi'], 'one, two')
  t.equal(first.headers['x-single'], 'yes')
  t.equal(first.headers['user-agent'], 'fastify-oci-registry-notifications')
  t.same(all.accepted.map((event) => [event.action, event.target.mediaType]), [
    ['push', 'application/octet-stream'],
    ['push', 'application/octet-stream'],
    ['push', OCI_MANIFEST],
    ['pull', OCI_MANIFEST]
  ])
  const push = all.accepted[2]
  t.match(push, {
    action: 'push',
    target: { mediaType: OCI_MANIFEST, size: manifest.body.length, length: manifest.body.length, digest: manifest.digest, repository: 'team/app', tag: 'v1' },
    request: { method: 'PUT' },
    source: { instanceID: 'webhook-test' }
  })
  t.equal(all.accepted[3].request.useragent, 'puller/1')
  t.same(filtered.accepted.map((event) => event.id), [push.id], 'blobs (by media type) and pulls (by action) are ignored')
  // The receiver records a request before it answers: wait for the endpoints to see the answers.
  await until(() => notifications.status()[0].delivered === 4 && notifications.status()[1].delivered === 1, 'the answers')
  t.match(notifications.status(), [{ name: 'all', delivered: 4, ignored: 0, dropped: 0 }, { name: 'filtered', delivered: 1, ignored: 3, dropped: 0, url: `http://127.0.0.1:${filtered.port}/hook` }])
})

test('a receiver that is down, then answers 500, then comes back: every event arrives after the backoff, in order', async (t) => {
  // Reserve a port, then free it: the endpoint gets "connection refused" until the receiver listens there again.
  const receiver = await new Receiver().start()
  const port = receiver.port
  await receiver.stop()
  const { log, entries } = recordingLog()
  const notifications = createNotifications({ endpoints: [endpoint(`http://127.0.0.1:${port}/hook`, { threshold: 3, backoff: 100 })] }, log)!
  const { app } = await registryWith(notifications)
  t.teardown(async () => { await app.close(); await notifications.close(); await receiver.stop() })

  const blob = randomBlob(100)
  const pushed = await app.inject({ method: 'POST', url: `/v2/down/blobs/uploads/?digest=${blob.digest}`, payload: blob.content, headers: { 'content-type': 'application/octet-stream' } })
  t.equal(pushed.statusCode, 201, 'the registry answers while the receiver is down')
  await pushImage(app, 'down', 'v1')
  const [hook] = notifications.endpoints
  await until(() => hook.status().failures >= 3, 'three consecutive failures')
  t.ok(entries.some((entry) => entry.level === 'warn' && /retrying every 100 ms/.test(entry.message)), 'backing off is logged')
  t.equal(hook.status().delivered, 0)
  const published = hook.status().pending + hook.status().sending
  t.equal(published, 4)

  // Back, but failing: 500s are failures too, and the batch is retried.
  receiver.answers = [500, 500]
  await receiver.start(port)
  await until(() => receiver.accepted.length === 4 && hook.status().delivered === 4, 'all four events accepted')
  t.equal(receiver.deliveries[0].status, 500)
  t.equal(receiver.deliveries[1].status, 500)
  t.same(receiver.deliveries[2].events.map((event) => event.id), receiver.deliveries[0].events.map((event) => event.id), 'the failed batch is sent again as it was')
  const accepted = receiver.accepted
  t.same(accepted.map((event) => event.target.repository), ['down', 'down', 'down', 'down'])
  t.equal(accepted[0].target.digest, blob.digest, 'the first event first')
  t.equal(accepted[3].target.mediaType, OCI_MANIFEST, 'the manifest push last')
  t.equal(new Set(accepted.map((event) => event.id)).size, 4, 'no event accepted twice')
  t.match(hook.status(), { delivered: 4, dropped: 0, failures: 0, pending: 0, sending: 0 })
  t.ok(entries.some((entry) => entry.level === 'info' && /reachable again/.test(entry.message)))
})

test('a full queue drops its oldest events, with a warning; the rest arrive in order', async (t) => {
  const receiver = await new Receiver().start()
  const port = receiver.port
  await receiver.stop()
  const { log, entries } = recordingLog()
  const hook = new WebhookEndpoint(resolveEndpoint(endpoint(`http://127.0.0.1:${port}/hook`, { queuesizelimit: 3, threshold: 1, backoff: 100 })), log)
  t.teardown(async () => { await hook.close(); await receiver.stop() })
  hook.write(syntheticEvent(1))
  await until(() => hook.status().failures >= 1, 'the first attempt to fail')
  for (let n = 2; n <= 10; n++) hook.write(syntheticEvent(n))
  t.match(hook.status(), { sending: 1, pending: 3, dropped: 6 })
  const warnings = entries.filter((entry) => entry.level === 'warn' && /queue is full/.test(entry.message))
  t.equal(warnings.length, 1, 'one warning, not one per event')
  await receiver.start(port)
  await until(() => receiver.accepted.length === 4, 'the events that were kept')
  t.same(receiver.accepted.map((event) => event.id), ['event-1', 'event-8', 'event-9', 'event-10'])
  t.equal(receiver.deliveries.length, 2, 'the queued events go in one batch')
})

test('a slow receiver never delays registry responses', async (t) => {
  const receiver = await new Receiver().start()
  receiver.answers = ['hold']
  const notifications = createNotifications({ endpoints: [endpoint(receiver.url, { timeout: 15_000 })] }, silentLog)!
  const { app } = await registryWith(notifications)
  t.teardown(async () => { await app.close(); await notifications.close(); await receiver.stop() })

  const first = randomBlob(10)
  t.equal((await app.inject({ method: 'POST', url: `/v2/slow/blobs/uploads/?digest=${first.digest}`, payload: first.content, headers: { 'content-type': 'application/octet-stream' } })).statusCode, 201)
  await until(() => receiver.held.length === 1, 'the receiver to hold the first webhook request')
  // While the receiver holds that request open, the registry answers everything else.
  const manifest = await pushImage(app, 'slow', 'v1')
  for (let i = 0; i < 5; i++) t.equal((await app.inject({ method: 'GET', url: '/v2/slow/manifests/v1' })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: `/v2/slow/blobs/${first.digest}` })).statusCode, 200)
  t.equal(receiver.held.length, 1, 'the webhook request is still open')
  t.notOk(receiver.held[0].response.writableEnded)
  t.equal(receiver.deliveries.length, 1, 'one request at a time per endpoint')
  const [hook] = notifications.endpoints
  t.match(hook.status(), { sending: 1, pending: 9, delivered: 0 })
  receiver.release()
  await until(() => receiver.accepted.length === 10, 'every event once the receiver answers')
  t.equal(receiver.accepted[3].target.digest, manifest.digest)
  t.equal(receiver.deliveries.length, 2, 'what waited went in one envelope')
})

test('an attempt that times out is a failure and is retried', async (t) => {
  const receiver = await new Receiver().start()
  receiver.answers = ['hold']
  const hook = new WebhookEndpoint(resolveEndpoint(endpoint(receiver.url, { timeout: 150, threshold: 5 })), silentLog)
  t.teardown(async () => { await hook.close(); await receiver.stop() })
  hook.write(syntheticEvent(1))
  await until(() => receiver.accepted.length === 1 && hook.status().delivered === 1, 'the retried event')
  t.equal(receiver.deliveries.length, 2)
  t.equal(receiver.deliveries[0].status, 'held')
  t.match(hook.status(), { delivered: 1, failedAttempts: 1 })
  receiver.release()
})

test('3xx answers are success (not followed); 4xx are failures', async (t) => {
  const receiver = await new Receiver().start()
  receiver.answers = [404, 302]
  const hook = new WebhookEndpoint(resolveEndpoint(endpoint(receiver.url, { batchsize: 1 })), silentLog)
  t.teardown(async () => { await hook.close(); await receiver.stop() })
  hook.write(syntheticEvent(1))
  hook.write(syntheticEvent(2))
  await until(() => hook.status().delivered === 2, 'both events')
  t.same(receiver.deliveries.map((delivery) => [delivery.status, delivery.events.map((event) => event.id)]), [
    [404, ['event-1']],
    [302, ['event-1']],
    [200, ['event-2']]
  ], 'batchsize 1 sends one event per request')
})

test('close flushes what is queued; a receiver that stays down is given up after queuepurgetimeout', async (t) => {
  const receiver = await new Receiver().start()
  const notifications = createNotifications({ endpoints: [endpoint(receiver.url, { batchsize: 2 })] }, silentLog)!
  for (let n = 1; n <= 5; n++) notifications.write(syntheticEvent(n))
  await notifications.close()
  t.same(receiver.accepted.map((event) => event.id), ['event-1', 'event-2', 'event-3', 'event-4', 'event-5'], 'delivered before close resolved')
  t.equal(receiver.deliveries.length, 3)
  notifications.write(syntheticEvent(6))
  t.match(notifications.status(), [{ delivered: 5, dropped: 1 }], 'events after close are dropped')
  await notifications.close()

  const port = receiver.port
  await receiver.stop()
  const { log, entries } = recordingLog()
  const down = new WebhookEndpoint(resolveEndpoint(endpoint(`http://127.0.0.1:${port}/hook`, { queuepurgetimeout: 200, threshold: 1, backoff: 60_000 })), log)
  for (let n = 1; n <= 3; n++) down.write(syntheticEvent(n))
  const started = Date.now()
  await down.close()
  t.ok(Date.now() - started < 5000, 'close does not wait for the backoff')
  t.match(down.status(), { delivered: 0, dropped: 3, pending: 0, sending: 0 })
  t.ok(entries.some((entry) => entry.level === 'warn' && /closed before they could be delivered/.test(entry.message) && (entry.details as { dropped: number }).dropped === 3))
})

test('closing abandons a request the receiver holds open once the deadline passes', async (t) => {
  const receiver = await new Receiver().start()
  receiver.then = 'hold'
  const hook = new WebhookEndpoint(resolveEndpoint(endpoint(receiver.url, { timeout: 60_000, queuepurgetimeout: 100 })), silentLog)
  t.teardown(async () => { await receiver.stop() })
  hook.write(syntheticEvent(1))
  await until(() => receiver.held.length === 1, 'the held request')
  await hook.close()
  t.match(hook.status(), { delivered: 0, dropped: 1 })
  await hook.close()
})

test('no enabled endpoint: no Notifications at all', async (t) => {
  t.equal(createNotifications(undefined, silentLog), undefined)
  t.equal(createNotifications({ endpoints: [endpoint('http://127.0.0.1:1/', { disabled: true })] }, silentLog), undefined)
  t.equal(createNotifications({ events: { includereferences: true } }, silentLog), undefined)
  const events = new RegistryEvents()
  const notifications = new Notifications({ endpoints: [endpoint('http://127.0.0.1:1/')] }, silentLog, { sink: () => ({ send: async () => 200, close: () => {} }) })
  notifications.attach(events)
  notifications.attach(events)
  t.equal(events.listenerCount('event'), 1)
  events.publish(syntheticEvent(1))
  await until(() => notifications.status()[0].delivered === 1, 'the event through the custom sink')
  await notifications.close()
  t.equal(events.listenerCount('event'), 0, 'close stops listening')
})
