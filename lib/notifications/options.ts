import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { RegistryConfigError } from '../config-error.js'
import { EVENT_ACTIONS, type EventAction } from '../events/event.js'

/** Longest timer Node keeps (setTimeout's limit), in milliseconds. */
const MAX_TIMER_MS = 2 ** 31 - 1
const Milliseconds = Type.Integer({ minimum: 1, maximum: MAX_TIMER_MS })
const PositiveInteger = Type.Integer({ minimum: 1 })
const ActionSchema = Type.Union(EVENT_ACTIONS.map((action) => Type.Literal(action)))

/**
 * One webhook endpoint: distribution's `notifications.endpoints[]` keys,
 * durations in milliseconds, plus `queuesizelimit` and `queuepurgetimeout`
 * (as in GitLab's fork of distribution) and `batchsize` (ours).
 */
export const NotificationEndpointSchema = Type.Object({
  /** Names the endpoint in logs. */
  name: Type.String({ minLength: 1 }),
  /** Where envelopes are POSTed: an http or https URL. */
  url: Type.String({ minLength: 1 }),
  /** Sent with every request, as distribution's `headers` (values a string or a list). */
  headers: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.Union([Type.String(), Type.Array(Type.String())]))),
  /** Milliseconds one delivery attempt may take, response included (default 1000). */
  timeout: Type.Optional(Milliseconds),
  /** Consecutive failures before retries wait `backoff` (default 10); below it, a failed delivery is retried at once. */
  threshold: Type.Optional(PositiveInteger),
  /** Milliseconds between attempts once `threshold` consecutive attempts have failed (default 1000). */
  backoff: Type.Optional(Milliseconds),
  /** Events whose target has one of these media types are not sent (distribution's older spelling of `ignore.mediatypes`). */
  ignoredmediatypes: Type.Optional(Type.Array(Type.String())),
  ignore: Type.Optional(Type.Object({
    /** Events whose target has one of these media types are not sent. */
    mediatypes: Type.Optional(Type.Array(Type.String())),
    /** Events with one of these actions are not sent. */
    actions: Type.Optional(Type.Array(ActionSchema))
  }, { additionalProperties: false })),
  /** Configured but not used (default false). */
  disabled: Type.Optional(Type.Boolean()),
  /** Events waiting for this endpoint at most; when full the oldest is dropped, with a warning (default 10000). */
  queuesizelimit: Type.Optional(PositiveInteger),
  /** Milliseconds the endpoint keeps delivering what is queued once the registry closes (default 5000); the rest is dropped. */
  queuepurgetimeout: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_TIMER_MS })),
  /** Events sent together in one envelope at most (default 100; 1 sends one event per request, as distribution 3 does). */
  batchsize: Type.Optional(PositiveInteger)
}, { additionalProperties: false })
export type NotificationEndpointOptions = Static<typeof NotificationEndpointSchema>

/** `notifications`: webhook endpoints in distribution's format, and what events carry. */
export const NotificationsOptionsSchema = Type.Object({
  endpoints: Type.Optional(Type.Array(NotificationEndpointSchema)),
  events: Type.Optional(Type.Object({
    /** Manifest events carry `target.references`: the manifest's config, layers or child manifests (default false). */
    includereferences: Type.Optional(Type.Boolean())
  }, { additionalProperties: false }))
}, { additionalProperties: false })
export type NotificationsOptions = Static<typeof NotificationsOptionsSchema>

/** An endpoint with every default applied. */
export interface ResolvedEndpoint {
  name: string
  url: URL
  /** Lower-case names. */
  headers: Record<string, string[]>
  timeout: number
  threshold: number
  backoff: number
  ignoredMediaTypes: ReadonlySet<string>
  ignoredActions: ReadonlySet<EventAction>
  queueSizeLimit: number
  queuePurgeTimeout: number
  batchSize: number
}

/** distribution's defaults (timeout, threshold, backoff) and ours. */
export const DEFAULT_ENDPOINT = Object.freeze({
  timeout: 1000,
  threshold: 10,
  backoff: 1000,
  queueSizeLimit: 10_000,
  queuePurgeTimeout: 5000,
  batchSize: 100
})

export function resolveEndpoint (endpoint: NotificationEndpointOptions): ResolvedEndpoint {
  const headers: Record<string, string[]> = {}
  for (const [name, value] of Object.entries(endpoint.headers ?? {})) {
    const key = name.toLowerCase()
    headers[key] = [...(headers[key] ?? []), ...(Array.isArray(value) ? value : [value])]
  }
  return {
    name: endpoint.name,
    url: new URL(endpoint.url),
    headers,
    timeout: endpoint.timeout ?? DEFAULT_ENDPOINT.timeout,
    threshold: endpoint.threshold ?? DEFAULT_ENDPOINT.threshold,
    backoff: endpoint.backoff ?? DEFAULT_ENDPOINT.backoff,
    ignoredMediaTypes: new Set([...(endpoint.ignore?.mediatypes ?? []), ...(endpoint.ignoredmediatypes ?? [])]),
    ignoredActions: new Set(endpoint.ignore?.actions ?? []),
    queueSizeLimit: endpoint.queuesizelimit ?? DEFAULT_ENDPOINT.queueSizeLimit,
    queuePurgeTimeout: endpoint.queuepurgetimeout ?? DEFAULT_ENDPOINT.queuePurgeTimeout,
    batchSize: endpoint.batchsize ?? DEFAULT_ENDPOINT.batchSize
  }
}

/** `a/endpoints/0/url` as `a.endpoints[0].url`. */
function optionPath (root: string, pointer: string): string {
  const path = pointer.replace(/^\//, '').split('/').filter((part) => part !== '')
    .map((part) => /^\d+$/.test(part) ? `[${part}]` : `.${part.replace(/~1/g, '/').replace(/~0/g, '~')}`).join('')
  return `${root}${path}`
}

/** HTTP header names (RFC 9110 tokens) and values without line breaks. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const HEADER_VALUE = /^[^\r\n\0]*$/

/**
 * Checks the `notifications` option; throws RegistryConfigError naming the
 * first bad key (`notifications.endpoints[0].url`). Returns it typed.
 */
export function validateNotificationsOptions (value: unknown, root = 'notifications'): NotificationsOptions {
  if (!Value.Check(NotificationsOptionsSchema, value)) {
    const first = Value.Errors(NotificationsOptionsSchema, value).First()
    throw new RegistryConfigError(first === undefined ? root : optionPath(root, first.path), first === undefined ? 'is invalid' : `is invalid: ${first.message}`)
  }
  const options = value as NotificationsOptions
  options.endpoints?.forEach((endpoint, index) => {
    const at = `${root}.endpoints[${index}]`
    let url: URL | undefined
    try {
      url = new URL(endpoint.url)
    } catch {}
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new RegistryConfigError(`${at}.url`, `must be an http or https URL, got ${JSON.stringify(endpoint.url.slice(0, 200))}`)
    }
    for (const [name, header] of Object.entries(endpoint.headers ?? {})) {
      if (!HEADER_NAME.test(name)) throw new RegistryConfigError(`${at}.headers`, `has an invalid header name ${JSON.stringify(name.slice(0, 100))}`)
      for (const text of Array.isArray(header) ? header : [header]) {
        // Never echo a header value: it is often a credential.
        if (!HEADER_VALUE.test(text)) throw new RegistryConfigError(`${at}.headers.${name}`, 'has a value with a line break or NUL')
      }
      if (['content-type', 'content-length', 'transfer-encoding', 'host'].includes(name.toLowerCase())) {
        throw new RegistryConfigError(`${at}.headers.${name}`, 'is set by the registry and cannot be configured')
      }
    }
  })
  return options
}
