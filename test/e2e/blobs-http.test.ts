import t, { type Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { Readable } from 'node:stream'
import { request } from 'undici'
import { startStandaloneProcess, type RunningRegistry } from '../helpers/standalone-process.js'
import { sha256, tempDir } from '../helpers/registry.js'

const octet = { 'content-type': 'application/octet-stream' }

async function setup (t: Test): Promise<RunningRegistry> {
  const root = await tempDir()
  const registry = await startStandaloneProcess({ REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root.path, REGISTRY_HTTP_SECRET: 'e2e-secret', REGISTRY_STORAGE_DELETE_ENABLED: 'true' })
  t.teardown(async () => {
    await registry.stop()
    await root.cleanup()
  })
  return registry
}

async function text (response: Awaited<ReturnType<typeof request>>): Promise<string> {
  return await response.body.text()
}

/** Peak resident memory of a process, from /proc (Linux). */
function peakRssBytes (pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return match === null ? 0 : Number(match[1]) * 1024
}

/** Sends raw bytes over TCP, so no client normalises the path. */
async function rawRequest (port: number, head: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => { socket.end(head) })
    let data = ''
    socket.on('data', (chunk) => { data += chunk.toString() })
    socket.on('end', () => { resolve(data) })
    socket.on('error', reject)
  })
}

t.test('over real HTTP', async (t) => {
  const registry = await setup(t)
  const { url } = registry

  await t.test('monolithic push, pull, ranged read, delete', async (t) => {
    const content = randomBytes(256 * 1024)
    const digest = sha256(content)
    const push = await request(`${url}/v2/e2e/mono/blobs/uploads/?digest=${digest}`, { method: 'POST', body: content, headers: octet })
    t.equal(push.statusCode, 201, await text(push))
    t.equal(push.headers['docker-content-digest'], digest)
    const pull = await request(`${url}/v2/e2e/mono/blobs/${digest}`)
    t.equal(pull.statusCode, 200)
    t.same(Buffer.from(await pull.body.arrayBuffer()), content)
    const ranged = await request(`${url}/v2/e2e/mono/blobs/${digest}`, { headers: { range: 'bytes=1000-1999' } })
    t.equal(ranged.statusCode, 206)
    t.same(Buffer.from(await ranged.body.arrayBuffer()), content.subarray(1000, 2000))
    const removed = await request(`${url}/v2/e2e/mono/blobs/${digest}`, { method: 'DELETE' })
    t.equal(removed.statusCode, 202)
    await removed.body.dump()
    const gone = await request(`${url}/v2/e2e/mono/blobs/${digest}`, { method: 'HEAD' })
    t.equal(gone.statusCode, 404)
    await gone.body.dump()
  })

  await t.test('chunked with Content-Range, resumed after a status GET', async (t) => {
    const content = randomBytes(3 * 1024 * 1024 + 17)
    const digest = sha256(content)
    const start = await request(`${url}/v2/e2e/chunked/blobs/uploads/`, { method: 'POST' })
    t.equal(start.statusCode, 202)
    await start.body.dump()
    let location = String(start.headers.location)
    const chunk = 1024 * 1024
    for (let offset = 0; offset < content.length; offset += chunk) {
      const part = content.subarray(offset, offset + chunk)
      if (offset === 2 * chunk) {
        // Forget where we were: ask the registry, as a client resuming after a failure does.
        const status = await request(location)
        t.equal(status.statusCode, 204)
        t.equal(status.headers.range, `0-${offset - 1}`)
        await status.body.dump()
        location = String(status.headers.location)
      }
      const patch = await request(location, { method: 'PATCH', body: part, headers: { ...octet, 'content-range': `${offset}-${offset + part.length - 1}` } })
      t.equal(patch.statusCode, 202)
      await patch.body.dump()
      location = String(patch.headers.location)
    }
    const put = await request(`${location}&digest=${digest}`, { method: 'PUT' })
    t.equal(put.statusCode, 201, await text(put))
    const pull = await request(`${url}/v2/e2e/chunked/blobs/${digest}`)
    t.equal(createHash('sha256').update(Buffer.from(await pull.body.arrayBuffer())).digest('hex'), digest.slice(7))
  })

  await t.test('chunked without Content-Range, chunked transfer encoding', async (t) => {
    const parts = [randomBytes(100_000), randomBytes(50_000)]
    const digest = sha256(Buffer.concat(parts))
    const start = await request(`${url}/v2/e2e/stream/blobs/uploads/`, { method: 'POST' })
    await start.body.dump()
    let location = String(start.headers.location)
    for (const part of parts) {
      const patch = await request(location, { method: 'PATCH', body: Readable.from([part.subarray(0, 10), part.subarray(10)]), headers: octet })
      t.equal(patch.statusCode, 202)
      await patch.body.dump()
      location = String(patch.headers.location)
    }
    const put = await request(`${location}&digest=${digest}`, { method: 'PUT' })
    t.equal(put.statusCode, 201)
    await put.body.dump()
  })

  await t.test('path tricks sent raw are refused before storage', async (t) => {
    const digest = sha256(Buffer.from('x'))
    for (const path of [`/v2/a/../b/blobs/${digest}`, `/v2/%2e%2e/blobs/${digest}`, `/v2/a\\b/blobs/${digest}`, `/v2/../../etc/blobs/${digest}`, `/v2/a/%2e%2e/b/blobs/${digest}`]) {
      const answer = await rawRequest(registry.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
      t.match(answer, /^HTTP\/1\.1 400/, path)
      t.match(answer, /NAME_INVALID/, path)
    }
    const upload = await rawRequest(registry.port, 'GET /v2/a/blobs/uploads/.. HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    t.match(upload, /^HTTP\/1\.1 404/)
    t.match(upload, /BLOB_UPLOAD_UNKNOWN/)
  })
})

t.test('a 1 GiB blob streams through with flat memory', async (t) => {
  const registry = await setup(t)
  const { url } = registry
  const size = 1024 * 1024 * 1024
  const block = randomBytes(1024 * 1024)
  const hash = createHash('sha256')
  let counter = 0
  // Each MiB differs (a counter in the first bytes) so the blob is not one repeated block.
  const source = Readable.from((function * () {
    for (let sent = 0; sent < size; sent += block.length) {
      const chunk = Buffer.from(block)
      chunk.writeUInt32BE(counter++, 0)
      hash.update(chunk)
      yield chunk
    }
  })())
  const start = await request(`${url}/v2/big/blobs/uploads/`, { method: 'POST' })
  await start.body.dump()
  const patch = await request(String(start.headers.location), { method: 'PATCH', body: source, headers: octet })
  t.equal(patch.statusCode, 202)
  t.equal(patch.headers.range, `0-${size - 1}`)
  await patch.body.dump()
  const digest = `sha256:${hash.digest('hex')}`
  const put = await request(`${String(patch.headers.location)}&digest=${digest}`, { method: 'PUT' })
  t.equal(put.statusCode, 201, 'digest verified')
  await put.body.dump()

  const pull = await request(`${url}/v2/big/blobs/${digest}`)
  t.equal(pull.headers['content-length'], String(size))
  const check = createHash('sha256')
  let received = 0
  for await (const chunk of pull.body) {
    check.update(chunk)
    received += chunk.length
  }
  t.equal(received, size)
  t.equal(`sha256:${check.digest('hex')}`, digest, 'the blob read back matches')
  const peak = peakRssBytes(registry.child.pid!)
  t.ok(peak < 256 * 1024 * 1024, `server peak RSS ${Math.round(peak / 1048576)} MiB stays far below the 1 GiB blob`)
})
