import { pageOf, pageRequest } from '../lib/http/pagination.js'
import type { RouteHandler } from './handler.js'

/** `GET /v2/_catalog`: repository names in lexical order, at most `catalogPageSize` a page. */
export const listCatalog: RouteHandler = async (request, reply, context, app) => {
  const max = app.limits.catalogPageSize
  const page = pageRequest(request, max)
  const size = page.n ?? max
  // Reads only the page and one name past it, which says whether a next page exists.
  const { entries, next } = pageOf(await app.repositories.list(page.last, size + 1), size)
  if (next !== undefined) {
    reply.header('Link', `<${context.urls.relative('catalog', {}, { n: page.n ?? max, last: next })}>; rel="next"`)
  }
  return await reply.type('application/json').send({ repositories: entries })
}
