import { RegistryError } from '../errors/index.js'
import { etagMatches } from '../lib/http/conditional.js'
import { parseRange } from '../lib/http/ranges.js'
import { headerValue } from '../lib/http/request-values.js'
import { sendFile } from '../lib/http/send-file.js'
import { guardStall, type Stall } from '../lib/http/stall-guard.js'
import type { RouteHandler } from './handler.js'

/** `GET`/`HEAD /v2/<name>/blobs/<digest>`: the blob, whole or one byte range. */
export const getBlob: RouteHandler = async (request, reply, context, app) => {
  const digest = context.digest!
  const blob = await app.blobs.statInRepository(context.repository, digest)
  if (blob === undefined) throw new RegistryError('BLOB_UNKNOWN', { detail: { digest: digest.digest } })
  const etag = `"${digest.digest}"`
  reply.header('Docker-Content-Digest', digest.digest).header('ETag', etag)
  if (etagMatches(headerValue(request, 'if-none-match'), etag)) return await reply.code(304).send()
  if (request.method === 'GET' && app.redirects) {
    // The signed URL expires (20 minutes on S3): the redirect itself must not be cached. A Range header travels with the client.
    const location = await app.blobs.redirectURL(digest)
    if (location !== undefined) return await reply.code(307).headers({ Location: location, 'Cache-Control': 'no-store', 'Content-Length': 0 }).send()
  }
  // Content addressed: the bytes behind this URL never change.
  reply.header('Accept-Ranges', 'bytes').header('Cache-Control', 'max-age=31536000')
  reply.type('application/octet-stream')
  const range = parseRange(headerValue(request, 'range'), blob.size)
  const start = range?.start ?? 0
  const length = range === undefined ? blob.size : range.end - range.start + 1
  reply.header('Content-Length', length)
  if (range !== undefined) reply.code(206).header('Content-Range', `bytes ${range.start}-${range.end}/${blob.size}`)
  if (request.method === 'HEAD') return await reply.send()
  const idleTimeout = app.limits.bodyIdleTimeout
  const onStall = (stall: Stall): void => {
    context.log.warn({ digest: digest.digest, idleMs: stall.idleMs, bytesWritten: stall.bytesWritten }, 'download stalled: the client took nothing for the body idle timeout; closing the connection')
  }
  const file = length > 0 ? await app.blobs.open(digest) : undefined
  if (file === undefined) {
    // Fastify pipes the stream with backpressure; a client that takes nothing is cut as sendFile cuts it.
    const stream = await app.blobs.reader(digest, start, length)
    if (length > 0) guardStall(reply.raw, idleTimeout, onStall)
    return await reply.send(stream)
  }
  await sendFile(reply, file, start, length, { idleTimeout, onStall })
  return reply
}

/** `DELETE /v2/<name>/blobs/<digest>`: unlinks the blob from the repository. */
export const deleteBlob: RouteHandler = async (_request, reply, context, app) => {
  if (!app.deleteEnabled) throw new RegistryError('UNSUPPORTED', { message: 'deletion is disabled' })
  const digest = context.digest!
  if (!await app.blobs.unlink(context.repository, digest)) throw new RegistryError('BLOB_UNKNOWN', { detail: { digest: digest.digest } })
  return await reply.code(202).header('Docker-Content-Digest', digest.digest).header('Content-Length', 0).send()
}
