import { test } from 'tap'
import { parse } from 'yaml'
import { RegistryConfigError } from '../../lib/config-error.js'
import { readNotificationsConfig } from '../../lib/notifications/distribution-config.js'

/** As the configuration loader reads YAML: every scalar a string. */
function yaml (text: string): unknown {
  return parse(text, { schema: 'failsafe' })
}

function failure (value: unknown): RegistryConfigError {
  try {
    readNotificationsConfig(value)
  } catch (error) {
    if (error instanceof RegistryConfigError) return error
    throw error
  }
  throw new Error('no error')
}

test('distribution\'s notifications section becomes the option, durations in milliseconds', async (t) => {
  const { options, warnings } = readNotificationsConfig(yaml(`
events:
  includereferences: true
endpoints:
  - name: alistener
    disabled: false
    url: https://my.listener.com/event
    headers:
      Authorization: [Bearer <your token if needed>]
      X-Two: [a, b]
    timeout: 500ms
    threshold: 5
    backoff: 1s
    ignoredmediatypes:
      - application/octet-stream
    ignore:
      mediatypes:
        - application/octet-stream
      actions:
        - pull
  - name: gitlab-style
    url: http://127.0.0.1:8080/hook
    queuesizelimit: 100
    queuepurgetimeout: 2s
    batchsize: 1
    timeout: 0
    threshold: 0
  - name: off
    disabled: true
    url: http://example.com/
  - disabled: true
`))
  t.same(warnings, [])
  t.same(options, {
    endpoints: [
      {
        name: 'alistener',
        url: 'https://my.listener.com/event',
        headers: { Authorization: ['Bearer <your token if needed>'], 'X-Two': ['a', 'b'] },
        timeout: 500,
        backoff: 1000,
        threshold: 5,
        ignoredmediatypes: ['application/octet-stream'],
        ignore: { mediatypes: ['application/octet-stream'], actions: ['pull'] }
      },
      { name: 'gitlab-style', url: 'http://127.0.0.1:8080/hook', queuesizelimit: 100, queuepurgetimeout: 2000, batchsize: 1 },
      { name: 'off', url: 'http://example.com/', disabled: true }
    ],
    events: { includereferences: true }
  })
})

test('plain objects with numbers and booleans are read too; a string list may be comma-separated', async (t) => {
  const { options } = readNotificationsConfig({ endpoints: [{ name: 'a', url: 'http://x/', threshold: 3, disabled: false, ignoredmediatypes: 'a/b, c/d', headers: { 'X-A': 'one' } }], events: { includereferences: false } })
  t.same(options, { endpoints: [{ name: 'a', url: 'http://x/', threshold: 3, ignoredmediatypes: ['a/b', 'c/d'], headers: { 'X-A': ['one'] } }], events: { includereferences: false } })
})

test('nothing configured: no option', async (t) => {
  for (const value of [undefined, null, '', {}, { endpoints: null }, { endpoints: [] }, { endpoints: [{ disabled: 'true' }] }]) {
    t.same(readNotificationsConfig(value), { options: undefined, warnings: [] })
  }
})

test('what we cannot honour is a warning; what cannot be right stops the registry', async (t) => {
  const { options, warnings } = readNotificationsConfig(yaml(`
endpoints:
  - name: a
    url: http://x/
    maxretries: 5
    color: blue
    headers:
      Content-Type: [text/plain]
    ignore:
      actions: [pull, tag]
      other: 1
events:
  other: 1
extra: 1
`))
  t.same(options, { endpoints: [{ name: 'a', url: 'http://x/', ignore: { actions: ['pull'] } }] })
  t.same(warnings, [
    'configuration key "notifications.endpoints[0].headers.Content-Type" is set by the registry on every notification and is ignored',
    'configuration key "notifications.endpoints[0].ignore.other" is not a known configuration key and is ignored',
    'configuration key "notifications.endpoints[0].ignore.actions" has "tag", which is no event action (push, pull, delete, mount), and it is ignored',
    'configuration key "notifications.endpoints[0].maxretries" is not supported and is ignored: failed deliveries are retried until delivered, or dropped when the queue is full (queuesizelimit)',
    'configuration key "notifications.endpoints[0].color" is not a known configuration key and is ignored',
    'configuration key "notifications.events.other" is not a known configuration key and is ignored',
    'configuration key "notifications.extra" is not a known configuration key and is ignored'
  ])

  t.match(failure('x'), { option: 'notifications', message: /must be a mapping/ })
  t.match(failure({ endpoints: 'x' }), { option: 'notifications.endpoints', message: /must be a list/ })
  t.match(failure({ endpoints: ['x'] }), { option: 'notifications.endpoints[0]' })
  t.match(failure({ endpoints: [{ url: 'http://x/' }] }), { option: 'notifications.endpoints[0].name', message: /must be set/ })
  t.match(failure({ endpoints: [{ name: 'a' }] }), { option: 'notifications.endpoints[0].url', message: /must be set/ })
  t.match(failure({ endpoints: [{ name: 'a', url: 'ftp://x/' }] }), { option: 'notifications.endpoints[0].url', message: /http or https/ })
  t.match(failure({ endpoints: [{ name: 'a', url: 'http://x/', timeout: '500' }] }), { option: 'notifications.endpoints[0].timeout', message: /nanoseconds in distribution/ })
  t.match(failure({ endpoints: [{ name: 'a', url: 'http://x/', timeout: 500 }] }), { option: 'notifications.endpoints[0].timeout', message: /nanoseconds/ })
  t.match(failure({ endpoints: [{ name: 'a', url: 'http://x/', backoff: 'soon' }] }), { option: 'notifications.endpoints[0].backoff', message: /like 1s or 500ms, got "soon"/ })
  t.match(failure({ endpoints: [{ name: 'a', url: 'http://x/', backoff: '1000h' }] }), { option: 'notifications.endpoints[0].backoff', message: /at most/ })
  t.match(failure({ endpoints: [{ name: 'a', url: 'http://x/', threshold: 'many' }] }), { option: 'notifications.endpoints[0].threshold', message: /integer/ })
  t.match(failure({ endpoints: [{ name: 'a', url: 'http://x/', disabled: 'maybe' }] }), { option: 'notifications.endpoints[0].disabled', message: /true or false/ })
  t.match(failure({ endpoints: [{ name: 'a', url: 'http://x/', headers: { A: { b: 1 } } }] }), { option: 'notifications.endpoints[0].headers.A' })
  t.match(failure({ endpoints: [{ name: 'a', url: 'http://x/', headers: ['x'] }] }), { option: 'notifications.endpoints[0].headers', message: /mapping/ })
  t.match(failure({ endpoints: [{ name: 'a', url: 'http://x/', ignoredmediatypes: [1] }] }), { option: 'notifications.endpoints[0].ignoredmediatypes' })
  t.match(failure({ endpoints: [{ name: ['a'], url: 'http://x/' }] }), { option: 'notifications.endpoints[0].name', message: /string/ })
  t.match(failure({ events: { includereferences: 'sometimes' } }), { option: 'notifications.events.includereferences' })
})
