import t from 'tap'
import { buildRegistry, errorCode } from '../helpers/registry.js'
import { imageManifest, putManifest } from '../helpers/images.js'

t.test('tags list: lexical order, n, last, Link', async (t) => {
  const app = await buildRegistry({ limits: { tagsPageSize: 50 } })
  t.teardown(async () => await app.close())
  const manifest = await imageManifest(app, 'r')
  const tags = ['v10', 'v2', 'latest', 'A', 'a', '_x', 'v1.0', 'v1-0']
  for (const tag of tags) t.equal((await putManifest(app, 'r', tag, manifest)).statusCode, 201)
  const sorted = [...tags].sort()

  const all = await app.inject({ method: 'GET', url: '/v2/r/tags/list' })
  t.equal(all.statusCode, 200)
  t.same(all.json(), { name: 'r', tags: sorted })
  t.equal(all.headers.link, undefined)

  const first = await app.inject({ method: 'GET', url: '/v2/r/tags/list?n=3' })
  t.same(first.json().tags, sorted.slice(0, 3))
  t.match(first.headers.link, new RegExp(`</v2/r/tags/list\\?n=3&last=${sorted[2]}>; rel="next"`))

  const afterLast = await app.inject({ method: 'GET', url: `/v2/r/tags/list?n=3&last=${sorted[2]}` })
  t.same(afterLast.json().tags, sorted.slice(3, 6))

  const lastOnly = await app.inject({ method: 'GET', url: `/v2/r/tags/list?last=${sorted[5]}` })
  t.same(lastOnly.json().tags, sorted.slice(6), 'last is exclusive')

  const between = await app.inject({ method: 'GET', url: '/v2/r/tags/list?last=b' })
  t.same(between.json().tags, sorted.filter((tag) => tag > 'b'), 'last need not be an existing tag')

  const tail = await app.inject({ method: 'GET', url: `/v2/r/tags/list?n=3&last=${sorted[4]}` })
  t.same(tail.json().tags, sorted.slice(5, 8))
  t.equal(tail.headers.link, undefined, 'no Link on the last page')

  const zero = await app.inject({ method: 'GET', url: '/v2/r/tags/list?n=0' })
  t.same(zero.json(), { name: 'r', tags: [] })

  for (const n of ['-1', 'abc', '1.5', '51']) {
    const bad = await app.inject({ method: 'GET', url: `/v2/r/tags/list?n=${n}` })
    t.equal(bad.statusCode, 400, n)
    t.equal(errorCode(bad.body), 'PAGINATION_NUMBER_INVALID', n)
  }
})

t.test('tags of an unknown repository: NAME_UNKNOWN', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const response = await app.inject({ method: 'GET', url: '/v2/nothing/here/tags/list' })
  t.equal(response.statusCode, 404)
  t.equal(errorCode(response.body), 'NAME_UNKNOWN')
  await imageManifest(app, 'blobs-only')
  const noTags = await app.inject({ method: 'GET', url: '/v2/blobs-only/tags/list' })
  t.equal(noTags.statusCode, 200)
  t.same(noTags.json(), { name: 'blobs-only', tags: [] })
})
