import { timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { RegistryError } from '../errors/index.js'
import { parseDigest, type ParsedDigest } from '../lib/digest.js'
import { isValidName } from '../lib/reference.js'
import { parseContentRange } from '../lib/http/ranges.js'
import { bodyStream, contentLength, hasBody, headerValue, queryValue } from '../lib/http/request-values.js'
import { rangeHeader, type ChunkOptions, type CommittedBlob, type UploadStatus } from '../lib/store/uploads.js'
import type { App } from '../lib/app.js'
import type { Context } from '../lib/context.js'
import type { RouteHandler } from './handler.js'

function requireDigest (value: string | undefined): ParsedDigest {
  const digest = value === undefined ? undefined : parseDigest(value)
  if (digest === undefined) {
    throw new RegistryError('DIGEST_INVALID', { message: value === undefined ? 'the digest query parameter is required' : `unsupported or malformed digest: ${value}` })
  }
  return digest
}

async function answerCreated (reply: FastifyReply, context: Context, digest: ParsedDigest): Promise<FastifyReply> {
  return await reply.code(201).headers({
    Location: context.urls.build('blob', { name: context.repository, digest: digest.digest }),
    'Docker-Content-Digest': digest.digest,
    'Content-Length': 0
  }).send()
}

/** 202 or 204 with the upload's Location (carrying fresh `_state`), Range and id. */
async function answerProgress (reply: FastifyReply, context: Context, app: App, upload: UploadStatus, status: 202 | 204): Promise<FastifyReply> {
  const state = await app.uploadState.pack({ name: upload.name, uuid: upload.uuid, offset: upload.size, startedAt: upload.startedAt })
  return await reply.code(status).headers({
    Location: context.urls.build('blob-upload-chunk', { name: upload.name, uuid: upload.uuid }, { _state: state }),
    Range: rangeHeader(upload.size),
    'Docker-Upload-UUID': upload.uuid,
    'Content-Length': 0
  }).send()
}

function sameString (a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8')
  const right = Buffer.from(b, 'utf8')
  return left.length === right.length && timingSafeEqual(left, right)
}

/**
 * Verifies the `_state` token when the client sent one: it must be ours and
 * name this repository and upload. Resolves with the size it claims. A
 * request without one is served from what storage holds.
 */
async function verifiedState (request: FastifyRequest, context: Context, app: App): Promise<number | undefined> {
  const token = queryValue(request, '_state')
  if (token === undefined) return undefined
  let state
  try {
    state = await app.uploadState.unpack(token)
  } catch (error) {
    // A provider that cannot answer (Redis down: UNAVAILABLE) says so; anything else is a bad token.
    if (error instanceof RegistryError) throw error
    throw new RegistryError('BLOB_UPLOAD_INVALID', { message: 'upload state is invalid' })
  }
  if (!sameString(state.name, context.repository) || !sameString(state.uuid, context.uuid!)) {
    throw new RegistryError('BLOB_UPLOAD_INVALID', { message: 'upload state belongs to another upload' })
  }
  return state.offset
}

/** Chunk position and length from Content-Range and Content-Length, checked against each other. */
function chunkOptions (request: FastifyRequest, app: App, expectedSize: number | undefined): ChunkOptions {
  let length = contentLength(request)
  let start: number | undefined
  const header = headerValue(request, 'content-range')
  if (header !== undefined) {
    const range = parseContentRange(header)
    const rangeLength = range.end - range.start + 1
    if (length !== undefined && length !== rangeLength) {
      throw new RegistryError('SIZE_INVALID', { message: `Content-Length ${length} disagrees with Content-Range ${header}` })
    }
    start = range.start
    length = rangeLength
  }
  return { start, length, limit: app.limits.blobBodySize, expectedSize }
}

/** A commit that found a corrupt copy of its blob in place and replaced it: worth an operator's look. */
function logReplaced (context: Context, committed: CommittedBlob): void {
  if (committed.replaced === undefined) return
  context.log.warn({ digest: committed.digest, size: committed.size, found: committed.replaced }, 'blob in storage did not match its digest; replaced by the verified upload')
}

/** `POST /v2/<name>/blobs/uploads/`: a mount, a monolithic upload, or a new upload session. */
export const startUpload: RouteHandler = async (request, reply, context, app) => {
  const name = context.repository
  const mount = queryValue(request, 'mount')
  if (mount !== undefined) {
    const digest = requireDigest(mount)
    const from = queryValue(request, 'from')
    if (from !== undefined && isValidName(from) && await app.blobs.statInRepository(from, digest) !== undefined) {
      await app.blobs.link(name, digest)
      context.log.debug({ digest: digest.digest, from }, 'blob mounted')
      return await answerCreated(reply, context, digest)
    }
  }
  const digestValue = queryValue(request, 'digest')
  if (digestValue !== undefined) {
    const digest = requireDigest(digestValue)
    await app.uploadSlots.run(async () => {
      const upload = await app.uploads.create(name)
      try {
        logReplaced(context, await app.uploads.commit(name, upload.uuid, digest, bodyStream(request, app.limits), chunkOptions(request, app, undefined)))
      } catch (error) {
        await app.uploads.cancel(name, upload.uuid).catch(() => {})
        throw error
      }
    })
    return await answerCreated(reply, context, digest)
  }
  const upload = await app.uploads.create(name)
  return await answerProgress(reply, context, app, upload, 202)
}

/** `PATCH /v2/<name>/blobs/uploads/<uuid>`: appends a chunk, streamed. */
export const patchUpload: RouteHandler = async (request, reply, context, app) => {
  const expectedSize = await verifiedState(request, context, app)
  const options = chunkOptions(request, app, expectedSize)
  const upload = await app.uploadSlots.run(async () => await app.uploads.append(context.repository, context.uuid!, bodyStream(request, app.limits), options))
  return await answerProgress(reply, context, app, upload, 202)
}

/** `PUT /v2/<name>/blobs/uploads/<uuid>?digest=`: the optional last chunk, then verify and commit. */
export const finishUpload: RouteHandler = async (request, reply, context, app) => {
  const expectedSize = await verifiedState(request, context, app)
  const digest = requireDigest(queryValue(request, 'digest'))
  const options = chunkOptions(request, app, expectedSize)
  if (hasBody(request)) {
    logReplaced(context, await app.uploadSlots.run(async () => await app.uploads.commit(context.repository, context.uuid!, digest, bodyStream(request, app.limits), options)))
  } else {
    logReplaced(context, await app.uploads.commit(context.repository, context.uuid!, digest, undefined, { expectedSize }))
  }
  return await answerCreated(reply, context, digest)
}

/** `GET /v2/<name>/blobs/uploads/<uuid>`: how much has been received. */
export const getUploadStatus: RouteHandler = async (request, reply, context, app) => {
  await verifiedState(request, context, app)
  const upload = await app.uploads.activeStatus(context.repository, context.uuid!)
  return await answerProgress(reply, context, app, upload, 204)
}

/** `DELETE /v2/<name>/blobs/uploads/<uuid>`: cancels the upload. */
export const cancelUpload: RouteHandler = async (request, reply, context, app) => {
  await verifiedState(request, context, app)
  await app.uploads.cancel(context.repository, context.uuid!)
  return await reply.code(204).header('Content-Length', 0).send()
}
