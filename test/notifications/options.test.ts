import { test } from 'tap'
import { RegistryConfigError } from '../../lib/config-error.js'
import { DEFAULT_ENDPOINT, resolveEndpoint, validateNotificationsOptions } from '../../lib/notifications/options.js'
import { isIgnored } from '../../lib/notifications/ignore.js'
import type { RegistryEvent } from '../../lib/events/event.js'

function problem (value: unknown): { option: string, message: string } {
  try {
    validateNotificationsOptions(value)
  } catch (error) {
    if (error instanceof RegistryConfigError) return { option: error.option, message: error.message }
    throw error
  }
  throw new Error('no error')
}

test('valid options pass through typed', async (t) => {
  const options = {
    endpoints: [{
      name: 'hook',
      url: 'https://hooks.example.com/registry?x=1',
      headers: { Authorization: ['Bearer t'], 'X-One': 'one' },
      timeout: 500,
      threshold: 5,
      backoff: 2000,
      ignoredmediatypes: ['application/octet-stream'],
      ignore: { mediatypes: ['a/b'], actions: ['pull' as const, 'mount' as const] },
      disabled: false,
      queuesizelimit: 50,
      queuepurgetimeout: 0,
      batchsize: 1
    }],
    events: { includereferences: true }
  }
  t.equal(validateNotificationsOptions(options), options)
  t.same(validateNotificationsOptions({}), {})
})

test('bad options name the key', async (t) => {
  t.match(problem({ endpoints: [{ name: 'a', url: 'ftp://x/' }] }), { option: 'notifications.endpoints[0].url' })
  t.match(problem({ endpoints: [{ name: 'a', url: 'http://' }] }), { option: 'notifications.endpoints[0].url' })
  t.match(problem({ endpoints: [{ name: 'a', url: 'http://x/', timeout: 0 }] }), { option: 'notifications.endpoints[0].timeout' })
  t.match(problem({ endpoints: [{ name: 'a', url: 'http://x/' }, { url: 'http://y/' }] }), { option: 'notifications.endpoints[1]' })
  t.match(problem({ endpoints: [{ name: 'a', url: 'http://x/', ignore: { actions: ['tag'] } }] }), { option: /^notifications\.endpoints\[0\]\.ignore\.actions/ })
  t.match(problem({ endpoints: [{ name: 'a', url: 'http://x/', extra: 1 }] }), { option: 'notifications.endpoints[0]' })
  t.match(problem({ endpoint: [] }), { option: 'notifications' })
  t.match(problem({ endpoints: [{ name: 'a', url: 'http://x/', headers: { 'Bad Name': 'v' } }] }), { option: 'notifications.endpoints[0].headers', message: /invalid header name/ })
  const newline = problem({ endpoints: [{ name: 'a', url: 'http://x/', headers: { 'X-Token': 'secret\r\nInjected: 1' } }] })
  t.match(newline, { option: 'notifications.endpoints[0].headers.X-Token', message: /line break/ })
  t.notMatch(newline.message, /secret/, 'a header value is never echoed')
  t.match(problem({ endpoints: [{ name: 'a', url: 'http://x/', headers: { 'Content-Type': 'text/plain' } }] }), { option: 'notifications.endpoints[0].headers.Content-Type', message: /set by the registry/ })
  t.match(problem('yes'), { option: 'notifications' })
})

test('resolveEndpoint applies distribution\'s defaults and merges the ignore lists', async (t) => {
  const resolved = resolveEndpoint({ name: 'a', url: 'http://x/hook', headers: { 'X-A': 'one', 'x-a': ['two'] }, ignoredmediatypes: ['m/1'], ignore: { mediatypes: ['m/2'], actions: ['delete'] } })
  t.equal(resolved.url.href, 'http://x/hook')
  t.same(resolved.headers, { 'x-a': ['one', 'two'] })
  t.equal(resolved.timeout, DEFAULT_ENDPOINT.timeout)
  t.equal(resolved.threshold, 10)
  t.equal(resolved.backoff, 1000)
  t.equal(resolved.queueSizeLimit, DEFAULT_ENDPOINT.queueSizeLimit)
  t.equal(resolved.queuePurgeTimeout, DEFAULT_ENDPOINT.queuePurgeTimeout)
  t.equal(resolved.batchSize, DEFAULT_ENDPOINT.batchSize)
  t.same([...resolved.ignoredMediaTypes].sort(), ['m/1', 'm/2'])
  t.same([...resolved.ignoredActions], ['delete'])
})

test('ignore rules: exact media type, or action; deletes have no media type', async (t) => {
  const rules = { ignoredMediaTypes: new Set(['application/octet-stream']), ignoredActions: new Set(['pull' as const]) }
  const event = (action: RegistryEvent['action'], mediaType?: string): RegistryEvent => ({
    id: 'e', timestamp: '', action, target: { repository: 'r', ...(mediaType === undefined ? {} : { mediaType }) }, request: { id: 'r', method: 'GET', useragent: '' }, actor: {}, source: {}
  })
  t.equal(isIgnored(event('push', 'application/octet-stream'), rules), true)
  t.equal(isIgnored(event('push', 'application/vnd.oci.image.manifest.v1+json'), rules), false)
  t.equal(isIgnored(event('pull', 'application/vnd.oci.image.manifest.v1+json'), rules), true)
  t.equal(isIgnored(event('delete'), rules), false)
  t.equal(isIgnored(event('mount', 'Application/Octet-Stream'), rules), false, 'compared exactly, as distribution does')
})
