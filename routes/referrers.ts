import { pageRequest, paginate } from '../lib/http/pagination.js'
import { queryValue } from '../lib/http/request-values.js'
import { referrerDescriptor } from '../lib/manifest/referrers.js'
import { OCI_IMAGE_INDEX } from '../lib/manifest/media-types.js'
import type { Descriptor } from '../lib/manifest/parse.js'
import type { RouteHandler } from './handler.js'

/**
 * `GET /v2/<name>/referrers/<digest>`: always 200 with an OCI index of the
 * manifests whose subject is the digest, filtered by `artifactType`.
 */
export const listReferrers: RouteHandler = async (request, reply, context, app) => {
  const name = context.repository
  const subject = context.digest!
  const artifactType = queryValue(request, 'artifactType')
  const max = app.limits.tagsPageSize
  const page = pageRequest(request, max)
  const descriptors: Descriptor[] = []
  for (const digest of await app.referrers.list(name, subject)) {
    const manifest = await app.manifests.get(name, digest)
    if (manifest === undefined) continue
    const descriptor = referrerDescriptor(manifest.parsed, digest.digest, manifest.content.length)
    if (artifactType === undefined || descriptor.artifactType === artifactType) descriptors.push(descriptor)
  }
  const byDigest = new Map(descriptors.map((descriptor) => [descriptor.digest, descriptor]))
  const { entries, next } = paginate([...byDigest.keys()], page, max)
  if (artifactType !== undefined) reply.header('OCI-Filters-Applied', 'artifactType')
  if (next !== undefined) {
    reply.header('Link', `<${context.urls.relative('referrers', { name, digest: subject.digest }, { n: page.n ?? max, last: next, artifactType })}>; rel="next"`)
  }
  // Serialised to bytes here so the media type goes out as the spec names it, without a charset.
  return await reply.header('Content-Type', OCI_IMAGE_INDEX).send(Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_IMAGE_INDEX,
    manifests: entries.map((digest) => byDigest.get(digest))
  })))
}
