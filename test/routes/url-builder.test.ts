import t from 'tap'
import fc from 'fast-check'
import { baseURL, buildPath, UrlBuilder, type RequestOrigin } from '../../routes/url-builder.js'
import { matchRoute, routes, type RouteName } from '../../routes/table.js'

const SHA256 = `sha256:${'b'.repeat(64)}`
const UUID = '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9'

function origin (headers: RequestOrigin['headers'] = {}, protocol = 'http', host = 'internal:5000'): RequestOrigin {
  return { headers, protocol, host }
}

t.test('buildPath: every route', async (t) => {
  t.equal(buildPath('base'), '/v2/')
  t.equal(buildPath('catalog'), '/v2/_catalog')
  t.equal(buildPath('tags', { name: 'a' }), '/v2/a/tags/list')
  t.equal(buildPath('tags', { name: 'a/b/c' }), '/v2/a/b/c/tags/list', 'names keep their slashes')
  t.equal(buildPath('manifest', { name: 'library/alpine', reference: 'latest' }), '/v2/library/alpine/manifests/latest')
  t.equal(buildPath('manifest', { name: 'a', reference: SHA256 }), `/v2/a/manifests/${SHA256}`, 'digest colon stays a colon')
  t.equal(buildPath('blob', { name: 'a/b', digest: SHA256 }), `/v2/a/b/blobs/${SHA256}`)
  t.equal(buildPath('blob-upload', { name: 'a/b' }), '/v2/a/b/blobs/uploads/', 'upload start keeps the trailing slash')
  t.equal(buildPath('blob-upload-chunk', { name: 'a', uuid: UUID }), `/v2/a/blobs/uploads/${UUID}`)
  t.equal(buildPath('referrers', { name: 'a', digest: SHA256 }), `/v2/a/referrers/${SHA256}`)
})

t.test('buildPath: every route template is fully substituted', async (t) => {
  const params = { name: 'n/m', reference: 'r', digest: SHA256, uuid: UUID }
  for (const route of routes) {
    const path = buildPath(route.name, params)
    t.notMatch(path, /[<>]/, `${route.name}: no placeholder left`)
    t.ok(path.startsWith('/v2/'), `${route.name}: starts with /v2/`)
  }
})

t.test('buildPath: a missing param throws', async (t) => {
  const cases: Array<[RouteName, Record<string, string>, string]> = [
    ['tags', {}, 'name'],
    ['manifest', { name: 'a' }, 'reference'],
    ['manifest', { reference: 'latest' }, 'name'],
    ['blob', { name: 'a' }, 'digest'],
    ['blob', { digest: SHA256 }, 'name'],
    ['blob-upload', {}, 'name'],
    ['blob-upload-chunk', { name: 'a' }, 'uuid'],
    ['blob-upload-chunk', { uuid: UUID }, 'name'],
    ['referrers', { name: 'a' }, 'digest'],
    ['referrers', { digest: SHA256 }, 'name']
  ]
  for (const [route, params, missing] of cases) {
    t.throws(() => buildPath(route, params), { name: 'TypeError', message: new RegExp(`"${missing}"`) }, `${route} without ${missing}`)
  }
  t.throws(() => buildPath('manifest'), TypeError, 'no params at all')
  // params a route does not use are ignored
  t.equal(buildPath('catalog', { name: 'a', digest: SHA256 }), '/v2/_catalog')
  t.equal(buildPath('tags', { name: 'a', reference: 'x' }), '/v2/a/tags/list')
})

t.test('buildPath: encoding of reserved characters', async (t) => {
  t.equal(buildPath('manifest', { name: 'a', reference: 'x/y' }), '/v2/a/manifests/x%2Fy', 'slash in a one-segment param')
  t.equal(buildPath('manifest', { name: 'a', reference: 'x?y#z' }), '/v2/a/manifests/x%3Fy%23z')
  t.equal(buildPath('manifest', { name: 'a', reference: 'a b' }), '/v2/a/manifests/a%20b')
  t.equal(buildPath('manifest', { name: 'a', reference: '%' }), '/v2/a/manifests/%25')
  t.equal(buildPath('manifest', { name: 'a', reference: 'ä' }), '/v2/a/manifests/%C3%A4')
  t.equal(buildPath('blob-upload-chunk', { name: 'a', uuid: 'u/../v' }), '/v2/a/blobs/uploads/u%2F..%2Fv')
  t.equal(buildPath('blob', { name: 'a', digest: 'sha256+b64u:AbC-_=' }), '/v2/a/blobs/sha256%2Bb64u:AbC-_%3D')
  t.equal(buildPath('tags', { name: 'a b/c?d' }), '/v2/a%20b/c%3Fd/tags/list', 'each name component encoded, slashes kept')
  t.equal(buildPath('tags', { name: 'a#/b%' }), '/v2/a%23/b%25/tags/list')
  t.equal(buildPath('tags', { name: 'a:b' }), '/v2/a:b/tags/list')
})

t.test('buildPath: query', async (t) => {
  t.equal(buildPath('tags', { name: 'a' }, { n: 10 }), '/v2/a/tags/list?n=10', 'numbers')
  t.equal(buildPath('tags', { name: 'a' }, { n: 0 }), '/v2/a/tags/list?n=0', 'zero is not skipped')
  t.equal(buildPath('tags', { name: 'a' }, { n: 2, last: 'v1' }), '/v2/a/tags/list?n=2&last=v1', 'insertion order')
  t.equal(buildPath('tags', { name: 'a' }, { n: undefined, last: 'v1' }), '/v2/a/tags/list?last=v1', 'undefined skipped')
  t.equal(buildPath('tags', { name: 'a' }, { n: undefined }), '/v2/a/tags/list', 'only undefined -> no ?')
  t.equal(buildPath('tags', { name: 'a' }, {}), '/v2/a/tags/list', 'empty query -> no ?')
  t.equal(buildPath('tags', { name: 'a' }, { last: '' }), '/v2/a/tags/list?last=', 'empty string is kept')
  t.equal(buildPath('referrers', { name: 'a', digest: SHA256 }, { artifactType: ['x', 'y'] }),
    `/v2/a/referrers/${SHA256}?artifactType=x&artifactType=y`, 'repeated keys')
  t.equal(buildPath('catalog', {}, { k: [] }), '/v2/_catalog', 'empty array -> nothing')
  const withDigest = buildPath('blob-upload-chunk', { name: 'a', uuid: UUID }, { digest: SHA256, _state: 'ab+/=&c' })
  const url = new URL(withDigest, 'http://x')
  t.equal(url.pathname, `/v2/a/blobs/uploads/${UUID}`)
  t.equal(url.searchParams.get('digest'), SHA256, 'digest value round-trips')
  t.equal(url.searchParams.get('_state'), 'ab+/=&c', 'reserved characters round-trip')
  t.notMatch(withDigest.split('?')[1], /[+/=&]c$/, 'the raw value is not pasted in')
  t.equal(buildPath('catalog', {}, { last: 'a b&c=d#e' }), '/v2/_catalog?last=a+b%26c%3Dd%23e')
  t.equal(buildPath('blob-upload', { name: 'a' }, { mount: SHA256, from: 'b/c' }), `/v2/a/blobs/uploads/?mount=${SHA256.replace(':', '%3A')}&from=b%2Fc`)
})

t.test('buildPath and matchRoute agree (property)', async (t) => {
  const component = fc.stringMatching(/^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/)
  const name = fc.array(component, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/'))
  const segment = fc.string({ minLength: 1, maxLength: 30 })
  fc.assert(fc.property(name, segment, (n, reference) => {
    const path = buildPath('manifest', { name: n, reference })
    const match = matchRoute(path.slice('/v2/'.length))
    return match?.route.name === 'manifest' && match.params.name === n && match.params.reference === reference
  }))
  fc.assert(fc.property(name, segment, (n, uuid) => {
    const match = matchRoute(buildPath('blob-upload-chunk', { name: n, uuid }).slice(4))
    return match?.route.name === 'blob-upload-chunk' && match.params.name === n && match.params.uuid === uuid
  }))
  for (const routeName of ['base', 'catalog', 'tags', 'blob', 'blob-upload', 'referrers'] as RouteName[]) {
    const match = matchRoute(buildPath(routeName, { name: 'a/b', digest: SHA256 }).slice(4))
    t.equal(match?.route.name, routeName, `${routeName} round-trips`)
  }
})

t.test('baseURL: relative and configured host', async (t) => {
  const hostile = origin({ 'x-forwarded-host': 'evil.example', forwarded: 'host=evil.example;proto=https' }, 'https', 'req.example')
  t.equal(baseURL(hostile, { relative: true }), '', 'relative: no scheme or host')
  t.equal(baseURL(hostile, { relative: true, prefix: '/registry' }), '/registry', 'relative: prefix only')
  t.equal(baseURL(hostile, { relative: true, prefix: '/registry//' }), '/registry', 'relative: prefix trailing slashes trimmed')
  t.equal(baseURL(hostile, { relative: true, host: 'https://reg.example' }), '', 'relative wins over host')
  t.equal(baseURL(undefined), '', 'no origin and no host -> relative')
  t.equal(baseURL(undefined, { prefix: '/p' }), '/p')
  t.equal(baseURL(hostile, { host: 'https://reg.example' }), 'https://reg.example', 'configured host wins over every header')
  t.equal(baseURL(hostile, { host: 'https://reg.example/' }), 'https://reg.example', 'trailing slash trimmed')
  t.equal(baseURL(hostile, { host: 'https://reg.example///' }), 'https://reg.example', 'trailing slashes trimmed')
  t.equal(baseURL(hostile, { host: 'https://reg.example:8443/', prefix: '/registry/' }), 'https://reg.example:8443/registry', 'prefix applied')
  t.equal(baseURL(undefined, { host: 'http://reg.example' }), 'http://reg.example', 'host works without an origin')
  t.equal(baseURL(hostile, { relative: false, host: 'http://h' }), 'http://h', 'relative: false is not relative')
})

t.test('baseURL: the request itself', async (t) => {
  t.equal(baseURL(origin({}, 'http', 'req.example:5000')), 'http://req.example:5000')
  t.equal(baseURL(origin({}, 'https', 'req.example')), 'https://req.example')
  t.equal(baseURL(origin({}, 'HTTPS', 'req.example')), 'https://req.example', 'protocol lowercased')
  t.equal(baseURL(origin({}, 'https', 'req.example'), { prefix: '/r' }), 'https://req.example/r', 'prefix applied')
  t.equal(baseURL(origin({}, 'https', '[::1]:5000')), 'https://[::1]:5000', 'IPv6 literal host')
  t.equal(baseURL(origin({}, 'gopher', 'req.example')), 'http://req.example', 'bogus request protocol -> http')
})

t.test('baseURL: RFC 7239 Forwarded', async (t) => {
  const req = (forwarded: string | string[], protocol = 'http'): string => baseURL(origin({ forwarded }, protocol, 'internal:5000'))
  t.equal(req('for=1.2.3.4;proto=https;host=reg.example'), 'https://reg.example')
  t.equal(req('for=1.2.3.4; proto=https; host=reg.example'), 'https://reg.example', 'spaces after ;')
  t.equal(req('For=1.2.3.4;Proto=HTTPS;Host=reg.example'), 'https://reg.example', 'case-insensitive keys and proto')
  t.equal(req('for="1.2.3.4";proto="https";host="reg.example:8443"'), 'https://reg.example:8443', 'quoted values')
  t.equal(req('for="[2001:db8::1]:4711";proto=https;host="[2001:db8::2]:443"'), 'https://[2001:db8::2]:443', 'quoted IPv6 host')
  t.equal(req('proto=https;host=first.example, proto=http;host=second.example'), 'https://first.example', 'first element wins')
  t.equal(req(['proto=https;host=first.example', 'proto=http;host=second.example']), 'https://first.example', 'first header wins')
  t.equal(req('host=reg.example'), 'http://reg.example', 'host only: protocol from the request')
  t.equal(req('host=reg.example', 'https'), 'https://reg.example', 'host only: https request')
  t.equal(req('proto=https'), 'https://internal:5000', 'proto only: host from the request')
  t.equal(req('proto=ftp;host=reg.example', 'https'), 'https://reg.example', 'a bogus Forwarded proto is ignored')
  t.equal(req('host=;proto=https'), 'https://internal:5000', 'empty host ignored')
  t.equal(req('for=1.2.3.4'), 'http://internal:5000', 'nothing useful')
  t.equal(req(''), 'http://internal:5000', 'empty header')
  t.equal(baseURL(origin({ forwarded: 'proto=https;host=reg.example' }), { prefix: '/r' }), 'https://reg.example/r', 'prefix applied')
  // Forwarded wins over X-Forwarded-*
  t.equal(baseURL(origin({
    forwarded: 'proto=https;host=fwd.example',
    'x-forwarded-proto': 'http',
    'x-forwarded-host': 'xfh.example'
  })), 'https://fwd.example', 'Forwarded wins')
})

t.test('baseURL: X-Forwarded-Proto and X-Forwarded-Host', async (t) => {
  t.equal(baseURL(origin({ 'x-forwarded-proto': 'https', 'x-forwarded-host': 'reg.example' })), 'https://reg.example')
  t.equal(baseURL(origin({ 'x-forwarded-proto': 'HTTPS', 'x-forwarded-host': 'reg.example:8443' })), 'https://reg.example:8443')
  t.equal(baseURL(origin({ 'x-forwarded-proto': 'https, http', 'x-forwarded-host': 'a.example, b.example' })), 'https://a.example', 'comma lists: first wins')
  t.equal(baseURL(origin({ 'x-forwarded-proto': ' https ,http', 'x-forwarded-host': ' a.example ,b.example' })), 'https://a.example', 'whitespace trimmed')
  t.equal(baseURL(origin({ 'x-forwarded-proto': ['https', 'http'], 'x-forwarded-host': ['a.example', 'b.example'] })), 'https://a.example', 'arrays: first wins')
  t.equal(baseURL(origin({ 'x-forwarded-proto': 'https' }, 'http', 'req.example')), 'https://req.example', 'proto only')
  t.equal(baseURL(origin({ 'x-forwarded-host': 'reg.example' }, 'https', 'req.example')), 'https://reg.example', 'host only')
  t.equal(baseURL(origin({ 'x-forwarded-proto': '', 'x-forwarded-host': '' }, 'https', 'req.example')), 'https://req.example', 'empty values ignored')
  t.equal(baseURL(origin({ 'x-forwarded-proto': ', https', 'x-forwarded-host': ', a.example' }, 'https', 'req.example')), 'https://req.example', 'empty first element ignored')
  t.equal(baseURL(origin({ 'x-forwarded-host': 'reg.example' }), { prefix: '/r' }), 'http://reg.example/r', 'prefix applied')
})

t.test('baseURL: bogus proto falls back to http', async (t) => {
  for (const proto of ['ftp', 'javascript', 'https:', 'https://evil', 'http s', 'ws', 'httpss']) {
    t.equal(baseURL(origin({ 'x-forwarded-proto': proto }, 'https', 'req.example')), 'http://req.example', `X-Forwarded-Proto ${JSON.stringify(proto)}`)
  }
})

t.test('baseURL: a hostile forwarded host is not used', async (t) => {
  const hostile = [
    'evil.example/path',
    'user@evil.example',
    'evil.example@good.example',
    'evil example',
    'evil.example\r\nX-Injected: 1',
    'evil.example\nx',
    'evil\u0000.example',
    'evil.example:port',
    'evil.example:123456',
    'evil.example?x',
    'evil.example#x',
    'evil.example\\x',
    'évil.example',
    '<script>',
    '[::1',
    '"quoted"'
  ]
  for (const host of hostile) {
    t.equal(baseURL(origin({ 'x-forwarded-host': host }, 'https', 'req.example')), 'https://req.example', `X-Forwarded-Host ${JSON.stringify(host)}`)
    t.equal(baseURL(origin({ forwarded: `proto=https;host="${host}"` }, 'http', 'req.example')), 'https://req.example', `Forwarded host ${JSON.stringify(host)}`)
  }
  // a hostile host inside a list: the first element (clean) is used, the rest never
  t.equal(baseURL(origin({ 'x-forwarded-host': 'good.example, evil.example/x' })), 'http://good.example')
})

t.test('UrlBuilder', async (t) => {
  const builder = new UrlBuilder(origin({ forwarded: 'proto=https;host=reg.example' }), { prefix: '/registry' })
  t.equal(builder.base, 'https://reg.example/registry')
  t.equal(builder.build('base'), 'https://reg.example/registry/v2/')
  t.equal(builder.build('blob-upload-chunk', { name: 'a/b', uuid: UUID }, { _state: 'x', digest: undefined }),
    `https://reg.example/registry/v2/a/b/blobs/uploads/${UUID}?_state=x`)
  t.equal(builder.build('tags', { name: 'a' }, { n: 1, last: 'b' }), 'https://reg.example/registry/v2/a/tags/list?n=1&last=b')
  t.throws(() => builder.build('blob', { name: 'a' }), TypeError)

  const relative = new UrlBuilder(origin({}, 'https', 'req.example'), { relative: true })
  t.equal(relative.base, '')
  t.equal(relative.build('blob', { name: 'a', digest: SHA256 }), `/v2/a/blobs/${SHA256}`)

  const none = new UrlBuilder()
  t.equal(none.build('catalog'), '/v2/_catalog', 'no origin, no options: relative')

  const configured = new UrlBuilder(origin({ 'x-forwarded-host': 'other.example' }), { host: 'https://reg.example/' })
  t.equal(configured.build('manifest', { name: 'a', reference: 'latest' }), 'https://reg.example/v2/a/manifests/latest')
})
