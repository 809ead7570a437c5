import { test } from 'tap'
import type { FastifyBaseLogger } from 'fastify'
import { RegistryEvents } from '../../lib/events/registry-events.js'
import type { EventAction, RegistryEvent } from '../../lib/events/event.js'

function event (action: EventAction, repository = 'repo'): RegistryEvent {
  return {
    id: `${action}-${repository}`,
    timestamp: new Date().toISOString(),
    action,
    target: { repository, digest: `sha256:${'0'.repeat(64)}` },
    request: { id: 'req-1', method: 'GET', useragent: '' },
    actor: {},
    source: { instanceID: 'i' }
  }
}

function recordingLog (): { log: FastifyBaseLogger, errors: Array<{ details: unknown, message: string }> } {
  const errors: Array<{ details: unknown, message: string }> = []
  const log = { error: (details: unknown, message: string) => { errors.push({ details, message }) } } as unknown as FastifyBaseLogger
  return { log, errors }
}

test('listeners get the events of their action, then `event` listeners get every event', async (t) => {
  const events = new RegistryEvents()
  const calls: string[] = []
  events.on('push', (pushed) => {
    const action: 'push' = pushed.action
    calls.push(`push:${action}`)
  })
  events.on('pull', () => { calls.push('pull') })
  events.on('event', (any) => { calls.push(`event:${any.action}`) })
  for (const action of ['push', 'pull', 'delete', 'mount'] as const) events.publish(event(action))
  t.same(calls, ['push:push', 'event:push', 'pull', 'event:pull', 'event:delete', 'event:mount'])
})

test('on, once, off, active and listenerCount', async (t) => {
  const events = new RegistryEvents()
  t.equal(events.active, false)
  const seen: string[] = []
  const listener = (e: RegistryEvent): void => { seen.push(`on:${e.action}`) }
  const onceListener = (e: RegistryEvent): void => { seen.push(`once:${e.action}`) }
  events.on('delete', listener).once('delete', onceListener)
  t.equal(events.active, true)
  t.equal(events.listenerCount('delete'), 2)
  t.equal(events.listenerCount(), 2)
  events.publish(event('delete'))
  events.publish(event('delete'))
  t.same(seen, ['on:delete', 'once:delete', 'on:delete'])
  t.equal(events.listenerCount('delete'), 1)
  events.off('delete', listener)
  t.equal(events.active, false)
  events.publish(event('delete'))
  t.equal(seen.length, 3)

  // off removes a once listener before it fires.
  events.once('mount', onceListener)
  events.off('mount', onceListener)
  events.publish(event('mount'))
  t.equal(seen.length, 3)
  t.equal(events.listenerCount(), 0)
  events.off('pull', listener)
})

test('a throwing or rejecting listener is logged and never stops the others', async (t) => {
  const { log, errors } = recordingLog()
  const events = new RegistryEvents({ log })
  const seen: string[] = []
  events.on('push', () => { throw new Error('sync failure') })
  events.on('push', async () => { throw new Error('async failure') })
  events.on('push', () => { seen.push('third') })
  events.on('event', () => { seen.push('all') })
  t.doesNotThrow(() => { events.publish(event('push')) })
  t.same(seen, ['third', 'all'])
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(errors.length, 2)
  t.match(errors.map((error) => (error.details as { err: Error }).err.message).sort(), ['async failure', 'sync failure'])
  t.match(errors[0].details, { event: { id: 'push-repo', action: 'push', repository: 'repo' } })
  // Without a logger, failures are swallowed.
  const quiet = new RegistryEvents()
  quiet.on('pull', () => { throw new Error('nobody hears') })
  t.doesNotThrow(() => { quiet.publish(event('pull')) })
})

test('a listener added by a listener waits for the next event; unknown names and non-functions are refused', async (t) => {
  const events = new RegistryEvents({ instanceID: 'fixed', includeReferences: true })
  t.equal(events.instanceID, 'fixed')
  t.equal(events.includeReferences, true)
  t.match(new RegistryEvents().instanceID, /^[0-9a-f-]{36}$/)
  let late = 0
  events.once('event', () => { events.on('event', () => { late++ }) })
  events.publish(event('pull'))
  t.equal(late, 0)
  events.publish(event('pull'))
  t.equal(late, 1)
  t.throws(() => events.on('tag' as 'push', () => {}), /unknown registry event "tag"/)
  t.throws(() => events.on('push', 'nope' as unknown as () => void), /must be a function/)
})
