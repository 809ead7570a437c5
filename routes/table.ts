import type { Access } from './access.js'

/** Every v2 route, by name. */
export type RouteName =
  | 'base'
  | 'catalog'
  | 'tags'
  | 'manifest'
  | 'blob'
  | 'blob-upload'
  | 'blob-upload-chunk'
  | 'referrers'

export type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE'

/** The values a route's path carries. */
export interface RouteParams {
  name?: string
  reference?: string
  digest?: string
  uuid?: string
}

export interface RouteDefinition {
  readonly name: RouteName
  /** Path template; `<param>` stands for a value of RouteParams. */
  readonly path: string
  readonly methods: readonly HttpMethod[]
  /** Matches the path below `/v2/`; capture groups fill `params` in order. */
  readonly pattern: RegExp
  readonly params: ReadonlyArray<keyof RouteParams>
  /** Whether the route addresses a repository; only the base and catalog routes don't. */
  readonly scoped: boolean
}

function route (name: RouteName, path: string, methods: HttpMethod[], pattern: RegExp, params: Array<keyof RouteParams>): RouteDefinition {
  return Object.freeze({ name, path, methods: Object.freeze(methods), pattern, params: Object.freeze(params), scoped: params.includes('name') })
}

/**
 * The route table, in match order. A repository name may contain slashes, so
 * each pattern captures it greedily and anchors on the resource suffix;
 * the name's grammar is checked after matching so a bad name gets NAME_INVALID.
 */
export const routes: readonly RouteDefinition[] = Object.freeze([
  route('base', '/v2/', ['GET', 'HEAD'], /^$/, []),
  route('catalog', '/v2/_catalog', ['GET'], /^_catalog$/, []),
  route('tags', '/v2/<name>/tags/list', ['GET'], /^(.+)\/tags\/list$/, ['name']),
  route('manifest', '/v2/<name>/manifests/<reference>', ['GET', 'HEAD', 'PUT', 'DELETE'], /^(.+)\/manifests\/([^/]+)$/, ['name', 'reference']),
  route('blob-upload', '/v2/<name>/blobs/uploads/', ['POST'], /^(.+)\/blobs\/uploads\/?$/, ['name']),
  route('blob-upload-chunk', '/v2/<name>/blobs/uploads/<uuid>', ['GET', 'PATCH', 'PUT', 'DELETE'], /^(.+)\/blobs\/uploads\/([^/]+)$/, ['name', 'uuid']),
  route('blob', '/v2/<name>/blobs/<digest>', ['GET', 'HEAD', 'DELETE'], /^(.+)\/blobs\/([^/]+)$/, ['name', 'digest']),
  route('referrers', '/v2/<name>/referrers/<digest>', ['GET'], /^(.+)\/referrers\/([^/]+)$/, ['name', 'digest'])
])

export const routesByName: Readonly<Record<RouteName, RouteDefinition>> = Object.freeze(
  Object.fromEntries(routes.map((definition) => [definition.name, definition])) as Record<RouteName, RouteDefinition>
)

export interface RouteMatch {
  route: RouteDefinition
  params: RouteParams
}

function decodeSegment (value: string): string | undefined {
  try {
    return decodeURIComponent(value)
  } catch {
    return undefined
  }
}

/**
 * Finds the route for a path below `/v2/` (no query string). The name stays
 * as sent (an encoded `%2F` is not a slash: such a name is invalid); the
 * trailing reference, digest or upload id is percent-decoded, since some
 * clients encode the colon of a digest. Undefined when no route matches.
 */
export function matchRoute (subpath: string): RouteMatch | undefined {
  for (const definition of routes) {
    const match = definition.pattern.exec(subpath)
    if (match === null) continue
    const params: RouteParams = {}
    for (let index = 0; index < definition.params.length; index++) {
      const key = definition.params[index]
      const raw = match[index + 1]
      const value = key === 'name' ? raw : decodeSegment(raw)
      if (value === undefined) return undefined
      params[key] = value
    }
    return { route: definition, params }
  }
  return undefined
}

const PULL = ['pull']
const PUSH = ['pull', 'push']
const DELETE = ['delete']

/**
 * The access a request needs: GET/HEAD pull; POST/PUT/PATCH pull and push;
 * DELETE delete; anything on an upload in progress pull and push; a cross-repository mount also pull on `from`; the catalog
 * `registry:catalog:*`; the base route nothing.
 */
export function requiredAccess (name: RouteName, method: string, params: RouteParams, query: { mount?: string, from?: string } = {}): Access[] {
  if (name === 'base') return []
  if (name === 'catalog') return [{ type: 'registry', name: 'catalog', actions: ['*'] }]
  const repository = params.name ?? ''
  const verb = method.toUpperCase()
  // An upload in progress belongs to its pusher: reading its status or cancelling it needs push too,
  // so anonymous pull cannot watch other clients' uploads.
  const actions = name === 'blob-upload-chunk' ? PUSH : verb === 'GET' || verb === 'HEAD' ? PULL : verb === 'DELETE' ? DELETE : PUSH
  const access: Access[] = [{ type: 'repository', name: repository, actions: [...actions] }]
  if (name === 'blob-upload' && typeof query.mount === 'string' && typeof query.from === 'string' && query.from !== repository) {
    access.push({ type: 'repository', name: query.from, actions: [...PULL] })
  }
  return access
}
