// limits.bodyMinRate: a body that drips (one byte at a time, resetting the
// idle timer each time) is cut with BLOB_UPLOAD_INVALID, keeping what
// arrived; a slow but honest client is not. No timed assertions: each test
// asserts cut or not cut, the error code and the stored size.
import t, { type Test } from 'tap'
import { connect } from 'node:net'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import { request } from 'undici'
import { bodyStream, type BodyLimits } from '../../lib/http/request-values.js'
import { registryErrorHandler } from '../../lib/error-handler.js'
import { DEFAULT_LIMITS } from '../../lib/options.js'
import { errorCode } from '../helpers/registry.js'
import { startStandaloneProcess } from '../helpers/standalone-process.js'

/** Sends a request with `Content-Length: total` over a raw socket, one byte every `everyMs`, and returns what the server answered. */
async function drip (url: string, path: string, total: number, everyMs: number): Promise<{ response: string, sent: number }> {
  const { hostname, port } = new URL(url)
  const socket = connect(Number(port), hostname)
  await once(socket, 'connect')
  let response = ''
  let closed = false
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => { response += chunk })
  socket.on('error', () => {})
  const done = once(socket, 'close').then(() => { closed = true })
  socket.write(`PATCH ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${total}\r\n\r\n`)
  let sent = 0
  while (!closed && response === '' && sent < total) {
    socket.write('x')
    sent++
    await sleep(everyMs)
  }
  // The answer, then the server closes the connection (Connection: close).
  await Promise.race([done, sleep(10_000)])
  socket.destroy()
  return { response, sent }
}

function statusOf (response: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0)
}

function bodyOf (response: string): string {
  return response.slice(response.indexOf('\r\n\r\n') + 4)
}

/** A body of `total` bytes sent at about `bytesPerSecond`, in slices every 100 ms. */
function paced (total: number, bytesPerSecond: number): Readable {
  const slice = Math.ceil(bytesPerSecond / 10)
  return Readable.from((async function * () {
    for (let sent = 0; sent < total; sent += slice) {
      yield Buffer.alloc(Math.min(slice, total - sent), 0x61)
      await sleep(100)
    }
  })())
}

/** A server whose one route reads its body through bodyStream with `limits`, answering the byte count. */
async function echoServer (t: Test, limits: number | BodyLimits): Promise<string> {
  const app = Fastify()
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => { done(null, undefined) })
  app.setErrorHandler(registryErrorHandler)
  app.patch('/count', async (request) => {
    let total = 0
    for await (const chunk of bodyStream(request, limits)) total += chunk.length
    return { total }
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => { await app.close() })
  const address = app.server.address()
  return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
}

t.test('the defaults: 1 KiB/s over 30 s', async (t) => {
  t.equal(DEFAULT_LIMITS.bodyMinRate, 1024)
  t.equal(DEFAULT_LIMITS.bodyMinRateWindow, 30_000)
})

t.test('bodyStream: a drip under the minimum rate is answered BLOB_UPLOAD_INVALID and the connection closed', async (t) => {
  const url = await echoServer(t, { bodyIdleTimeout: 60_000, bodyMinRate: 100, bodyMinRateWindow: 1000 })
  const { response, sent } = await drip(url, '/count', 1000, 200)
  t.equal(statusOf(response), 400, 'answered, not dropped')
  t.equal(errorCode(bodyOf(response)), 'BLOB_UPLOAD_INVALID')
  t.match(response.toLowerCase(), /\r\nconnection: close\r\n/)
  t.ok(sent < 1000, 'cut before the body was complete')
})

t.test('bodyStream: a body at the rate passes, also across several windows', async (t) => {
  const url = await echoServer(t, { bodyIdleTimeout: 60_000, bodyMinRate: 1000, bodyMinRateWindow: 500 })
  const response = await request(`${url}/count`, { method: 'PATCH', body: paced(20 * 1024, 8 * 1024), headers: { 'content-type': 'application/octet-stream' } })
  t.equal(response.statusCode, 200)
  t.same(await response.body.json(), { total: 20 * 1024 })
})

t.test('bodyStream: a rate of 0 turns the check off', async (t) => {
  const url = await echoServer(t, { bodyIdleTimeout: 60_000, bodyMinRate: 0, bodyMinRateWindow: 300 })
  const response = await request(`${url}/count`, { method: 'PATCH', body: paced(10, 5), headers: { 'content-type': 'application/octet-stream' } })
  t.equal(response.statusCode, 200, 'a body of 5 bytes/s over 300 ms windows is not cut')
  t.same(await response.body.json(), { total: 10 })
})

t.test('bodyStream: time the consumer spends is not held against the client', async (t) => {
  const app = Fastify()
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => { done(null, undefined) })
  app.setErrorHandler(registryErrorHandler)
  app.patch('/slow-consumer', async (request) => {
    let total = 0
    for await (const chunk of bodyStream(request, { bodyIdleTimeout: 60_000, bodyMinRate: 1_000_000, bodyMinRateWindow: 300 })) {
      total += chunk.length
      // A storage write far slower than the window: were it counted, 300 KB would be due every 300 ms.
      await sleep(600)
    }
    return { total }
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => { await app.close() })
  const address = app.server.address()
  const url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
  const body = Buffer.alloc(64 * 1024, 0x62)
  const response = await request(`${url}/slow-consumer`, { method: 'PATCH', body, headers: { 'content-type': 'application/octet-stream' } })
  t.equal(response.statusCode, 200)
  t.same(await response.body.json(), { total: body.length })
})

t.test('through the standalone process, with the default rate and window', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'body-min-rate-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const running = await startStandaloneProcess({ REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: dir, REGISTRY_HTTP_SECRET: 'body-min-rate' })
  t.teardown(async () => { await running.stop('SIGKILL') })

  const startUpload = async (): Promise<URL> => {
    const started = await request(`${running.url}/v2/drip/blobs/uploads/`, { method: 'POST' })
    await started.body.dump()
    t.equal(started.statusCode, 202)
    return new URL(String(started.headers.location), running.url)
  }

  t.test('a slow honest client at 64 KiB/s is not cut', async (t) => {
    const location = await startUpload()
    const total = 256 * 1024
    const response = await request(location, { method: 'PATCH', body: paced(total, 64 * 1024), headers: { 'content-type': 'application/octet-stream' } })
    await response.body.dump()
    t.equal(response.statusCode, 202)
    t.equal(response.headers.range, `0-${total - 1}`, 'every byte stored')
  })
})

t.test('through the standalone process, limits.bodyminrate and limits.bodyminratewindow from the environment', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'body-min-rate-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const running = await startStandaloneProcess({
    REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: dir,
    REGISTRY_HTTP_SECRET: 'body-min-rate',
    REGISTRY_LIMITS_BODYMINRATE: '100',
    REGISTRY_LIMITS_BODYMINRATEWINDOW: '2s'
  })
  t.teardown(async () => { await running.stop('SIGKILL') })
  const started = await request(`${running.url}/v2/drip/blobs/uploads/`, { method: 'POST' })
  await started.body.dump()
  const location = new URL(String(started.headers.location), running.url)
  // 1 byte every 250 ms is 4 bytes/s: under 100 bytes/s, over a 2 s window (the default window
  // of 30 s cuts the same way, only later; the mechanism is tested above with short windows).
  const { response, sent } = await drip(running.url, `${location.pathname}${location.search}`, 1000, 250)
  t.equal(statusOf(response), 400, 'answered with the spec error')
  t.equal(errorCode(bodyOf(response)), 'BLOB_UPLOAD_INVALID')
  t.ok(sent > 1 && sent < 100, `cut mid-body within a window or two (${sent} bytes sent), not after the default 30 s`)
  const status = await request(location)
  await status.body.dump()
  t.equal(status.statusCode, 204, 'the upload is still there')
  const stored = Number(/^0-(\d+)$/.exec(String(status.headers.range))?.[1] ?? -2) + 1
  t.ok(stored >= 1 && stored <= sent, `the prefix that arrived is kept for resume (${stored} of ${sent} bytes sent)`)
})
