import { pageOf, pageRequest } from '../lib/http/pagination.js'
import { queryValue } from '../lib/http/request-values.js'
import { referrerDescriptor } from '../lib/manifest/referrers.js'
import { OCI_IMAGE_INDEX } from '../lib/manifest/media-types.js'
import type { Descriptor } from '../lib/manifest/parse.js'
import { mapBounded } from '../lib/storage-concurrency.js'
import type { RouteHandler } from './handler.js'

/** Referrers' manifests read per round of the walk, a bounded number at once. */
const READ_BATCH = 64

/** The first index in `sorted` whose entry is after `last`. */
function firstAfter (sorted: Array<{ digest: string }>, last: string): number {
  let low = 0
  let high = sorted.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if (sorted[middle].digest <= last) low = middle + 1
    else high = middle
  }
  return low
}

/**
 * `GET /v2/<name>/referrers/<digest>`: always 200 with an OCI index of the
 * manifests whose subject is the digest, filtered by `artifactType`.
 *
 * A sorted walk that stops: the index's digests after `last` are read in
 * order, a batch at a time, until the page (and one more, which says a next
 * page exists) is full, so memory and reads follow the page, not the subject's referrers.
 */
export const listReferrers: RouteHandler = async (request, reply, context, app) => {
  const name = context.repository
  const subject = context.digest!
  const artifactType = queryValue(request, 'artifactType')
  const max = app.limits.tagsPageSize
  const page = pageRequest(request, max)
  const size = page.n ?? max
  const digests = await app.referrers.list(name, subject)
  const following: Descriptor[] = []
  for (let index = page.last === undefined ? 0 : firstAfter(digests, page.last); index < digests.length && following.length <= size;) {
    const batch = digests.slice(index, index + READ_BATCH)
    index += batch.length
    const manifests = await mapBounded(batch, async (digest) => await app.manifests.get(name, digest))
    for (const [at, manifest] of manifests.entries()) {
      if (manifest === undefined) continue
      const descriptor = referrerDescriptor(manifest.parsed, batch[at].digest, manifest.content.length)
      if (artifactType === undefined || descriptor.artifactType === artifactType) following.push(descriptor)
    }
  }
  const { entries, next } = pageOf(following, size)
  if (artifactType !== undefined) reply.header('OCI-Filters-Applied', 'artifactType')
  if (next !== undefined) {
    reply.header('Link', `<${context.urls.relative('referrers', { name, digest: subject.digest }, { n: page.n ?? max, last: next.digest, artifactType })}>; rel="next"`)
  }
  // Serialised to bytes here so the media type goes out as the spec names it, without a charset.
  return await reply.header('Content-Type', OCI_IMAGE_INDEX).send(Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_IMAGE_INDEX,
    manifests: entries
  })))
}
