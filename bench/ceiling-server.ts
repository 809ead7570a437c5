/**
 * The ceiling: about the least work an HTTP server on Node can do for each row.
 *
 *   node dist-bench/bench/ceiling-server.js <root-directory>
 *
 * Prints `PORT <n>` once listening on 127.0.0.1 (an ephemeral port).
 *
 * - POST …/blobs/uploads/      → 202, Location /upload/<id>
 * - PATCH /upload/<id>         → appends the body to <root>/uploads/<id>, sha256 kept in memory, 202
 * - PUT /upload/<id>?digest=   → appends the body (if any), fsyncs (both registries fsync a blob
 *                                 before committing it), checks the sha256, renames the file to
 *                                 <root>/blobs/<hex>, 201; 400 on a digest mismatch
 * - GET/HEAD …/blobs/sha256:<hex> for a blob it holds → streams the file
 * - any other GET/HEAD         → a fixed ~500-byte JSON body (the request-rate ceiling)
 *
 * BENCH_CEILING_FSYNC=0 leaves out the fsync.
 */
import { createHash, randomUUID, type Hash } from 'node:crypto'
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs'
import { open, rename, rm, stat } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { join } from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'

const root = process.argv[2]
if (root === undefined) {
  process.stderr.write('usage: ceiling-server <root-directory>\n')
  process.exit(2)
}
const uploadsDir = join(root, 'uploads')
const blobsDir = join(root, 'blobs')
mkdirSync(uploadsDir, { recursive: true })
mkdirSync(blobsDir, { recursive: true })
const fsyncOnCommit = process.env.BENCH_CEILING_FSYNC !== '0'

/** 451 bytes: the same order of size as the bench image's 396-byte manifest. */
const FIXED_BODY = Buffer.from(JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 0 },
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${'1'.repeat(64)}`, size: 0 }],
  annotations: { 'org.opencontainers.image.title': 'ceiling' }
}))

interface Upload { hash: Hash, size: number }
const uploads = new Map<string, Upload>()
/** Uploads are abandoned only on errors; bound the map anyway. */
const MAX_UPLOADS = 4096

const BLOB_PATH = /\/blobs\/sha256:([0-9a-f]{64})$/
const UPLOAD_PATH = /^\/upload\/([0-9a-f-]{36})$/

/** Appends the request body to the upload's file, hashing as it passes; fsyncs if asked. */
async function appendBody (request: IncomingMessage, id: string, upload: Upload, sync: boolean): Promise<void> {
  const path = join(uploadsDir, id)
  const hasher = new Transform({
    transform (chunk: Buffer, _encoding, callback) {
      upload.hash.update(chunk)
      upload.size += chunk.length
      callback(null, chunk)
    }
  })
  // fs.WriteStream coalesces what queues up behind a write into one writev.
  await pipeline(request, hasher, createWriteStream(path, { flags: 'a', highWaterMark: 1024 * 1024 }))
  if (sync) {
    // fsync is per file, so a second descriptor flushes what the stream wrote.
    const handle = await open(path, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  }
}

function send (response: ServerResponse, status: number, headers: Record<string, string | number> = {}, body?: Buffer): void {
  response.writeHead(status, { 'Content-Length': body?.length ?? 0, ...headers })
  response.end(body)
}

async function handle (request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://ceiling')
  const method = request.method ?? 'GET'
  if (method === 'POST' && url.pathname.endsWith('/blobs/uploads/')) {
    request.resume()
    if (uploads.size >= MAX_UPLOADS) uploads.clear()
    const id = randomUUID()
    uploads.set(id, { hash: createHash('sha256'), size: 0 })
    send(response, 202, { Location: `/upload/${id}`, Range: '0-0' })
    return
  }
  const uploadMatch = UPLOAD_PATH.exec(url.pathname)
  if (uploadMatch !== null && (method === 'PATCH' || method === 'PUT')) {
    const id = uploadMatch[1]
    const upload = uploads.get(id)
    if (upload === undefined) {
      request.resume()
      send(response, 404)
      return
    }
    if (method === 'PATCH') {
      await appendBody(request, id, upload, false)
      send(response, 202, { Location: `/upload/${id}`, Range: `0-${Math.max(0, upload.size - 1)}` })
      return
    }
    await appendBody(request, id, upload, fsyncOnCommit)
    uploads.delete(id)
    const hex = upload.hash.digest('hex')
    const expected = url.searchParams.get('digest')
    if (expected !== `sha256:${hex}`) {
      await rm(join(uploadsDir, id), { force: true })
      send(response, 400, {}, Buffer.from(`digest mismatch: got sha256:${hex}, expected ${expected ?? 'none'}\n`))
      return
    }
    await rename(join(uploadsDir, id), join(blobsDir, hex))
    send(response, 201, { Location: `/blob/sha256:${hex}`, 'Docker-Content-Digest': `sha256:${hex}` })
    return
  }
  if (method === 'GET' || method === 'HEAD') {
    const blobMatch = BLOB_PATH.exec(url.pathname)
    if (blobMatch !== null) {
      const path = join(blobsDir, blobMatch[1])
      const size = await stat(path).then((info) => info.size, () => undefined)
      if (size !== undefined) {
        response.writeHead(200, { 'Content-Length': size, 'Content-Type': 'application/octet-stream' })
        if (method === 'HEAD') {
          response.end()
          return
        }
        await pipeline(createReadStream(path, { highWaterMark: 512 * 1024 }), response)
        return
      }
    }
    response.writeHead(200, { 'Content-Length': FIXED_BODY.length, 'Content-Type': 'application/json' })
    response.end(method === 'HEAD' ? undefined : FIXED_BODY)
    return
  }
  request.resume()
  send(response, 405)
}

const server = createServer({ keepAliveTimeout: 72_000, requestTimeout: 0 }, (request, response) => {
  handle(request, response).catch((error: unknown) => {
    if (!response.headersSent) send(response, 500, {}, Buffer.from(String(error)))
    else response.destroy()
  })
})
server.listen(0, '127.0.0.1', () => {
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  process.stdout.write(`PORT ${port}\n`)
})
const stop = (): void => {
  server.close()
  server.closeAllConnections()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
