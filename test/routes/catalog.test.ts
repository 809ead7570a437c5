import t from 'tap'
import { buildRegistry, errorCode, pushBlob } from '../helpers/registry.js'
import { pushImage } from '../helpers/images.js'

t.test('catalog: lexical, paginated, bounded', async (t) => {
  const app = await buildRegistry({ limits: { catalogPageSize: 4 } })
  t.teardown(async () => await app.close())
  const names = ['b', 'a/b', 'a-c', 'a', 'library/alpine', 'library/alpine/nested', 'z']
  for (const name of names) await pushBlob(app, name, Buffer.from(name))
  await pushImage(app, 'm', 'v1')
  const sorted = [...names, 'm'].sort()

  const first = await app.inject({ method: 'GET', url: '/v2/_catalog' })
  t.equal(first.statusCode, 200)
  t.same(first.json(), { repositories: sorted.slice(0, 4) }, 'without n, a page of the maximum size')
  t.match(first.headers.link, new RegExp(`</v2/_catalog\\?n=4&last=${encodeURIComponent(sorted[3]).replace(/%/g, '%')}>; rel="next"`))

  const second = await app.inject({ method: 'GET', url: `/v2/_catalog?n=4&last=${encodeURIComponent(sorted[3])}` })
  t.same(second.json().repositories, sorted.slice(4, 8))
  const rest = await app.inject({ method: 'GET', url: `/v2/_catalog?n=4&last=${encodeURIComponent(sorted[7])}` })
  t.same(rest.json().repositories, sorted.slice(8))
  t.equal(rest.headers.link, undefined)

  t.same((await app.inject({ method: 'GET', url: '/v2/_catalog?n=0' })).json(), { repositories: [] })
  const tooMany = await app.inject({ method: 'GET', url: '/v2/_catalog?n=5' })
  t.equal(tooMany.statusCode, 400)
  t.equal(errorCode(tooMany.body), 'PAGINATION_NUMBER_INVALID')
})

t.test('an empty registry has an empty catalog', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  const response = await app.inject({ method: 'GET', url: '/v2/_catalog' })
  t.equal(response.statusCode, 200)
  t.same(response.json(), { repositories: [] })
})

t.test('upload-only repositories are not listed', async (t) => {
  const app = await buildRegistry()
  t.teardown(async () => await app.close())
  await app.inject({ method: 'POST', url: '/v2/pending/blobs/uploads/' })
  t.same((await app.inject({ method: 'GET', url: '/v2/_catalog' })).json(), { repositories: [] })
})
