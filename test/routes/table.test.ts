import t, { type Test } from 'tap'
import fc from 'fast-check'
import {
  matchRoute,
  requiredAccess,
  routes,
  routesByName,
  type HttpMethod,
  type RouteName
} from '../../routes/table.js'
import { formatScope } from '../../routes/access.js'

const SHA256 = `sha256:${'a'.repeat(64)}`
const SHA512 = `sha512:${'0123456789abcdef'.repeat(8)}`
const UUID = '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9'

const ALL_ROUTE_NAMES: RouteName[] = ['base', 'catalog', 'tags', 'manifest', 'blob', 'blob-upload', 'blob-upload-chunk', 'referrers']
const ALL_METHODS: HttpMethod[] = ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE']

/** Asserts a path matches `route` with exactly `params`. */
function expectMatch (t: Test, subpath: string, route: RouteName, params: Record<string, string>): void {
  const match = matchRoute(subpath)
  if (match === undefined) {
    t.fail(`${JSON.stringify(subpath)} should match ${route}`)
    return
  }
  t.equal(match.route.name, route, `${JSON.stringify(subpath)} -> ${route}`)
  t.strictSame({ ...match.params }, params, `${JSON.stringify(subpath)} params`)
  t.equal(match.route, routesByName[route], 'the match carries the table entry itself')
}

t.test('routes table: every route, in a sane shape', async (t) => {
  t.strictSame(routes.map((r) => r.name).sort(), [...ALL_ROUTE_NAMES].sort(), 'exactly the eight v2 routes')
  t.equal(new Set(routes.map((r) => r.name)).size, routes.length, 'route names are unique')
  for (const name of ALL_ROUTE_NAMES) {
    const definition = routesByName[name]
    t.ok(definition, `routesByName has ${name}`)
    t.equal(definition.name, name, `routesByName.${name}.name`)
    t.ok(routes.includes(definition), `routesByName.${name} is the table entry`)
    t.ok(definition.methods.length > 0, `${name} has methods`)
    t.equal(new Set(definition.methods).size, definition.methods.length, `${name} methods unique`)
    for (const method of definition.methods) t.ok(ALL_METHODS.includes(method), `${name}: ${method} is an HTTP method`)
    t.ok(definition.path.startsWith('/v2/'), `${name} path starts with /v2/`)
    // every <param> of the template is a declared param, and vice versa
    const templateParams = [...definition.path.matchAll(/<([a-z]+)>/g)].map((m) => m[1])
    t.strictSame(templateParams, [...definition.params], `${name}: template params match declared params in order`)
    t.equal(definition.scoped, definition.params.includes('name'), `${name}: scoped iff it has a name`)
  }
  t.equal(Object.keys(routesByName).length, routes.length, 'routesByName has no extra entries')
  t.ok(Object.isFrozen(routes), 'table frozen')
  t.ok(Object.isFrozen(routesByName), 'routesByName frozen')
  t.ok(Object.isFrozen(routes[0]), 'entries frozen')
  t.ok(Object.isFrozen(routes[0].methods), 'methods frozen')
  t.throws(() => { (routesByName.manifest.methods as HttpMethod[]).push('PATCH') }, 'methods cannot be extended')
})

t.test('routes table: methods per route, as the spec defines them', async (t) => {
  const expected: Record<RouteName, HttpMethod[]> = {
    base: ['GET', 'HEAD'],
    catalog: ['GET'],
    tags: ['GET'],
    manifest: ['GET', 'HEAD', 'PUT', 'DELETE'],
    blob: ['GET', 'HEAD', 'DELETE'],
    'blob-upload': ['POST'],
    'blob-upload-chunk': ['GET', 'PATCH', 'PUT', 'DELETE'],
    referrers: ['GET']
  }
  for (const name of ALL_ROUTE_NAMES) {
    t.strictSame([...routesByName[name].methods].sort(), expected[name].sort(), `${name} methods`)
  }
  t.equal(routesByName.base.scoped, false)
  t.equal(routesByName.catalog.scoped, false)
  for (const name of ALL_ROUTE_NAMES.filter((n) => n !== 'base' && n !== 'catalog')) {
    t.equal(routesByName[name].scoped, true, `${name} is scoped`)
  }
})

t.test('matchRoute: base and catalog', async (t) => {
  expectMatch(t, '', 'base', {})
  expectMatch(t, '_catalog', 'catalog', {})
  t.equal(matchRoute('/'), undefined, 'a lone slash is not the base route')
  t.equal(matchRoute('_catalog/'), undefined, 'catalog with a trailing slash')
  t.equal(matchRoute('_catalogx'), undefined)
  t.equal(matchRoute('x_catalog'), undefined)
})

t.test('matchRoute: tags', async (t) => {
  expectMatch(t, 'a/tags/list', 'tags', { name: 'a' })
  expectMatch(t, 'a/b/c/tags/list', 'tags', { name: 'a/b/c' })
  expectMatch(t, 'library/alpine/tags/list', 'tags', { name: 'library/alpine' })
  // a name that itself ends in tags/list
  expectMatch(t, 'a/tags/list/tags/list', 'tags', { name: 'a/tags/list' })
  expectMatch(t, 'tags/tags/list', 'tags', { name: 'tags' })
  t.equal(matchRoute('tags/list'), undefined, 'no name')
  t.equal(matchRoute('/tags/list'), undefined, 'empty name')
  t.equal(matchRoute('a/tags/list/'), undefined, 'trailing slash')
  t.equal(matchRoute('a/tags/lists'), undefined)
  t.equal(matchRoute('a/tags'), undefined)
})

t.test('matchRoute: manifests', async (t) => {
  expectMatch(t, 'a/manifests/latest', 'manifest', { name: 'a', reference: 'latest' })
  expectMatch(t, 'a/b/c/manifests/v1.2.3', 'manifest', { name: 'a/b/c', reference: 'v1.2.3' })
  expectMatch(t, `a/manifests/${SHA256}`, 'manifest', { name: 'a', reference: SHA256 })
  expectMatch(t, `a/manifests/${SHA512}`, 'manifest', { name: 'a', reference: SHA512 })
  // a name containing the resource word
  expectMatch(t, 'x/manifests/manifests/latest', 'manifest', { name: 'x/manifests', reference: 'latest' })
  expectMatch(t, 'manifests/manifests/manifests', 'manifest', { name: 'manifests', reference: 'manifests' })
  expectMatch(t, 'manifests/manifests/manifests/manifests', 'manifest', { name: 'manifests/manifests', reference: 'manifests' })
  expectMatch(t, 'a/blobs/uploads/manifests/latest', 'manifest', { name: 'a/blobs/uploads', reference: 'latest' })
  expectMatch(t, 'a/tags/list/manifests/list', 'manifest', { name: 'a/tags/list', reference: 'list' })
  // the reference is decoded (a digest's colon may arrive encoded)
  expectMatch(t, `a/manifests/${SHA256.replace(':', '%3A')}`, 'manifest', { name: 'a', reference: SHA256 })
  expectMatch(t, `a/manifests/${SHA256.replace(':', '%3a')}`, 'manifest', { name: 'a', reference: SHA256 })
  t.equal(matchRoute('a/manifests/'), undefined, 'empty reference')
  t.equal(matchRoute('a/manifests/latest/'), undefined, 'trailing slash')
  t.equal(matchRoute('a/manifests/x/y'), undefined, 'a reference is one segment')
  t.equal(matchRoute('manifests/latest'), undefined, 'no name')
  t.equal(matchRoute('/manifests/latest'), undefined, 'empty name')
  t.equal(matchRoute('a/manifest/latest'), undefined, 'singular resource word')
})

t.test('matchRoute: blobs', async (t) => {
  expectMatch(t, `a/blobs/${SHA256}`, 'blob', { name: 'a', digest: SHA256 })
  expectMatch(t, `a/b/c/blobs/${SHA512}`, 'blob', { name: 'a/b/c', digest: SHA512 })
  expectMatch(t, `foo/blobs/${SHA256}`, 'blob', { name: 'foo', digest: SHA256 })
  expectMatch(t, `foo/blobs/blobs/${SHA256}`, 'blob', { name: 'foo/blobs', digest: SHA256 })
  expectMatch(t, `foo/manifests/blobs/${SHA256}`, 'blob', { name: 'foo/manifests', digest: SHA256 })
  // percent-encoded colon is decoded, in either case
  expectMatch(t, `a/blobs/${SHA256.replace(':', '%3A')}`, 'blob', { name: 'a', digest: SHA256 })
  expectMatch(t, `a/blobs/${SHA256.replace(':', '%3a')}`, 'blob', { name: 'a', digest: SHA256 })
  // the digest segment is not validated here: that is the Context's job
  expectMatch(t, 'a/blobs/not-a-digest', 'blob', { name: 'a', digest: 'not-a-digest' })
  t.equal(matchRoute('a/blobs/'), undefined, 'empty digest')
  t.equal(matchRoute(`a/blobs/${SHA256}/`), undefined, 'trailing slash')
  t.equal(matchRoute(`blobs/${SHA256}`), undefined, 'no name')
})

t.test('matchRoute: referrers', async (t) => {
  expectMatch(t, `a/referrers/${SHA256}`, 'referrers', { name: 'a', digest: SHA256 })
  expectMatch(t, `a/b/c/referrers/${SHA256}`, 'referrers', { name: 'a/b/c', digest: SHA256 })
  expectMatch(t, `a/referrers/referrers/${SHA256}`, 'referrers', { name: 'a/referrers', digest: SHA256 })
  expectMatch(t, `a/referrers/${SHA256.replace(':', '%3A')}`, 'referrers', { name: 'a', digest: SHA256 })
  t.equal(matchRoute('a/referrers/'), undefined)
  t.equal(matchRoute(`a/referrers/${SHA256}/x`), undefined)
})

t.test('matchRoute: uploads', async (t) => {
  // POST with and without the trailing slash
  expectMatch(t, 'a/blobs/uploads/', 'blob-upload', { name: 'a' })
  expectMatch(t, 'a/blobs/uploads', 'blob-upload', { name: 'a' })
  expectMatch(t, 'a/b/c/blobs/uploads/', 'blob-upload', { name: 'a/b/c' })
  expectMatch(t, 'a/b/c/blobs/uploads', 'blob-upload', { name: 'a/b/c' })
  expectMatch(t, 'a/blobs/uploads/blobs/uploads/', 'blob-upload', { name: 'a/blobs/uploads' })
  t.equal(matchRoute('a/blobs/uploads//'), undefined, 'two trailing slashes')

  expectMatch(t, `a/blobs/uploads/${UUID}`, 'blob-upload-chunk', { name: 'a', uuid: UUID })
  expectMatch(t, `a/b/c/blobs/uploads/${UUID}`, 'blob-upload-chunk', { name: 'a/b/c', uuid: UUID })
  expectMatch(t, `a/blobs/uploads/blobs/uploads/${UUID}`, 'blob-upload-chunk', { name: 'a/blobs/uploads', uuid: UUID })
  expectMatch(t, 'a/blobs/uploads/x%20y', 'blob-upload-chunk', { name: 'a', uuid: 'x y' })
  t.equal(matchRoute(`a/blobs/uploads/${UUID}/`), undefined, 'trailing slash after the upload id')
  t.equal(matchRoute(`a/blobs/uploads/${UUID}/x`), undefined)
  t.equal(matchRoute(`blobs/uploads/${UUID}`), undefined, 'no name')
  t.equal(matchRoute('blobs/uploads/'), undefined, 'no name on POST')
})

t.test('matchRoute: the name is not decoded; the last segment is', async (t) => {
  expectMatch(t, 'a%2Fb/manifests/latest', 'manifest', { name: 'a%2Fb', reference: 'latest' })
  expectMatch(t, 'a%2fb/tags/list', 'tags', { name: 'a%2fb' })
  expectMatch(t, `a%2Fb/blobs/${SHA256}`, 'blob', { name: 'a%2Fb', digest: SHA256 })
  expectMatch(t, 'a%2Fb/blobs/uploads/', 'blob-upload', { name: 'a%2Fb' })
  // malformed escapes in the name do not matter to matching: the name stays raw
  expectMatch(t, 'a%zz/manifests/latest', 'manifest', { name: 'a%zz', reference: 'latest' })
  // an encoded slash in the reference decodes to a slash (the tag grammar rejects it later)
  expectMatch(t, 'a/manifests/x%2Fy', 'manifest', { name: 'a', reference: 'x/y' })
})

t.test('matchRoute: malformed percent-encoding in a decoded segment -> undefined', async (t) => {
  for (const subpath of [
    'a/blobs/sha256%3',
    'a/blobs/sha256%',
    'a/blobs/%zz',
    'a/manifests/%E0%A4%A',
    'a/manifests/%',
    'a/manifests/%C3%28',
    `a/referrers/sha256%G1${'a'.repeat(64)}`,
    'a/blobs/uploads/%ZZ',
    'a/blobs/uploads/%D8%00'
  ]) {
    t.equal(matchRoute(subpath), undefined, JSON.stringify(subpath))
  }
})

t.test('matchRoute: unmatched paths', async (t) => {
  for (const subpath of [
    'a',
    'a/b',
    'a/',
    '/a',
    'v2/',
    'a/tags',
    'a/blob/' + SHA256,
    'a/manifests',
    'a/referrers',
    'a/uploads/',
    'a/blobs',
    '_catalog/x',
    'a/tags/list/x',
    'a/manifests/latest\n/x'
  ]) {
    t.equal(matchRoute(subpath), undefined, JSON.stringify(subpath))
  }
})

t.test('matchRoute: the returned params are a fresh object', async (t) => {
  const first = matchRoute('a/manifests/latest')!
  first.params.name = 'mutated'
  t.equal(matchRoute('a/manifests/latest')!.params.name, 'a')
})

t.test('matchRoute: any valid name and tag round-trip through the manifest path (property)', async (t) => {
  const component = fc.stringMatching(/^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/)
  const name = fc.array(component, { minLength: 1, maxLength: 5 }).map((parts) => parts.join('/'))
  const tag = fc.stringMatching(/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}$/)
  fc.assert(fc.property(name, tag, (n, tg) => {
    const m = matchRoute(`${n}/manifests/${tg}`)
    return m !== undefined && m.route.name === 'manifest' && m.params.name === n && m.params.reference === tg
  }))
  fc.assert(fc.property(name, (n) => {
    const m = matchRoute(`${n}/blobs/${SHA256}`)
    return m !== undefined && m.route.name === 'blob' && m.params.name === n && m.params.digest === SHA256
  }))
  t.pass('properties hold')
})

t.test('requiredAccess: base and catalog', async (t) => {
  for (const method of ALL_METHODS) {
    t.strictSame(requiredAccess('base', method, {}), [], `base ${method} needs nothing`)
    t.strictSame(requiredAccess('catalog', method, {}), [{ type: 'registry', name: 'catalog', actions: ['*'] }], `catalog ${method}`)
  }
  // a name param never makes the catalog a repository scope
  t.strictSame(requiredAccess('catalog', 'GET', { name: 'a' }), [{ type: 'registry', name: 'catalog', actions: ['*'] }])
  t.strictSame(requiredAccess('base', 'GET', { name: 'a' }), [])
})

t.test('requiredAccess: repository routes, every method', async (t) => {
  const expected: Record<HttpMethod, string[]> = {
    GET: ['pull'],
    HEAD: ['pull'],
    POST: ['pull', 'push'],
    PUT: ['pull', 'push'],
    PATCH: ['pull', 'push'],
    DELETE: ['delete']
  }
  for (const name of ALL_ROUTE_NAMES.filter((n) => n !== 'base' && n !== 'catalog')) {
    for (const method of routesByName[name].methods) {
      // An upload in progress needs push for every method, its status and cancel included.
      const actions = name === 'blob-upload-chunk' ? ['pull', 'push'] : expected[method]
      t.strictSame(
        requiredAccess(name, method, { name: 'library/alpine' }),
        [{ type: 'repository', name: 'library/alpine', actions }],
        `${name} ${method}`
      )
    }
  }
  // every method, on one route, regardless of whether the route allows it
  for (const method of ALL_METHODS) {
    t.strictSame(requiredAccess('manifest', method, { name: 'a/b' }), [{ type: 'repository', name: 'a/b', actions: expected[method] }], `manifest ${method}`)
  }
  // case-insensitive method
  t.strictSame(requiredAccess('blob', 'get', { name: 'a' })[0].actions, ['pull'])
  t.strictSame(requiredAccess('blob', 'head', { name: 'a' })[0].actions, ['pull'])
  t.strictSame(requiredAccess('blob', 'delete', { name: 'a' })[0].actions, ['delete'])
  t.strictSame(requiredAccess('blob-upload-chunk', 'patch', { name: 'a' })[0].actions, ['pull', 'push'])
})

t.test('requiredAccess: cross-repository mount', async (t) => {
  t.strictSame(requiredAccess('blob-upload', 'POST', { name: 'a' }, { mount: SHA256, from: 'b/c' }), [
    { type: 'repository', name: 'a', actions: ['pull', 'push'] },
    { type: 'repository', name: 'b/c', actions: ['pull'] }
  ], 'mount with from adds pull on from')
  t.strictSame(requiredAccess('blob-upload', 'POST', { name: 'a' }, { mount: SHA256, from: 'a' }), [
    { type: 'repository', name: 'a', actions: ['pull', 'push'] }
  ], 'from equal to the name adds nothing')
  t.strictSame(requiredAccess('blob-upload', 'POST', { name: 'a' }, { from: 'b' }), [
    { type: 'repository', name: 'a', actions: ['pull', 'push'] }
  ], 'from without mount adds nothing')
  t.strictSame(requiredAccess('blob-upload', 'POST', { name: 'a' }, { mount: SHA256 }), [
    { type: 'repository', name: 'a', actions: ['pull', 'push'] }
  ], 'mount without from adds nothing')
  t.strictSame(requiredAccess('blob-upload', 'POST', { name: 'a' }), [
    { type: 'repository', name: 'a', actions: ['pull', 'push'] }
  ], 'no query')
  // mount and from only mean something on the upload-start route
  for (const name of ['blob-upload-chunk', 'blob', 'manifest', 'tags', 'referrers'] as RouteName[]) {
    const access = requiredAccess(name, 'PUT', { name: 'a' }, { mount: SHA256, from: 'b' })
    t.equal(access.length, 1, `${name}: no extra access for mount/from`)
    t.equal(access[0].name, 'a')
  }
})

t.test('requiredAccess: returns fresh action arrays', async (t) => {
  const first = requiredAccess('manifest', 'GET', { name: 'a' })
  first[0].actions.push('push')
  const mountFirst = requiredAccess('blob-upload', 'POST', { name: 'a' }, { mount: SHA256, from: 'b' })
  mountFirst[0].actions.push('delete')
  mountFirst[1].actions.push('push')
  const del = requiredAccess('manifest', 'DELETE', { name: 'a' })
  del[0].actions.push('pull')
  t.strictSame(requiredAccess('manifest', 'GET', { name: 'a' })[0].actions, ['pull'])
  t.strictSame(requiredAccess('manifest', 'PUT', { name: 'a' })[0].actions, ['pull', 'push'])
  t.strictSame(requiredAccess('manifest', 'DELETE', { name: 'a' })[0].actions, ['delete'])
  t.strictSame(requiredAccess('blob-upload', 'POST', { name: 'a' }, { mount: SHA256, from: 'b' })[1].actions, ['pull'])
})

t.test('requiredAccess output formats as token-spec scopes', async (t) => {
  t.strictSame(requiredAccess('blob-upload', 'POST', { name: 'library/alpine' }, { mount: SHA256, from: 'other/repo' }).map(formatScope),
    ['repository:library/alpine:pull,push', 'repository:other/repo:pull'])
  t.strictSame(requiredAccess('catalog', 'GET', {}).map(formatScope), ['registry:catalog:*'])
  t.strictSame(requiredAccess('manifest', 'DELETE', { name: 'a' }).map(formatScope), ['repository:a:delete'])
  t.equal(formatScope({ type: 'repository', name: 'a', actions: [] }), 'repository:a:')
})
