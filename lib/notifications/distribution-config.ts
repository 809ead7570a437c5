/**
 * Maps the `notifications` section of a CNCF distribution configuration file
 * (already parsed from YAML: scalars as strings, or as numbers and booleans
 * when given a plain object) to the `notifications` option. Go durations
 * (`500ms`, `5s`) become milliseconds. Keys we do not know, or know and cannot
 * honour, come back as warnings; a value that cannot be right throws
 * RegistryConfigError naming its configuration path.
 */
import { RegistryConfigError } from '../config-error.js'
import { EVENT_ACTIONS, type EventAction } from '../events/event.js'
import { validateNotificationsOptions, type NotificationEndpointOptions, type NotificationsOptions } from './options.js'
import { parseGoDuration } from '../config/go-duration.js'

export interface NotificationsConfig {
  /** The option, or undefined when the section configures nothing. */
  options: NotificationsOptions | undefined
  warnings: string[]
}

const MAX_TIMER_MS = 2 ** 31 - 1
/** Headers the registry sets itself on every webhook request. */
const RESERVED_HEADERS = new Set(['content-type', 'content-length', 'transfer-encoding', 'host'])

type ConfigMap = Record<string, unknown>

function isMap (value: unknown): value is ConfigMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isUnset (value: unknown): boolean {
  return value === undefined || value === null || value === ''
}

function describe (value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value)
  if (Array.isArray(value)) return 'a list'
  if (isMap(value)) return 'a mapping'
  return String(value)
}

/** One mapping of the section; remembers which keys were read so the rest can be reported. */
class Section {
  readonly #used = new Set<string>()
  constructor (readonly map: ConfigMap, readonly path: string, readonly warnings: string[]) {}

  at (key: string): string {
    return `${this.path}.${key}`
  }

  get (key: string): unknown {
    this.#used.add(key)
    return Object.hasOwn(this.map, key) ? this.map[key] : undefined
  }

  section (key: string): Section {
    const value = this.get(key)
    if (isUnset(value)) return new Section({}, this.at(key), this.warnings)
    if (!isMap(value)) this.fail(key, 'must be a mapping')
    return new Section(value, this.at(key), this.warnings)
  }

  fail (key: string, problem: string): never {
    throw new RegistryConfigError(this.at(key), problem)
  }

  warn (key: string, message: string): void {
    this.warnings.push(`configuration key "${this.at(key)}" ${message}`)
  }

  string (key: string): string | undefined {
    const value = this.get(key)
    if (isUnset(value)) return undefined
    if (typeof value !== 'string') this.fail(key, `must be a string, got ${describe(value)}`)
    return value
  }

  boolean (key: string): boolean | undefined {
    const value = this.get(key)
    if (isUnset(value)) return undefined
    if (typeof value === 'boolean') return value
    // The YAML 1.1 spellings distribution (go-yaml v2) accepts.
    if (typeof value === 'string' && /^(?:true|yes|on|y)$/i.test(value)) return true
    if (typeof value === 'string' && /^(?:false|no|off|n)$/i.test(value)) return false
    this.fail(key, `must be true or false, got ${describe(value)}`)
  }

  /** A positive integer; zero or less means the default, as in distribution. */
  positiveInteger (key: string): number | undefined {
    const value = this.get(key)
    if (isUnset(value)) return undefined
    const number = typeof value === 'number' ? value : typeof value === 'string' && /^[+-]?\d{1,15}$/.test(value.trim()) ? Number.parseInt(value, 10) : Number.NaN
    if (!Number.isSafeInteger(number)) this.fail(key, `must be an integer, got ${describe(value)}`)
    return number > 0 ? number : undefined
  }

  /** A Go duration in milliseconds; zero means the default, as in distribution. */
  duration (key: string): number | undefined {
    const value = this.get(key)
    if (isUnset(value)) return undefined
    const ms = typeof value === 'string' ? parseGoDuration(value.trim()) : undefined
    if (ms === undefined) {
      const bare = typeof value === 'number' || (typeof value === 'string' && /^\d+$/.test(value.trim()))
      this.fail(key, `must be a duration like 1s or 500ms, got ${describe(value)}${bare ? ' (a number without a unit would be nanoseconds in distribution)' : ''}`)
    }
    if (ms > MAX_TIMER_MS) this.fail(key, 'must be at most 596h')
    return ms === 0 ? undefined : ms
  }

  /** A list of strings; a single string is a comma-separated list (as an environment variable can carry). */
  strings (key: string): string[] | undefined {
    const value = this.get(key)
    if (isUnset(value)) return undefined
    const list = typeof value === 'string' ? value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '') : value
    if (!Array.isArray(list) || !list.every((entry) => typeof entry === 'string')) this.fail(key, `must be a list of strings, got ${describe(value)}`)
    return list as string[]
  }

  /** Reports every key of this mapping that nothing read. */
  finish (): void {
    for (const key of Object.keys(this.map)) {
      if (!this.#used.has(key)) this.warn(key, 'is not a known configuration key and is ignored')
    }
  }
}

function readHeaders (endpoint: Section): Record<string, string[]> | undefined {
  const headers = endpoint.section('headers')
  const result: Record<string, string[]> = {}
  for (const name of Object.keys(headers.map)) {
    const value = headers.get(name)
    if (RESERVED_HEADERS.has(name.toLowerCase())) {
      headers.warn(name, 'is set by the registry on every notification and is ignored')
      continue
    }
    if (isUnset(value)) continue
    // Never echo a header value: it is often a credential.
    const values = typeof value === 'string' ? [value] : value
    if (!Array.isArray(values) || !values.every((entry) => typeof entry === 'string')) headers.fail(name, 'must be a list of strings, like [Bearer <token>]')
    result[name] = values as string[]
  }
  return Object.keys(result).length === 0 ? undefined : result
}

function readIgnore (endpoint: Section): NotificationEndpointOptions['ignore'] {
  const ignore = endpoint.section('ignore')
  const mediatypes = ignore.strings('mediatypes')
  const listed = ignore.strings('actions')
  ignore.finish()
  let actions: EventAction[] | undefined
  if (listed !== undefined) {
    actions = []
    for (const action of listed) {
      if ((EVENT_ACTIONS as readonly string[]).includes(action)) actions.push(action as EventAction)
      else ignore.warn('actions', `has ${describe(action)}, which is no event action (${EVENT_ACTIONS.join(', ')}), and it is ignored`)
    }
  }
  if (mediatypes === undefined && actions === undefined) return undefined
  return { ...(mediatypes === undefined ? {} : { mediatypes }), ...(actions === undefined ? {} : { actions }) }
}

function readEndpoint (endpoint: Section): NotificationEndpointOptions | undefined {
  const disabled = endpoint.boolean('disabled') === true
  const name = endpoint.string('name')
  const url = endpoint.string('url')
  if (disabled && url === undefined) {
    for (const key of Object.keys(endpoint.map)) endpoint.get(key)
    return undefined
  }
  if (name === undefined) endpoint.fail('name', 'must be set: it names the endpoint in logs')
  if (url === undefined) endpoint.fail('url', 'must be set: the http(s) URL events are POSTed to')
  const result: NotificationEndpointOptions = { name, url }
  if (disabled) result.disabled = true
  const headers = readHeaders(endpoint)
  if (headers !== undefined) result.headers = headers
  for (const key of ['timeout', 'backoff', 'queuepurgetimeout'] as const) {
    const ms = endpoint.duration(key)
    if (ms !== undefined) result[key] = ms
  }
  for (const key of ['threshold', 'queuesizelimit', 'batchsize'] as const) {
    const value = endpoint.positiveInteger(key)
    if (value !== undefined) result[key] = value
  }
  const ignoredmediatypes = endpoint.strings('ignoredmediatypes')
  if (ignoredmediatypes !== undefined) result.ignoredmediatypes = ignoredmediatypes
  const ignore = readIgnore(endpoint)
  if (ignore !== undefined) result.ignore = ignore
  if (!isUnset(endpoint.get('maxretries'))) {
    endpoint.warn('maxretries', 'is not supported and is ignored: failed deliveries are retried until delivered, or dropped when the queue is full (queuesizelimit)')
  }
  endpoint.finish()
  return result
}

/**
 * `notifications`: distribution's `endpoints` (name, disabled, url, headers,
 * timeout, threshold, backoff, ignoredmediatypes, ignore.mediatypes,
 * ignore.actions) and `events.includereferences`; GitLab's `queuesizelimit`
 * and `queuepurgetimeout`; our `batchsize`.
 */
export function readNotificationsConfig (value: unknown, path = 'notifications'): NotificationsConfig {
  const warnings: string[] = []
  if (isUnset(value)) return { options: undefined, warnings }
  if (!isMap(value)) throw new RegistryConfigError(path, 'must be a mapping')
  const root = new Section(value, path, warnings)
  const options: NotificationsOptions = {}

  const endpoints = root.get('endpoints')
  if (!isUnset(endpoints)) {
    if (!Array.isArray(endpoints)) root.fail('endpoints', 'must be a list of endpoints')
    const list: NotificationEndpointOptions[] = []
    for (const [index, entry] of (endpoints as unknown[]).entries()) {
      const at = `${path}.endpoints[${index}]`
      if (!isMap(entry)) throw new RegistryConfigError(at, 'must be a mapping with name and url')
      const endpoint = readEndpoint(new Section(entry, at, warnings))
      if (endpoint !== undefined) list.push(endpoint)
    }
    if (list.length > 0) options.endpoints = list
  }

  const events = root.section('events')
  const includereferences = events.boolean('includereferences')
  if (includereferences !== undefined) options.events = { includereferences }
  events.finish()
  root.finish()

  if (options.endpoints === undefined && options.events === undefined) return { options: undefined, warnings }
  return { options: validateNotificationsOptions(options, path), warnings }
}
