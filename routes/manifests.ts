import { RegistryError } from '../errors/index.js'
import type { ParsedDigest } from '../lib/digest.js'
import { isValidTag } from '../lib/reference.js'
import { etagMatches } from '../lib/http/conditional.js'
import { readLimitedBody } from '../lib/http/read-body.js'
import { headerValue, queryValues } from '../lib/http/request-values.js'
import type { App } from '../lib/app.js'
import type { Context } from '../lib/context.js'
import type { RouteHandler } from './handler.js'

/** The manifest digest a request names, by digest or through its tag; MANIFEST_UNKNOWN / NAME_UNKNOWN otherwise. */
async function resolveReference (context: Context, app: App): Promise<ParsedDigest> {
  const name = context.repository
  if (context.digest === undefined && context.tag === undefined) throw await unknownManifest(context, app)
  const digest = context.digest ?? await app.tags.resolve(name, context.tag!)
  if (digest === undefined) throw await unknownManifest(context, app)
  return digest
}

async function unknownManifest (context: Context, app: App): Promise<RegistryError> {
  if (!await app.repositories.exists(context.repository)) return new RegistryError('NAME_UNKNOWN', { detail: { name: context.repository } })
  if (context.digest === undefined && context.tag === undefined) {
    return new RegistryError('MANIFEST_UNKNOWN', { detail: { reference: context.reference?.slice(0, 300), reason: 'the reference is neither a valid tag nor a digest' } })
  }
  return new RegistryError('MANIFEST_UNKNOWN', { detail: { reference: context.reference } })
}

/** `GET`/`HEAD /v2/<name>/manifests/<reference>`: the exact bytes that were pushed. */
export const getManifest: RouteHandler = async (request, reply, context, app) => {
  const digest = await resolveReference(context, app)
  const manifest = await app.manifests.get(context.repository, digest)
  if (manifest === undefined) throw await unknownManifest(context, app)
  const etag = `"${digest.digest}"`
  reply.headers({
    'Content-Type': manifest.parsed.mediaType,
    'Docker-Content-Digest': digest.digest,
    ETag: etag,
    'Content-Length': manifest.content.length
  })
  if (etagMatches(headerValue(request, 'if-none-match'), etag)) {
    reply.removeHeader('Content-Length')
    return await reply.code(304).send()
  }
  if (request.method === 'HEAD') return await reply.send()
  return await reply.send(manifest.content)
}

/** `PUT /v2/<name>/manifests/<reference>`: validate, store, tag. */
export const putManifest: RouteHandler = async (request, reply, context, app) => {
  const name = context.repository
  const extraTags = queryValues(request, 'tag')
  for (const tag of extraTags) {
    if (!isValidTag(tag)) throw new RegistryError('TAG_INVALID', { message: 'invalid tag in the tag query parameter', detail: { tag: tag.slice(0, 300) } })
  }
  const tags = [...new Set([...(context.tag === undefined ? [] : [context.tag]), ...extraTags])]
  const content = await readLimitedBody(request, app.limits.manifestBodySize, app.limits)
  const stored = await app.manifests.put(name, content, context.contentType, { digest: context.digest, tags })
  reply.code(201).headers({
    Location: context.urls.build('manifest', { name, reference: stored.digest.digest }),
    'Docker-Content-Digest': stored.digest.digest,
    'Content-Length': 0
  })
  if (stored.parsed.subject !== undefined) reply.header('OCI-Subject', stored.parsed.subject.digest)
  if (extraTags.length > 0) reply.header('OCI-Tag', tags)
  return await reply.send()
}

/** `DELETE /v2/<name>/manifests/<reference>`: by digest removes the manifest and its tags; by tag only the tag. */
export const deleteManifest: RouteHandler = async (_request, reply, context, app) => {
  if (!app.deleteEnabled) throw new RegistryError('UNSUPPORTED', { message: 'deletion is disabled' })
  const name = context.repository
  if (context.digest === undefined && context.tag === undefined) throw await unknownManifest(context, app)
  const removed = context.tag !== undefined
    ? await app.manifests.untag(name, context.tag)
    : await app.manifests.delete(name, context.digest!)
  if (!removed) throw await unknownManifest(context, app)
  return await reply.code(202).header('Content-Length', 0).send()
}
