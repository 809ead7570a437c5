import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { readdirSync, readlinkSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { request } from 'undici'
import { sendFile } from '../../lib/http/send-file.js'
import { FilesystemDriver } from '../../lib/storage/filesystem.js'
import type { RandomAccessFile } from '../../lib/storage/driver.js'
import { tempDir } from '../helpers/registry.js'

const MiB = 1024 * 1024
const sha = (content: Uint8Array): string => createHash('sha256').update(content).digest('hex')
/** Descriptors of this process open on `path`. */
function openOn (path: string): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path
    } catch {
      return false // closed while listing
    }
  }).length
}

/** A server answering GET /<file>?start=&length= with sendFile over a real directory, plus /failing. */
async function serve (files: Record<string, Buffer>): Promise<{ url: string, app: FastifyInstance, root: string }> {
  const root = await tempDir()
  t.teardown(root.cleanup)
  for (const [name, content] of Object.entries(files)) await writeFile(join(root.path, name), content)
  const driver = new FilesystemDriver({ rootDirectory: root.path })
  const app = Fastify({ forceCloseConnections: true })
  app.get('/failing', async (_request, reply) => {
    // Reads fail after the first MiB: the status line is out, so the connection must be cut.
    let reads = 0
    const file: RandomAccessFile = {
      size: 4 * MiB,
      read: async (buffer, offset, length) => {
        if (reads++ > 0) throw new Error('disk went away')
        buffer.fill(1, offset, offset + length)
        return length
      },
      close: async () => {}
    }
    reply.header('content-length', 4 * MiB)
    await sendFile(reply, file, 0, 4 * MiB)
    return reply
  })
  app.get('/:name', async (req, reply) => {
    const { name } = req.params as { name: string }
    const query = req.query as { start?: string, length?: string }
    const file = await driver.openFile(`/${name}`)
    const start = Number(query.start ?? 0)
    const length = Number(query.length ?? file.size - start)
    reply.header('content-length', length).header('x-kept', 'yes')
    await sendFile(reply, file, start, length)
    return reply
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => await app.close())
  const address = app.server.address()
  return { url: `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`, app, root: root.path }
}

t.test('concurrent downloads sharing the buffer pool each get exactly their bytes', async (t) => {
  const files: Record<string, Buffer> = {}
  for (let i = 0; i < 4; i++) files[`f${i}`] = randomBytes(3 * MiB + 12345 * (i + 1))
  const { url } = await serve(files)
  const downloads = []
  for (let round = 0; round < 3; round++) {
    for (const name of Object.keys(files)) {
      downloads.push((async () => {
        const response = await request(`${url}/${name}`)
        t.equal(response.headers['x-kept'], 'yes', 'headers set on the reply are sent')
        return { name, body: Buffer.from(await response.body.arrayBuffer()) }
      })())
    }
  }
  for (const { name, body } of await Promise.all(downloads)) {
    t.equal(body.length, files[name].length)
    t.equal(sha(body), sha(files[name]), `${name} intact`)
  }
})

t.test('ranges across chunk boundaries', async (t) => {
  const content = randomBytes(5 * MiB)
  const { url } = await serve({ blob: content })
  for (const [start, length] of [[0, 1], [MiB - 1, 2 * MiB + 3], [MiB, MiB], [5 * MiB - 7, 7], [123, 4 * MiB]]) {
    const body = Buffer.from(await (await request(`${url}/blob?start=${start}&length=${length}`)).body.arrayBuffer())
    t.equal(sha(body), sha(content.subarray(start, start + length)), `bytes ${start}+${length}`)
  }
})

t.test('a client that goes away stops the reads and the file is closed', async (t) => {
  const { url, root } = await serve({ big: randomBytes(32 * MiB) })
  const path = join(root, 'big')
  for (let i = 0; i < 5; i++) {
    const controller = new AbortController()
    const response = await request(`${url}/big`, { signal: controller.signal })
    for await (const _chunk of response.body) {
      controller.abort()
      break
    }
    await response.body.arrayBuffer().catch(() => {})
  }
  let open = openOn(path)
  for (let i = 0; i < 100 && open > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    open = openOn(path)
  }
  t.equal(open, 0, 'the file is closed after every aborted download')
  const whole = await request(`${url}/big`)
  t.equal(Buffer.from(await whole.body.arrayBuffer()).length, 32 * MiB, 'the server still serves')
  t.equal(openOn(path), 0, 'and closes it after a whole download')
})

t.test('a read error after the headers cuts the connection instead of sending a short body', async (t) => {
  const { url } = await serve({})
  // Depending on timing the client sees the headers and then a broken body, or only a closed connection.
  const outcome = await request(`${url}/failing`).then(async (response) => await response.body.arrayBuffer()).catch((error: Error) => error)
  t.type(outcome, Error, 'the client sees the download fail, never a complete-looking body')
})
