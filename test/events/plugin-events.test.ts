import { test } from 'tap'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import { registry, RegistryConfigError } from '../../lib/index.js'
import { RegistryHandle } from '../../lib/operations/handle.js'
import { parseDistributionConfig } from '../../lib/config/distribution-config.js'
import { EVENTS_MEDIA_TYPE, type RegistryEvent } from '../../lib/events/event.js'
import type { RegistryEvents } from '../../lib/events/registry-events.js'
import type { NotificationsOptions } from '../../lib/notifications/options.js'
import { OCI_MANIFEST, pushImage } from '../helpers/images.js'

/** Whether the plugin is wired for events yet (App.events, App.notifications, its onResponse hook): these tests are skipped before. */
async function isWired (): Promise<boolean> {
  const handle = new RegistryHandle()
  const app = Fastify({ logger: false })
  await app.register(registry, { storage: { inmemory: {} }, uploadState: { secret: 'test-secret' }, handle })
  await app.ready()
  const wired = 'events' in handle.app
  await app.close()
  return wired
}
const wired = await isWired()

async function until (condition: () => boolean, what: string, timeout = 5000): Promise<void> {
  const deadline = Date.now() + timeout
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

test('the plugin emits events on app.events and posts them to its webhook endpoints; close flushes', { skip: wired ? false : 'the plugin is not wired for events yet' }, async (t) => {
  const received: Array<{ headers: IncomingHttpHeaders, events: RegistryEvent[] }> = []
  let answer = 200
  const receiver = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      received.push({ headers: request.headers, events: (JSON.parse(Buffer.concat(chunks).toString()) as { events: RegistryEvent[] }).events })
      response.writeHead(answer).end()
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { receiver.closeAllConnections(); await new Promise((resolve) => receiver.close(resolve)) })
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`

  const handle = new RegistryHandle()
  const app = Fastify({ logger: false })
  const notifications: NotificationsOptions = { endpoints: [{ name: 'hook', url, headers: { Authorization: 'Bearer t' }, ignore: { mediatypes: ['application/octet-stream'] } }], events: { includereferences: true } }
  await app.register(registry, { storage: { inmemory: {} }, uploadState: { secret: 'test-secret' }, handle, ...{ notifications } })
  await app.ready()
  const events = (handle.app as unknown as { events: RegistryEvents }).events
  const pushes: RegistryEvent[] = []
  events.on('push', (event) => { pushes.push(event) })

  const manifest = await pushImage(app, 'wired/app', 'v1')
  await until(() => pushes.length === 3, 'three pushes on app.events')
  t.same(pushes.map((event) => event.target.mediaType), ['application/octet-stream', 'application/octet-stream', OCI_MANIFEST])
  t.equal(pushes[2].target.references?.length, 2, 'includereferences')
  await until(() => received.length === 1, 'the manifest push at the receiver')
  t.equal(received[0].headers['content-type'], EVENTS_MEDIA_TYPE)
  t.equal(received[0].headers.authorization, 'Bearer t')
  t.match(received[0].events, [{ action: 'push', target: { digest: manifest.digest, repository: 'wired/app', tag: 'v1' } }])

  // Queued at close: delivered before close resolves.
  answer = 500
  t.equal((await app.inject({ method: 'GET', url: '/v2/wired/app/manifests/v1' })).statusCode, 200)
  await until(() => received.length >= 2, 'the failing attempt')
  answer = 200
  await app.close()
  t.match(received.at(-1)!.events, [{ action: 'pull', target: { digest: manifest.digest } }])
})

test('bad notifications options stop registration; the distribution configuration maps notifications', { skip: wired ? false : 'the plugin is not wired for events yet' }, async (t) => {
  const app = Fastify({ logger: false })
  await t.rejects(async () => {
    await app.register(registry, { storage: { inmemory: {} }, notifications: { endpoints: [{ name: 'x', url: 'ftp://nope/' }] } } as never)
    await app.ready()
  }, new RegistryConfigError('notifications.endpoints[0].url', 'must be an http or https URL, got "ftp://nope/"'))
  const config = parseDistributionConfig('notifications:\n  endpoints:\n    - name: a\n      url: http://127.0.0.1:9/hook\n      timeout: 250ms\n', {})
  t.same((config.options as { notifications?: unknown }).notifications, { endpoints: [{ name: 'a', url: 'http://127.0.0.1:9/hook', timeout: 250 }] })
  t.same(config.warnings, [])
})
