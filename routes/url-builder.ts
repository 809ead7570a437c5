import { routesByName, type RouteName, type RouteParams } from './table.js'

export type QueryValue = string | number | readonly string[] | undefined
export type Query = Record<string, QueryValue>

/** Percent-encodes one path segment, keeping the colon of a digest readable as distribution does. */
function encodeSegment (value: string): string {
  return encodeURIComponent(value).replace(/%3A/gi, ':')
}

function encodeParam (key: keyof RouteParams, value: string): string {
  // Names keep their slashes; everything else is one path segment.
  return key === 'name' ? value.split('/').map(encodeSegment).join('/') : encodeSegment(value)
}

function encodeQuery (query: Query | undefined): string {
  if (query === undefined) return ''
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue
    if (Array.isArray(value)) {
      for (const item of value) search.append(key, item)
    } else {
      search.append(key, String(value))
    }
  }
  const encoded = search.toString()
  return encoded === '' ? '' : `?${encoded}`
}

/** The path of a route (`/v2/...`), with its params filled in and an optional query. */
export function buildPath (name: RouteName, params: RouteParams = {}, query?: Query): string {
  const template = routesByName[name].path
  const path = template.replace(/<(name|reference|digest|uuid)>/g, (_whole, key: keyof RouteParams) => {
    const value = params[key]
    if (value === undefined) throw new TypeError(`route "${name}" needs param "${key}"`)
    return encodeParam(key, value)
  })
  return path + encodeQuery(query)
}

/** The request facts an absolute URL is derived from. */
export interface RequestOrigin {
  headers: Record<string, string | string[] | undefined>
  /** `http` or `https`, as the connection was made. */
  protocol: string
  /** The Host the request came with. */
  host: string
}

export interface UrlBuilderOptions {
  /** A fixed external base such as `https://registry.example.com`; wins over request headers. */
  host?: string
  /** Build relative URLs (`/v2/...`) instead of absolute ones. */
  relative?: boolean
  /** A path prefix the registry is mounted under, such as `/registry`. */
  prefix?: string
}

function firstHeader (value: string | string[] | undefined): string | undefined {
  const raw = Array.isArray(value) ? value[0] : value
  if (raw === undefined) return undefined
  const first = raw.split(',')[0].trim()
  return first === '' ? undefined : first
}

/** Parses the first element of an RFC 7239 `Forwarded` header into proto and host. */
function parseForwarded (value: string | undefined): { proto?: string, host?: string } {
  if (value === undefined) return {}
  const result: { proto?: string, host?: string } = {}
  for (const pair of value.split(';')) {
    const [key, ...rest] = pair.split('=')
    const raw = rest.join('=').trim().replace(/^"(.*)"$/, '$1')
    const lowered = key.trim().toLowerCase()
    if (lowered === 'proto' && /^https?$/i.test(raw)) result.proto = raw.toLowerCase()
    if (lowered === 'host' && raw !== '') result.host = raw
  }
  return result
}

const HOST_PATTERN = /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/

/**
 * The base (`scheme://host[/prefix]`, or just the prefix when relative)
 * that absolute URLs start with: the configured host, else `Forwarded`,
 * else `X-Forwarded-Proto`/`X-Forwarded-Host`, else the request itself.
 */
export function baseURL (origin: RequestOrigin | undefined, options: UrlBuilderOptions = {}): string {
  const prefix = (options.prefix ?? '').replace(/\/+$/, '')
  if (options.relative === true || origin === undefined && options.host === undefined) return prefix
  if (options.host !== undefined) return options.host.replace(/\/+$/, '') + prefix
  const forwarded = parseForwarded(firstHeader(origin?.headers.forwarded))
  const proto = forwarded.proto ?? firstHeader(origin?.headers['x-forwarded-proto']) ?? origin?.protocol ?? 'http'
  const host = forwarded.host ?? firstHeader(origin?.headers['x-forwarded-host']) ?? origin?.host ?? 'localhost'
  const safeProto = /^https?$/i.test(proto) ? proto.toLowerCase() : 'http'
  const requestHost = origin?.host ?? ''
  const safeHost = HOST_PATTERN.test(host) ? host : HOST_PATTERN.test(requestHost) ? requestHost : 'localhost'
  return `${safeProto}://${safeHost}${prefix}`
}

/** Builds the URLs of every route for one request. */
export class UrlBuilder {
  readonly base: string
  readonly #prefix: string

  constructor (origin?: RequestOrigin, options: UrlBuilderOptions = {}) {
    this.base = baseURL(origin, options)
    this.#prefix = (options.prefix ?? '').replace(/\/+$/, '')
  }

  /** A URL relative to the host (prefix and path), as pagination `Link` headers use. */
  relative (name: RouteName, params: RouteParams = {}, query?: Query): string {
    return this.#prefix + buildPath(name, params, query)
  }

  build (name: RouteName, params: RouteParams = {}, query?: Query): string {
    return this.base + buildPath(name, params, query)
  }
}
