import { RegistryError } from '../errors/index.js'
import { pageRequest, paginate } from '../lib/http/pagination.js'
import type { RouteHandler } from './handler.js'

/**
 * `GET /v2/<name>/tags/list`: the tags in lexical order, paginated with `n`, `last` and `Link`.
 * A page may hold fewer than `n` when half-written tags are left out; `Link` still follows the directory.
 */
export const listTags: RouteHandler = async (request, reply, context, app) => {
  const name = context.repository
  const page = pageRequest(request, app.limits.tagsPageSize)
  const tags = await app.tags.list(name)
  if (tags.length === 0 && !await app.repositories.exists(name)) {
    throw new RegistryError('NAME_UNKNOWN', { detail: { name } })
  }
  const { entries, next } = paginate(tags, page, undefined)
  if (next !== undefined) {
    reply.header('Link', `<${context.urls.relative('tags', { name }, { n: page.n, last: next })}>; rel="next"`)
  }
  return await reply.type('application/json').send({ name, tags: await app.tags.complete(name, entries) })
}
