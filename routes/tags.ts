import { RegistryError } from '../errors/index.js'
import { pageOf, pageRequest } from '../lib/http/pagination.js'
import type { RouteHandler } from './handler.js'

/**
 * `GET /v2/<name>/tags/list`: the tags in lexical order, paginated with `n`, `last` and `Link`.
 * A page may hold fewer than `n` when half-written tags are left out; `Link` still follows the directory.
 *
 * A page costs one read of the tags directory (names only, cut to the `n + 1` after `last`)
 * and one bounded fan-out of reads over the page's own tags, never over the repository's.
 */
export const listTags: RouteHandler = async (request, reply, context, app) => {
  const name = context.repository
  const page = pageRequest(request, app.limits.tagsPageSize)
  // One more than asked for: it says whether a next page exists.
  const following = await app.tags.listAfter(name, page.last, page.n === undefined ? Infinity : page.n + 1)
  if (following.length === 0 && !await app.repositories.exists(name)) {
    throw new RegistryError('NAME_UNKNOWN', { detail: { name } })
  }
  const { entries, next } = page.n === undefined ? { entries: following, next: undefined } : pageOf(following, page.n)
  if (next !== undefined) {
    reply.header('Link', `<${context.urls.relative('tags', { name }, { n: page.n, last: next })}>; rel="next"`)
  }
  return await reply.type('application/json').send({ name, tags: await app.tags.complete(name, entries) })
}
