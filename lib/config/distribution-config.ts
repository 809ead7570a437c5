/**
 * Reads a CNCF distribution (Docker registry) configuration file plus its
 * `REGISTRY_*` environment overrides, and turns it into the plugin's options
 * and the standalone server's settings, so a distribution user can switch
 * without rewriting their configuration.
 *
 * Nothing here logs: problems that stop the registry throw RegistryConfigError
 * naming the configuration path; everything that is ignored comes back in
 * `warnings` for the caller to log.
 */
import { readFile } from 'node:fs/promises'
import { isIP, isIPv6 } from 'node:net'
import { parseDocument, type ScalarTag } from 'yaml'
import { DEFAULT_ROOT_DIRECTORY, parseRedisAddress, RegistryConfigError, type RedisConfig, type RegistryOptions, type StorageConfig } from '../options.js'
import type { AuthOptions, TokenAuthOptions } from '../auth/auth-options.js'
import { signingAlgorithmProblem, type SigningAlgorithm } from '../auth/signing-algorithms.js'
import { resolveS3Options, S3OptionError, type S3DriverOptions } from '../storage/s3-options.js'
import { readNotificationsConfig } from '../notifications/distribution-config.js'
import { parseGoDuration } from './go-duration.js'

export type LogLevel = 'error' | 'warn' | 'info' | 'debug'

export interface DistributionConfig {
  /** The options for `app.register(registry, options)`. */
  options: RegistryOptions
  /** Where the standalone server listens (from `http.addr`). */
  listen: { host: string, port: number }
  logLevel: LogLevel
  /** How long in-flight requests may take to finish on shutdown (from `http.draintimeout`); unset means the server's default. */
  shutdownTimeoutMs?: number
  /** Fastify's `trustProxy` (from `http.trustproxy`, an extension of ours); off unless configured. */
  trustProxy: boolean | string[]
  /** The listener's timeouts and header limit (from `http.timeout` and `http.maxheaderbytes`); unset means the standalone's defaults. */
  server: ServerSettings
  /** The debug server (from `http.debug.addr`); none when unset. */
  debug?: DebugServerConfig
  /** Everything that was configured but is ignored: unknown keys and keys not supported yet. */
  warnings: string[]
  /** The configuration file read, if any. */
  configFile?: string
}

/**
 * How the standalone's HTTP listener guards its connections. Each unset
 * field takes the standalone's default (examples/standalone.ts).
 */
export interface ServerSettings {
  /** `http.timeout.read`: how long a client may take to send a request's headers (Node's headersTimeout). */
  headersTimeoutMs?: number
  /** `http.timeout.idle`: how long a kept-alive connection may sit between requests (Node's keepAliveTimeout). */
  keepAliveTimeoutMs?: number
  /** `http.maxheaderbytes` (ours): the largest request head, request line and headers together; larger gets 431. */
  maxHeaderBytes?: number
}

/** The largest `http.maxheaderbytes`: Go's default, distribution's, is 1 MiB; 16 MiB leaves room and bounds memory. */
export const MAX_HEADER_BYTES_LIMIT = 16 * 1024 * 1024

/**
 * The debug server, as distribution's: its own address, serving the storage
 * health at `/debug/health` and Prometheus metrics when enabled.
 */
export interface DebugServerConfig {
  listen: { host: string, port: number }
  /** `http.debug.prometheus.path` (default `/metrics`), when `http.debug.prometheus.enabled`. */
  metricsPath?: string
  /** `health.storagedriver` (interval and threshold), when enabled. */
  storageHealth?: { interval?: number, threshold?: number }
}

export const DEBUG_HEALTH_PATH = '/debug/health'
export const DEFAULT_METRICS_PATH = '/metrics'

export const DEFAULT_ADDR = '127.0.0.1:5000'
export const ENV_PREFIX = 'REGISTRY_'
/** Names the configuration file when no argument does, as in distribution. Not a configuration key. */
export const CONFIG_PATH_VARIABLE = 'REGISTRY_CONFIGURATION_PATH'
/**
 * `true` makes every unknown configuration key stop start-up instead of being
 * warned about (strict mode). Not a configuration key. Off by default: see
 * the README on why unknown keys are warnings unless they could open access.
 */
export const STRICT_VARIABLE = 'REGISTRY_CONFIGURATION_STRICT'
const MAX_TIMER_MS = 2 ** 31 - 1

type ConfigValue = string | null | ConfigValue[] | ConfigMap
interface ConfigMap { [key: string]: ConfigValue }

/** Configuration paths holding secrets: taken as text from the environment, never echoed. */
const SECRET_PATHS = new Set(['http.secret', 'redis.password'])
/** Keys under `storage` that are settings rather than a driver (as in distribution's Storage.Type()). */
const STORAGE_SETTINGS = new Set(['delete', 'maintenance', 'cache', 'redirect', 'tag'])
/** Keys under `auth` that are settings rather than an access controller type (ours). */
const AUTH_SETTINGS = new Set(['anonymouspull'])
const AUTH_TYPES = ['silly', 'htpasswd', 'token']
/**
 * Top-level keys whose sections restrict access: an unknown key that differs
 * from one only in case or by a small edit stops start-up.
 */
const ROOT_SECURITY_KEYS: Record<string, string> = {
  auth: 'access control',
  accesscontrol: 'access rules',
  http: 'which holds http.tls and http.ratelimit',
  storage: 'which holds storage.maintenance.readonly',
  // Not a top-level key: read-only mode is storage.maintenance.readonly.
  maintenance: 'read-only mode belongs in storage.maintenance'
}
const KNOWN_UNSUPPORTED_DRIVERS = new Set(['azure', 'gcs', 'swift', 'oss'])

// Plain `~`, `null` and empty scalars are null; everything else stays a string
// (YAML failsafe schema), so `secret: 0123` keeps its text and the file and
// the environment go through the same typed conversions below.
const nullTag: ScalarTag = {
  identify: (value) => value === null || value === undefined,
  default: true,
  tag: 'tag:yaml.org,2002:null',
  test: /^(?:~|[Nn]ull|NULL)?$/,
  resolve: () => null
}

function parseYaml (text: string, what: string, option: string): { value: ConfigValue, warnings: string[] } {
  const doc = parseDocument(text, { schema: 'failsafe', customTags: [nullTag], merge: true, uniqueKeys: true, prettyErrors: true })
  if (doc.errors.length > 0) {
    throw new RegistryConfigError(option, `${what} is not valid YAML: ${firstLine(doc.errors[0].message)}`)
  }
  const warnings = doc.warnings.map((warning) => `${what}: ${firstLine(warning.message)}`)
  return { value: (doc.toJS({ maxAliasCount: 100 }) ?? null) as ConfigValue, warnings }
}

function firstLine (text: string): string {
  return text.split('\n')[0].replace(/:$/, '')
}

function isMap (value: ConfigValue | undefined): value is ConfigMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function own (map: ConfigMap, key: string): ConfigValue | undefined {
  return Object.hasOwn(map, key) ? map[key] : undefined
}

/** True when nothing in the value is set: null, '', or collections of those. */
function isEmpty (value: ConfigValue | undefined): boolean {
  if (value === undefined || value === null || value === '') return true
  if (Array.isArray(value)) return value.every(isEmpty)
  if (isMap(value)) return Object.values(value).every(isEmpty)
  return false
}

function quote (value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value)
}

/** `storage: inmemory` is distribution's short form of `storage: { inmemory: {} }`; `auth: htpasswd` likewise. */
function normalizeStorage (root: ConfigMap): void {
  for (const key of ['storage', 'auth']) {
    const value = own(root, key)
    if (typeof value === 'string' && value !== '') root[key] = { [value]: {} }
  }
}

/**
 * The distance between two keys counting insertions, deletions,
 * substitutions and swaps of neighbours (optimal string alignment), compared
 * without case.
 */
export function keyDistance (a: string, b: string): number {
  const x = a.toLowerCase()
  const y = b.toLowerCase()
  const rows: number[][] = Array.from({ length: x.length + 1 }, (_, i) => Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1
      let best = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) best = Math.min(best, rows[i - 2][j - 2] + 1)
      rows[i][j] = best
    }
  }
  return rows[x.length][y.length]
}

/**
 * The key among `candidates` that `key` differs from only in case or by a
 * small edit (1 for keys of up to 4 letters, else 2), if any.
 */
export function resembledKey (key: string, candidates: Iterable<string>): string | undefined {
  for (const candidate of candidates) {
    if (key.toLowerCase() === candidate.toLowerCase()) return candidate
  }
  for (const candidate of candidates) {
    if (keyDistance(key, candidate) <= (candidate.length <= 4 ? 1 : 2)) return candidate
  }
  return undefined
}

/**
 * What `Section.finish` does with an unknown key, beyond warning: a section
 * that restricts access refuses every unknown key (`restricts` says what it
 * restricts), and an unknown key resembling a key that restricts access is
 * refused (`resembles` maps such keys to what they are for).
 */
interface FinishGuard {
  restricts?: string
  resembles?: Record<string, string>
}

/** Remembers which configuration paths an environment variable set, so messages can name it. */
class Reader {
  readonly warnings: string[] = []
  constructor (private readonly envSources: Map<string, string>, readonly strict = false) {}

  origin (path: string): string {
    let best: string | undefined
    const under: string[] = []
    for (const [setPath, variable] of this.envSources) {
      if ((path === setPath || path.startsWith(`${setPath}.`)) && (best === undefined || setPath.length > best.length)) best = setPath
      if (setPath.startsWith(`${path}.`)) under.push(variable)
    }
    const variables = [...new Set([...(best === undefined ? [] : [this.envSources.get(best) as string]), ...under])]
    if (variables.length === 0) return ''
    return ` (from environment variable${variables.length > 1 ? 's' : ''} ${variables.join(', ')})`
  }

  fail (path: string, problem: string): never {
    throw new RegistryConfigError(path, `${problem}${this.origin(path)}`)
  }

  warn (path: string, message: string): void {
    this.warnings.push(`configuration key "${path}"${this.origin(path)} ${message}`)
  }
}

/** One mapping of the configuration; remembers which keys were read so the rest can be reported. */
class Section {
  private readonly used = new Set<string>()
  constructor (readonly map: ConfigMap, readonly path: string, readonly reader: Reader) {}

  static of (value: ConfigValue | undefined, path: string, reader: Reader): Section {
    if (value === undefined || value === null || value === '') return new Section({}, path, reader)
    if (!isMap(value)) reader.fail(path, 'must be a mapping')
    return new Section(value, path, reader)
  }

  at (key: string): string {
    return this.path === '' ? key : `${this.path}.${key}`
  }

  get (key: string): ConfigValue | undefined {
    this.used.add(key)
    return own(this.map, key)
  }

  section (key: string): Section {
    return Section.of(this.get(key), this.at(key), this.reader)
  }

  keys (): string[] {
    return Object.keys(this.map)
  }

  string (key: string): string | undefined {
    const value = this.get(key)
    if (value === undefined || value === null || value === '') return undefined
    if (typeof value !== 'string') this.reader.fail(this.at(key), 'must be a string')
    return value
  }

  boolean (key: string): boolean | undefined {
    const value = this.get(key)
    if (value === undefined || value === null || value === '') return undefined
    // The YAML 1.1 spellings distribution (go-yaml v2) accepts.
    if (typeof value === 'string' && /^(?:true|yes|on|y)$/i.test(value)) return true
    if (typeof value === 'string' && /^(?:false|no|off|n)$/i.test(value)) return false
    this.reader.fail(this.at(key), `must be true or false, got ${typeof value === 'string' ? quote(value) : 'a collection'}`)
  }

  integer (key: string): number | undefined {
    const value = this.get(key)
    if (value === undefined || value === null || value === '') return undefined
    if (typeof value !== 'string' || !/^[+-]?\d{1,15}$/.test(value)) {
      this.reader.fail(this.at(key), `must be an integer, got ${typeof value === 'string' ? quote(value) : 'a collection'}`)
    }
    return Number.parseInt(value, 10)
  }

  /** A known distribution key we cannot honour yet, where ignoring it is harmless: warn. */
  unsupported (key: string, consequence = 'is not supported yet and is ignored'): void {
    const value = this.get(key)
    if (!isEmpty(value)) this.reader.warn(this.at(key), consequence)
  }

  /** A known distribution key we cannot honour, where ignoring it would let in what the operator meant to keep out: stop. */
  refuse (key: string, problem: string): void {
    const value = this.get(key)
    if (!isEmpty(value)) this.reader.fail(this.at(key), problem)
  }

  /**
   * Reports every key of this mapping that nothing read: a warning, unless
   * ignoring it could leave open what the operator meant to restrict (see
   * FinishGuard), or in strict mode; then start-up stops.
   */
  finish (guard: FinishGuard = {}): void {
    for (const key of Object.keys(this.map)) {
      if (this.used.has(key)) continue
      const resembles = guard.resembles ?? {}
      const like = resembledKey(key, Object.keys(resembles))
      if (like !== undefined) {
        this.reader.fail(this.at(key), `is not a known configuration key, but resembles "${this.at(like)}" (${resembles[like]}): refusing to start with it ignored; check its spelling and case`)
      }
      if (guard.restricts !== undefined) {
        this.reader.fail(this.at(key), `is not a known key of "${this.path}", which ${guard.restricts}: a setting that restricts access is understood or refused, never ignored; check its spelling and case`)
      }
      if (this.reader.strict) this.reader.fail(this.at(key), `is not a known configuration key (${STRICT_VARIABLE} is on: unknown keys stop start-up)`)
      this.reader.warn(this.at(key), 'is not a known configuration key and is ignored')
    }
  }
}

/**
 * Parses distribution's `http.addr`: `host:port`, `:port` (all IPv4
 * interfaces) or `[ipv6]:port`. Throws a plain Error describing the problem.
 */
export function parseListenAddress (addr: string): { host: string, port: number } {
  let host: string
  let port: string
  const bracketed = /^\[([^\]]*)\]:([^:]*)$/.exec(addr)
  if (bracketed !== null) {
    host = bracketed[1]
    port = bracketed[2]
    if (!isIPv6(host)) throw new Error(`must be host:port; "${host}" in brackets is not an IPv6 address`)
  } else {
    const colon = addr.lastIndexOf(':')
    if (colon === -1) throw new Error('must be host:port, :port or [ipv6]:port')
    host = addr.slice(0, colon)
    port = addr.slice(colon + 1)
    if (host.includes(':')) throw new Error('must put an IPv6 address in brackets, as in [::1]:5000')
    if (host === '') host = '0.0.0.0'
    else if (isIP(host) === 0 && !/^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(host)) {
      throw new Error(`has an invalid host "${host}"`)
    }
  }
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) throw new Error(`has an invalid port "${port}" (0 to 65535)`)
  return { host, port: Number(port) }
}

export { parseGoDuration }

const HOST_URL = /^https?:\/\/[^/?#]+\/?$/

function readHttp (http: Section, reader: Reader, result: Partial<DistributionConfig>, options: RegistryOptions): void {
  // Before addr: with a unix socket, addr is a path, and net is the real problem.
  const net = http.string('net')
  if (net !== undefined && !['tcp', 'tcp4', 'tcp6'].includes(net)) {
    reader.fail(http.at('net'), `must be tcp; ${quote(net)} is not supported`)
  }

  const addr = http.string('addr') ?? DEFAULT_ADDR
  try {
    result.listen = parseListenAddress(addr)
  } catch (error) {
    reader.fail(http.at('addr'), `${(error as Error).message}, got ${quote(addr)}`)
  }

  const host = http.string('host')
  if (host !== undefined) {
    let valid = HOST_URL.test(host)
    try { new URL(host) } catch { valid = false }
    if (!valid) reader.fail(http.at('host'), `must be an absolute http(s) URL without a path, like https://registry.example.com, got ${quote(host)}`)
    options.http = { ...options.http, host }
  }

  const relativeURLs = http.boolean('relativeurls')
  if (relativeURLs !== undefined) options.http = { ...options.http, relativeURLs }

  // Never echo the secret in a message.
  const secretValue = http.get('secret')
  if (secretValue !== undefined && secretValue !== null && typeof secretValue !== 'string') reader.fail(http.at('secret'), 'must be a string')
  if (typeof secretValue === 'string' && secretValue !== '') options.uploadState = { secret: secretValue }

  const drain = http.get('draintimeout')
  if (drain !== undefined && drain !== null && drain !== '') {
    const ms = typeof drain === 'string' ? parseGoDuration(drain) : undefined
    if (ms === undefined) reader.fail(http.at('draintimeout'), `must be a duration like 60s or 1m30s, got ${typeof drain === 'string' ? quote(drain) : 'a collection'}`)
    if (ms > MAX_TIMER_MS) reader.fail(http.at('draintimeout'), 'must be at most 596h')
    // As in distribution, 0 is the same as unset.
    if (ms > 0) result.shutdownTimeoutMs = ms
  }

  result.trustProxy = readTrustProxy(http, reader)
  result.server = readServerSettings(http, reader)

  const prefix = http.string('prefix')
  if (prefix !== undefined && prefix !== '/') reader.warn(http.at('prefix'), 'is not supported yet and is ignored: the registry answers at /v2/')
  http.refuse('tls', 'is not supported yet: refusing to serve plain HTTP where TLS was configured; terminate TLS in a proxy in front of the registry')
  readRateLimit(http.section('ratelimit'), reader, options)
  readDebug(http.section('debug'), reader, result, options)
  http.unsupported('headers')
  http.unsupported('http2')
  http.finish({ resembles: { tls: 'TLS, which keeps traffic encrypted', ratelimit: 'the rate limit' } })
}

/**
 * `http.timeout` (distribution 3's `read`, `write`, `idle`) and
 * `http.maxheaderbytes` (ours). In distribution these are Go's server
 * timeouts; Go's ReadTimeout covers a whole request, body included, which no
 * push of a large layer could meet, so `read` bounds the headers here (as Go's
 * ReadHeaderTimeout does when only ReadTimeout is set), and bodies are bounded
 * by the body idle timeout and minimum rate. `write` would cut long downloads
 * alike and is ignored with a warning. 0 means the default, as unset.
 */
function readServerSettings (http: Section, reader: Reader): ServerSettings {
  const settings: ServerSettings = {}
  const timeout = http.section('timeout')
  const read = readDuration(timeout, 'read')
  if (read !== undefined) settings.headersTimeoutMs = read
  const idle = readDuration(timeout, 'idle')
  if (idle !== undefined) settings.keepAliveTimeoutMs = idle
  timeout.unsupported('write', 'is not supported and is ignored: a whole-response deadline would cut long downloads; a stalled one is cut by its idle timeout')
  timeout.finish()
  const maxHeaderBytes = http.integer('maxheaderbytes')
  if (maxHeaderBytes !== undefined) {
    if (maxHeaderBytes < 1024 || maxHeaderBytes > MAX_HEADER_BYTES_LIMIT) reader.fail(http.at('maxheaderbytes'), `must be from 1024 to ${MAX_HEADER_BYTES_LIMIT} bytes, got ${maxHeaderBytes}`)
    settings.maxHeaderBytes = maxHeaderBytes
  }
  return settings
}

const PROXY_ADDRESS_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal'])

function isProxyAddress (entry: string): boolean {
  if (PROXY_ADDRESS_NAMES.has(entry) || isIP(entry) !== 0) return true
  const cidr = /^([^/]+)\/(\d{1,3})$/.exec(entry)
  if (cidr === null) return false
  const family = isIP(cidr[1])
  return family !== 0 && Number(cidr[2]) <= (family === 4 ? 32 : 128)
}

/** `http.trustproxy`: true/false, or the proxies' addresses/CIDRs as a list or a comma-separated string. */
function readTrustProxy (http: Section, reader: Reader): boolean | string[] {
  const path = http.at('trustproxy')
  const value = http.get('trustproxy')
  if (value === undefined || value === null || value === '') return false
  let entries: string[]
  if (typeof value === 'string') {
    if (/^(?:true|yes|on)$/i.test(value)) return true
    if (/^(?:false|no|off)$/i.test(value)) return false
    entries = value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '')
  } else if (Array.isArray(value) && value.every((entry) => typeof entry === 'string')) {
    entries = value as string[]
  } else {
    reader.fail(path, 'must be true, false, or a list of proxy addresses')
  }
  for (const entry of entries) {
    if (!isProxyAddress(entry)) reader.fail(path, `has ${quote(entry)}, which is not an IP address, a CIDR range, or loopback/linklocal/uniquelocal`)
  }
  return entries.length === 0 ? false : entries
}

function readStorage (storage: Section, reader: Reader, options: RegistryOptions): void {
  const drivers = storage.keys().filter((key) => !STORAGE_SETTINGS.has(key))
  if (drivers.length > 1) reader.fail(storage.path, `configures more than one storage driver (${drivers.map((name) => `${name}${reader.origin(storage.at(name))}`).join(', ')}); choose one`)

  let config: StorageConfig
  const driver = drivers[0] ?? 'filesystem'
  if (driver === 'filesystem') {
    const filesystem = storage.section('filesystem')
    config = { filesystem: { rootDirectory: filesystem.string('rootdirectory') ?? DEFAULT_ROOT_DIRECTORY } }
    filesystem.unsupported('maxthreads')
    filesystem.finish()
  } else if (driver === 'inmemory') {
    storage.section('inmemory').finish()
    config = { inmemory: {} }
  } else if (driver === 's3') {
    config = { s3: readS3(storage.section('s3'), reader) }
  } else {
    storage.get(driver)
    const what = KNOWN_UNSUPPORTED_DRIVERS.has(driver) ? 'is a storage driver not supported yet' : 'is not a known storage driver'
    reader.fail(storage.at(driver), `${what}; supported: filesystem, inmemory, s3`)
  }
  options.storage = config

  const deletion = storage.section('delete')
  const enabled = deletion.boolean('enabled')
  if (enabled !== undefined) options.delete = { enabled }
  deletion.finish()

  readMaintenance(storage.section('maintenance'), reader, options)
  readCache(storage.section('cache'), reader, options)
  const redirect = storage.section('redirect')
  const disable = redirect.boolean('disable')
  if (disable !== undefined) options.redirect = { disable }
  redirect.finish()
  storage.unsupported('tag')
  storage.finish()
}

/**
 * `storage.maintenance`: `readonly.enabled`, and `uploadpurging` (`enabled`,
 * `age`, `interval`, `dryrun`); a key left out takes distribution's default
 * (on, 168h, 24h, false), where distribution refuses to start.
 */
function readMaintenance (maintenance: Section, reader: Reader, options: RegistryOptions): void {
  const readOnly = maintenance.section('readonly')
  const readOnlyEnabled = readOnly.boolean('enabled')
  readOnly.finish({ restricts: 'makes the registry read-only' })
  const purging = maintenance.section('uploadpurging')
  const uploadPurging: NonNullable<NonNullable<RegistryOptions['maintenance']>['uploadPurging']> = {}
  const enabled = purging.boolean('enabled')
  if (enabled !== undefined) uploadPurging.enabled = enabled
  // Refused rather than taken literally: age 0 would remove uploads in progress, interval 0 would run without pause.
  const age = readPositiveDuration(purging, 'age', Number.MAX_SAFE_INTEGER)
  if (age !== undefined) uploadPurging.age = age
  const interval = readPositiveDuration(purging, 'interval', MAX_TIMER_MS)
  if (interval !== undefined) uploadPurging.interval = interval
  const dryRun = purging.boolean('dryrun')
  if (dryRun !== undefined) uploadPurging.dryRun = dryRun
  purging.finish()
  maintenance.finish({ resembles: { readonly: 'read-only mode' } })
  if (readOnlyEnabled === undefined && Object.keys(uploadPurging).length === 0) return
  options.maintenance = {
    ...(Object.keys(uploadPurging).length === 0 ? {} : { uploadPurging }),
    ...(readOnlyEnabled === undefined ? {} : { readOnly: { enabled: readOnlyEnabled } })
  }
}

/**
 * `limits` (ours; distribution has none): how request bodies are guarded.
 * `bodyidletimeout` (a duration, default 2m): a body silent that long is cut.
 * `bodyminrate` (bytes per second, default 1024; 0 is off) averaged over
 * `bodyminratewindow` (a duration, default 30s): a slower body is cut.
 */
function readLimits (limits: Section, reader: Reader, options: RegistryOptions): void {
  const resolved: NonNullable<RegistryOptions['limits']> = {}
  const idle = readPositiveDuration(limits, 'bodyidletimeout', MAX_TIMER_MS)
  if (idle !== undefined) resolved.bodyIdleTimeout = idle
  const rate = limits.integer('bodyminrate')
  if (rate !== undefined) {
    if (rate < 0) reader.fail(limits.at('bodyminrate'), 'must be 0 (off) or more bytes per second')
    resolved.bodyMinRate = rate
  }
  const window = readPositiveDuration(limits, 'bodyminratewindow', MAX_TIMER_MS)
  if (window !== undefined) resolved.bodyMinRateWindow = window
  limits.finish()
  if (Object.keys(resolved).length > 0) options.limits = { ...options.limits, ...resolved }
}

/** A Go duration above zero, at most `max` milliseconds. */
function readPositiveDuration (section: Section, key: string, max: number): number | undefined {
  const value = section.get(key)
  if (value === undefined || value === null || value === '') return undefined
  const ms = typeof value === 'string' ? parseGoDuration(value) : undefined
  if (ms === undefined) section.reader.fail(section.at(key), `must be a duration like 168h or 30m, got ${typeof value === 'string' ? quote(value) : 'a collection'}`)
  if (ms <= 0) section.reader.fail(section.at(key), 'must be more than 0')
  if (ms > max) section.reader.fail(section.at(key), max === MAX_TIMER_MS ? 'must be at most 596h' : 'is too long')
  return ms
}

/**
 * `http.ratelimit` (ours; distribution has none): `max` requests per `window`
 * (default 1m) per client, keyed by `keyby` (`ip`, the default, or `user`).
 * `enabled: false` turns a configured limit off.
 */
function readRateLimit (rateLimit: Section, reader: Reader, options: RegistryOptions): void {
  const enabled = rateLimit.boolean('enabled')
  const max = rateLimit.integer('max')
  const window = readPositiveDuration(rateLimit, 'window', MAX_TIMER_MS)
  const keyBy = rateLimit.string('keyby')
  rateLimit.finish({ restricts: 'limits the requests a client may make' })
  if (keyBy !== undefined && keyBy !== 'ip' && keyBy !== 'user') reader.fail(rateLimit.at('keyby'), `must be ip or user, got ${quote(keyBy)}`)
  if (max !== undefined && max < 1) reader.fail(rateLimit.at('max'), 'must be 1 or more')
  if (enabled === false || (enabled === undefined && max === undefined && window === undefined && keyBy === undefined)) return
  if (max === undefined) reader.fail(rateLimit.at('max'), 'must be set: the requests one client may make per window')
  options.rateLimit = { max, ...(window === undefined ? {} : { timeWindow: window }), ...(keyBy === undefined ? {} : { keyBy }) }
}

/**
 * `http.debug`: `addr` starts the debug server, which reports storage health
 * at /debug/health; `prometheus.enabled` adds the metrics at `prometheus.path`.
 */
function readDebug (debug: Section, reader: Reader, result: Partial<DistributionConfig>, options: RegistryOptions): void {
  const addr = debug.string('addr')
  const prometheus = debug.section('prometheus')
  const metrics = prometheus.boolean('enabled') === true
  const path = prometheus.string('path') ?? DEFAULT_METRICS_PATH
  if (!/^\/[^?#\s]*$/.test(path)) reader.fail(prometheus.at('path'), `must be a path starting with /, got ${quote(path)}`)
  if (path === DEBUG_HEALTH_PATH) reader.fail(prometheus.at('path'), `must differ from ${DEBUG_HEALTH_PATH}, where the debug server reports health`)
  prometheus.finish()
  debug.finish()
  if (addr === undefined) {
    if (metrics) reader.warn(prometheus.at('enabled'), 'is ignored: metrics are served by the debug server, and http.debug.addr is not set')
    return
  }
  let listen: { host: string, port: number }
  try {
    listen = parseListenAddress(addr)
  } catch (error) {
    reader.fail(debug.at('addr'), `${(error as Error).message}, got ${quote(addr)}`)
  }
  const main = result.listen
  if (main !== undefined && listen.port !== 0 && listen.port === main.port && listen.host === main.host) {
    reader.fail(debug.at('addr'), `must differ from http.addr, got ${quote(addr)} for both`)
  }
  result.debug = { listen, ...(metrics ? { metricsPath: path } : {}) }
  // Process and Node.js metrics beside the registry's, as distribution serves Go's.
  if (metrics) options.metrics = { collectDefaultMetrics: true }
}

/**
 * `health.storagedriver` (`enabled`, `interval`, `threshold`): the periodic
 * storage check the debug server reports at /debug/health. The `file`, `http`
 * and `tcp` checks are not supported yet.
 */
function readHealth (health: Section, reader: Reader, result: Partial<DistributionConfig>): void {
  const storage = health.section('storagedriver')
  const enabled = storage.boolean('enabled') === true
  const interval = readPositiveDuration(storage, 'interval', MAX_TIMER_MS)
  const threshold = storage.integer('threshold')
  if (threshold !== undefined && threshold < 0) reader.fail(storage.at('threshold'), 'must be 0 or more')
  storage.finish()
  for (const key of ['file', 'http', 'tcp']) health.unsupported(key)
  health.finish()
  if (!enabled) return
  if (result.debug === undefined) {
    reader.warn(storage.at('enabled'), `is ignored: storage health is reported at ${DEBUG_HEALTH_PATH} by the debug server, and http.debug.addr is not set`)
    return
  }
  // As in distribution, threshold 0 means any failure.
  result.debug.storageHealth = { ...(interval === undefined ? {} : { interval }), ...(threshold === undefined || threshold === 0 ? {} : { threshold }) }
}

/**
 * `storage.cache.blobdescriptor`: distribution caches blob descriptors there;
 * here the cache that matters across instances is the link cache (tags,
 * revisions, layers), so `redis` puts it in Redis and `inmemory` keeps the
 * default per-instance cache that checks storage on every read.
 */
function readCache (cache: Section, reader: Reader, options: RegistryOptions): void {
  const kind = cache.string('blobdescriptor')
  if (kind === 'redis') {
    if (options.redis === undefined) reader.fail(cache.at('blobdescriptor'), 'is redis, but no redis server is configured (redis.addr)')
    options.cache = { ...options.cache, links: 'redis' }
  } else if (kind === 'inmemory') {
    options.cache = { ...options.cache, links: 'storage' }
  } else if (kind !== undefined) {
    reader.fail(cache.at('blobdescriptor'), `must be redis or inmemory, got ${quote(kind)}`)
  }
  cache.unsupported('blobdescriptorsize', 'is not supported and is ignored: the in-memory link cache has its own bound')
  cache.finish()
}

/** Keys of go-redis's connection pool (distribution 2.8's `redis.pool` and 3.x's flat keys): one multiplexed connection needs none. */
const REDIS_POOL_KEYS = ['poolsize', 'pooltimeout', 'poolfifo', 'minidleconns', 'maxidleconns', 'maxactiveconns', 'connmaxidletime', 'connmaxlifetime', 'maxretries', 'minretrybackoff', 'maxretrybackoff', 'clientname', 'protocol']

/** A Go duration in milliseconds; unset for 0, as in distribution. */
function readDuration (section: Section, key: string): number | undefined {
  const value = section.get(key)
  if (value === undefined || value === null || value === '') return undefined
  const ms = typeof value === 'string' ? parseGoDuration(value) : undefined
  if (ms === undefined) section.reader.fail(section.at(key), `must be a duration like 5s or 250ms, got ${typeof value === 'string' ? quote(value) : 'a collection'}`)
  if (ms > MAX_TIMER_MS) section.reader.fail(section.at(key), 'must be at most 596h')
  return ms === 0 ? undefined : ms
}

/**
 * `redis`: distribution 2.8's keys (addr, password, db, dialtimeout,
 * readtimeout, writetimeout, pool, tls.enabled), 3.x's `addrs` with one
 * address and `username`, and our `keyprefix`. Nothing configured: no Redis.
 */
function readRedis (redis: Section, reader: Reader, options: RegistryOptions): void {
  if (isEmpty(redis.map)) {
    for (const key of redis.keys()) redis.get(key)
    return
  }
  let addr = redis.string('addr')
  const addrs = redis.get('addrs')
  if (addrs !== undefined && addrs !== null && addrs !== '') {
    const list = typeof addrs === 'string' ? addrs.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '') : addrs
    if (!Array.isArray(list) || !list.every((entry) => typeof entry === 'string')) reader.fail(redis.at('addrs'), 'must be a list of host:port addresses')
    if (list.length > 1) reader.fail(redis.at('addrs'), 'lists more than one address: Redis Cluster is not supported yet; give one address')
    if (addr !== undefined && list.length === 1) reader.fail(redis.path, 'sets both addr and addrs; choose one')
    if (list.length === 1) addr = list[0] as string
  }
  if (addr === undefined) reader.fail(redis.at('addr'), 'must be set: the host:port of the Redis server')
  try {
    parseRedisAddress(addr)
  } catch (error) {
    reader.fail(redis.at('addr'), `${(error as Error).message}, got ${quote(addr)}`)
  }
  const config: RedisConfig = { addr }
  const username = redis.string('username')
  if (username !== undefined) config.username = username
  // Never echo the password in a message.
  const password = redis.get('password')
  if (password !== undefined && password !== null && typeof password !== 'string') reader.fail(redis.at('password'), 'must be a string')
  if (typeof password === 'string' && password !== '') config.password = password
  const db = redis.integer('db')
  if (db !== undefined) {
    if (db < 0) reader.fail(redis.at('db'), 'must be 0 or more')
    config.db = db
  }
  for (const key of ['dialtimeout', 'readtimeout', 'writetimeout'] as const) {
    const ms = readDuration(redis, key)
    if (ms !== undefined) config[key] = ms
  }
  const tls = redis.section('tls')
  const enabled = tls.boolean('enabled')
  if (enabled !== undefined) config.tls = { enabled }
  for (const key of ['certificate', 'key', 'clientcas']) {
    tls.refuse(key, 'is not supported yet: refusing to connect to Redis without the configured certificates')
  }
  tls.finish({ restricts: 'encrypts the connection to Redis' })
  const keyPrefix = redis.string('keyprefix')
  if (keyPrefix !== undefined) config.keyPrefix = keyPrefix
  redis.refuse('mastername', 'is not supported yet: Redis Sentinel is not; give the address of the Redis server')
  const pool = redis.section('pool')
  for (const key of pool.keys()) pool.unsupported(key, 'is not needed and is ignored: one multiplexed connection serves every request')
  pool.finish()
  for (const key of REDIS_POOL_KEYS) redis.unsupported(key, 'is not needed and is ignored: one multiplexed connection serves every request')
  redis.finish()
  options.redis = config
}

/**
 * `storage.s3`: distribution's keys (`minpartsize` is ours: for servers that accept parts under 5 MiB).
 * A setting we cannot honour that protects data (encryption, FIPS endpoints) stops the registry;
 * the others are ignored with a warning.
 */
function readS3 (s3: Section, reader: Reader): S3DriverOptions {
  const options: S3DriverOptions = { bucket: requiredString(s3, 'bucket') }
  for (const key of ['region', 'regionendpoint', 'accesskey', 'secretkey', 'rootdirectory'] as const) {
    const value = s3.string(key)
    if (value !== undefined) options[key] = value
  }
  for (const key of ['forcepathstyle', 'secure', 'skipverify'] as const) {
    const value = s3.boolean(key)
    if (value !== undefined) options[key] = value
  }
  for (const key of ['chunksize', 'minpartsize', 'multipartcopythresholdsize', 'multipartcopychunksize', 'multipartcopymaxconcurrency'] as const) {
    const value = s3.integer(key)
    if (value !== undefined) options[key] = value
  }
  if (s3.boolean('v4auth') === false) reader.fail(s3.at('v4auth'), 'is false, but only AWS Signature Version 4 is supported')
  if (s3.boolean('encrypt') === true) reader.fail(s3.at('encrypt'), 'is not supported yet: refusing to store unencrypted where server-side encryption was configured')
  s3.refuse('keyid', 'is not supported yet: refusing to store without the configured KMS key')
  if (s3.boolean('usefipsendpoint') === true) reader.fail(s3.at('usefipsendpoint'), 'is not supported yet: refusing to use other than the FIPS endpoints configured')
  for (const key of ['storageclass', 'objectacl', 'useragent', 'usedualstack', 'accelerate', 'loglevel', 'sessiontoken']) s3.unsupported(key)
  s3.finish({ resembles: { encrypt: 'server-side encryption', keyid: 'the KMS key', usefipsendpoint: 'FIPS endpoints', v4auth: 'the signature version' } })
  try {
    resolveS3Options(options)
  } catch (error) {
    if (error instanceof S3OptionError) reader.fail(s3.at(error.option), error.problem)
    throw error
  }
  return options
}

function requiredString (section: Section, key: string): string {
  const value = section.string(key)
  if (value === undefined) section.reader.fail(section.at(key), 'must be set')
  return value
}

function readSigningAlgorithms (token: Section): SigningAlgorithm[] | undefined {
  const path = token.at('signingalgorithms')
  const value = token.get('signingalgorithms')
  if (value === undefined || value === null || value === '') return undefined
  // A list, or the comma-separated text an environment variable can carry.
  const names = typeof value === 'string' ? value.split(',').map((name) => name.trim()).filter((name) => name !== '') : value
  if (!Array.isArray(names) || !names.every((name) => typeof name === 'string') || names.length === 0) {
    token.reader.fail(path, 'must be a list of signing algorithms, like [RS256, ES256]')
  }
  for (const name of names as string[]) {
    const problem = signingAlgorithmProblem(name)
    if (problem !== undefined) token.reader.fail(path, problem)
  }
  return names as SigningAlgorithm[]
}

/**
 * `auth`: distribution's silly, htpasswd and token controllers, plus our
 * `anonymouspull`. One type at most; one we cannot run stops the registry, as
 * serving open where access control was configured would be the worst outcome.
 */
function readAuth (auth: Section, present: boolean, reader: Reader, options: RegistryOptions): void {
  const anonymousPull = auth.boolean('anonymouspull')
  const types = auth.keys().filter((key) => !AUTH_SETTINGS.has(key))
  if (types.length === 0) {
    if (anonymousPull === true) reader.fail(auth.at('anonymouspull'), `is set but no access controller (${AUTH_TYPES.join(', ')}) is configured: refusing to start an open registry`)
    // `auth: {}`, `auth: null`, REGISTRY_AUTH="": access control was meant but none is usable.
    if (present) reader.fail(auth.path, `is present but configures no access controller (${AUTH_TYPES.join(', ')}): refusing to start an open registry; remove the auth key to run one`)
    auth.finish()
    return
  }
  if (types.length > 1) reader.fail(auth.path, `configures more than one access controller (${types.map((name) => `${name}${reader.origin(auth.at(name))}`).join(', ')}); choose one`)
  const type = types[0]
  const settings = auth.section(type)
  let config: AuthOptions
  if (type === 'silly') {
    config = { silly: { realm: requiredString(settings, 'realm'), service: requiredString(settings, 'service') } }
  } else if (type === 'htpasswd') {
    config = { htpasswd: { realm: requiredString(settings, 'realm'), path: requiredString(settings, 'path') } }
  } else if (type === 'token') {
    const token: TokenAuthOptions = { realm: requiredString(settings, 'realm'), service: requiredString(settings, 'service'), issuer: requiredString(settings, 'issuer') }
    const rootCertBundle = settings.string('rootcertbundle')
    const jwks = settings.string('jwks')
    if (rootCertBundle === undefined && jwks === undefined) reader.fail(settings.path, 'needs rootcertbundle or jwks: the keys tokens are verified with')
    if (rootCertBundle !== undefined) token.rootCertBundle = rootCertBundle
    if (jwks !== undefined) token.jwks = jwks
    const signingAlgorithms = readSigningAlgorithms(settings)
    if (signingAlgorithms !== undefined) token.signingAlgorithms = signingAlgorithms
    if (settings.boolean('autoredirect') === true) {
      reader.warn(settings.at('autoredirect'), 'is not supported and is ignored: clients are sent to the configured realm')
    }
    settings.unsupported('autoredirectpath', 'is not supported and is ignored')
    config = { token }
  } else {
    reader.fail(auth.at(type), `is not an access controller this registry has (${AUTH_TYPES.join(', ')}): refusing to start an open registry where access control was configured`)
  }
  settings.finish({ restricts: 'configures access control' })
  options.auth = anonymousPull === true ? { ...config, anonymousPull: true } : config
  auth.finish()
}

function parseLevel (text: string | undefined, path: string, reader: Reader): LogLevel | undefined {
  if (text === undefined) return undefined
  const lower = text.toLowerCase()
  if (lower !== 'error' && lower !== 'warn' && lower !== 'info' && lower !== 'debug') {
    reader.fail(path, `must be one of error, warn, info, debug, got ${quote(text)}`)
  }
  return lower
}

function readLog (root: Section, reader: Reader): LogLevel {
  const log = root.section('log')
  // `loglevel` is distribution's older top-level spelling; `log.level` wins.
  const level = parseLevel(log.string('level'), log.at('level'), reader)
  const alias = parseLevel(root.string('loglevel'), 'loglevel', reader)

  const formatter = log.string('formatter')
  if (formatter !== undefined && formatter !== 'json' && formatter !== 'text') {
    reader.warn(log.at('formatter'), `${quote(formatter)} is not supported and is ignored: logs are JSON lines`)
  }
  log.unsupported('fields')
  log.unsupported('hooks')
  log.unsupported('accesslog')
  log.unsupported('reportcaller')
  log.finish()
  return level ?? alias ?? 'info'
}

function interpret (rootValue: ConfigMap, reader: Reader): Omit<DistributionConfig, 'warnings' | 'configFile'> {
  const root = Section.of(rootValue, '', reader)
  const options: RegistryOptions = {}
  const result: Partial<DistributionConfig> = {}

  const version = root.get('version')
  if (version !== undefined && version !== null && version !== '0.1') {
    reader.fail('version', `must be 0.1, the only configuration version, got ${typeof version === 'string' ? quote(version) : 'a collection'}`)
  }

  const logLevel = readLog(root, reader)
  readHttp(root.section('http'), reader, result, options)
  // Before storage: storage.cache can name it.
  readRedis(root.section('redis'), reader, options)
  readStorage(root.section('storage'), reader, options)

  const catalog = root.section('catalog')
  // As in distribution, a zero or negative maxentries means the default.
  const maxEntries = catalog.integer('maxentries')
  if (maxEntries !== undefined && maxEntries > 0) options.limits = { ...options.limits, catalogPageSize: maxEntries }
  catalog.finish()

  readLimits(root.section('limits'), reader, options)
  readAuth(root.section('auth'), Object.hasOwn(rootValue, 'auth'), reader, options)
  // Before any other key is reported: a section that restricts access is understood or refused, never ignored.
  if (Object.hasOwn(rootValue, 'accesscontrol')) {
    root.get('accesscontrol')
    reader.fail('accesscontrol', 'is not supported yet: refusing to start with access rules that would not be enforced')
  }
  readHealth(root.section('health'), reader, result)
  root.refuse('proxy', 'is not supported yet: refusing to start a writable registry where a pull-through cache was configured')
  const notifications = readNotificationsConfig(root.get('notifications'))
  if (notifications.options !== undefined) options.notifications = notifications.options
  reader.warnings.push(...notifications.warnings)
  for (const key of ['middleware', 'reporting', 'compatibility', 'validation', 'policy']) {
    root.unsupported(key)
  }
  root.finish({ resembles: ROOT_SECURITY_KEYS })

  return {
    options,
    listen: result.listen as { host: string, port: number },
    logLevel,
    trustProxy: result.trustProxy ?? false,
    server: result.server ?? {},
    ...(result.debug === undefined ? {} : { debug: result.debug }),
    ...(result.shutdownTimeoutMs === undefined ? {} : { shutdownTimeoutMs: result.shutdownTimeoutMs })
  }
}

/**
 * Applies `REGISTRY_*` variables the way distribution does: `REGISTRY_A_B_C`
 * sets `a.b.c`, matching existing keys case-insensitively; variables are
 * applied in lexical order, so `REGISTRY_STORAGE` comes before
 * `REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY`.
 */
function applyEnvironment (root: ConfigMap, env: NodeJS.ProcessEnv, sources: Map<string, string>, warnings: string[]): void {
  const names = Object.keys(env).filter((name) => name.startsWith(ENV_PREFIX) && name !== CONFIG_PATH_VARIABLE && name !== STRICT_VARIABLE).sort()
  for (const name of names) {
    // Trimmed as YAML trims a plain scalar, which is what distribution parses the value as.
    const raw = env[name]?.trim()
    if (raw === undefined) continue
    const segments = name.slice(ENV_PREFIX.length).split('_')
    if (segments.some((segment) => segment === '')) {
      warnings.push(`environment variable ${name} does not name a configuration key and is ignored`)
      continue
    }
    const keys: string[] = []
    let node = root
    for (let i = 0; i < segments.length; i++) {
      const key = Object.keys(node).find((existing) => existing.toUpperCase() === segments[i].toUpperCase()) ?? segments[i].toLowerCase()
      keys.push(key)
      const path = keys.join('.')
      if (i < segments.length - 1) {
        let next = own(node, key)
        if (!isMap(next)) {
          next = {}
          node[key] = next
        }
        node = next
        continue
      }
      // A value that looks like a YAML collection is parsed, as distribution does; never a secret, which can be any text.
      const value = !SECRET_PATHS.has(path) && /^[{[]/.test(raw) ? parseYaml(raw, `environment variable ${name}`, path).value : raw
      if ((path === 'storage' || path === 'auth') && typeof value === 'string' && value !== '') {
        // REGISTRY_STORAGE=<driver> switches driver but keeps the file's delete/maintenance/... settings;
        // REGISTRY_AUTH=<type> switches access controller but keeps anonymouspull.
        const settings = path === 'storage' ? STORAGE_SETTINGS : AUTH_SETTINGS
        const current = isMap(own(node, key)) ? own(node, key) as ConfigMap : {}
        const next: ConfigMap = {}
        for (const [setting, settingValue] of Object.entries(current)) {
          if (settings.has(setting) || setting === value) next[setting] = settingValue
        }
        if (!Object.hasOwn(next, value)) next[value] = {}
        node[key] = next
        sources.set(`${path}.${value}`, name)
      } else {
        node[key] = value
        sources.set(path, name)
      }
    }
  }
}

/** REGISTRY_CONFIGURATION_STRICT: true/false in the spellings booleans take; anything else stops start-up. */
function strictMode (env: NodeJS.ProcessEnv): boolean {
  const raw = env[STRICT_VARIABLE]?.trim()
  if (raw === undefined || raw === '') return false
  if (/^(?:true|yes|on|1)$/i.test(raw)) return true
  if (/^(?:false|no|off|0)$/i.test(raw)) return false
  throw new RegistryConfigError(STRICT_VARIABLE, `must be true or false, got ${quote(raw)}`)
}

/**
 * Turns a configuration file's text (or undefined, for no file) plus the
 * environment into the registry's options and the server's settings.
 * Throws RegistryConfigError naming the configuration path on a bad value.
 */
export function parseDistributionConfig (text: string | undefined, env: NodeJS.ProcessEnv = {}, configFile?: string): DistributionConfig {
  const warnings: string[] = []
  let root: ConfigMap = {}
  if (text !== undefined) {
    const what = configFile === undefined ? 'the configuration' : `configuration file ${configFile}`
    const parsed = parseYaml(text, what, 'config file')
    warnings.push(...parsed.warnings)
    if (parsed.value !== null) {
      if (!isMap(parsed.value)) throw new RegistryConfigError('config file', `${what} must be a YAML mapping`)
      root = parsed.value
    }
  }
  normalizeStorage(root)
  const sources = new Map<string, string>()
  applyEnvironment(root, env, sources, warnings)
  normalizeStorage(root)

  const reader = new Reader(sources, strictMode(env))
  const config = interpret(root, reader)
  return { ...config, warnings: [...warnings, ...reader.warnings], ...(configFile === undefined ? {} : { configFile }) }
}

/** Reads the configuration file (if a path is given) and applies the environment. */
export async function loadDistributionConfig (configFile: string | undefined, env: NodeJS.ProcessEnv = {}): Promise<DistributionConfig> {
  if (configFile === undefined) return parseDistributionConfig(undefined, env)
  let text: string
  try {
    text = await readFile(configFile, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new RegistryConfigError('config file', `${configFile} cannot be read: ${code ?? (error as Error).message}`)
  }
  return parseDistributionConfig(text, env, configFile)
}

/**
 * The configuration file named on the command line (`<path>` or, as with
 * distribution's CLI, `serve <path>`), else by REGISTRY_CONFIGURATION_PATH,
 * else none. `argv` is the arguments after the script (process.argv.slice(2)).
 */
export function configFileFromArgs (argv: readonly string[], env: NodeJS.ProcessEnv = {}): string | undefined {
  const args = argv[0] === 'serve' ? argv.slice(1) : [...argv]
  if (args[0] === 'garbage-collect') throw new RegistryConfigError('command line', 'asks for garbage-collect, a command of its own: fastify-oci-registry garbage-collect [config.yml]')
  const flag = args.find((arg) => arg.startsWith('-') && arg !== '-')
  if (flag !== undefined) throw new RegistryConfigError('command line', `has an unknown flag ${quote(flag)}; usage: [serve] [config.yml]`)
  if (args.length > 1) throw new RegistryConfigError('command line', `takes one configuration file path, got ${args.length} arguments`)
  if (args.length === 1) return args[0]
  const fromEnv = env[CONFIG_PATH_VARIABLE]
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv
}

/** Resolves the whole standalone configuration from the command line and the environment. */
export async function resolveDistributionConfig (argv: readonly string[], env: NodeJS.ProcessEnv): Promise<DistributionConfig> {
  return await loadDistributionConfig(configFileFromArgs(argv, env), env)
}
