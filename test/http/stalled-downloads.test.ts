/**
 * Stalled downloads (issue 20, point 6): the registry in a Fastify instance
 * listening on 127.0.0.1, driven over real sockets by clients that send a blob
 * GET and then read nothing, slowly, or normally. Memory stays bounded however
 * many stall (the buffers in flight are bounded per response and in total), a
 * client that takes nothing for `limits.bodyIdleTimeout` is cut and logged, a
 * slow but steady reader gets every byte, and ranges still work; on the
 * filesystem (lib/http/send-file.ts) and on a driver that streams (in-memory).
 */
import t from 'tap'
import type { Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import { request } from 'undici'
import { registry, type RegistryOptions } from '../../lib/index.js'
import { sendFileBuffers } from '../../lib/http/send-file.js'
import { pushBlob, tempDir } from '../helpers/registry.js'

const MiB = 1024 * 1024
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }
const sha256 = (content: Uint8Array): string => `sha256:${createHash('sha256').update(content).digest('hex')}`

interface Server { app: FastifyInstance, port: number, logs: Array<{ level: number, msg: string, idleMs?: number, repository?: string, digest?: string }>, closed: () => number }

/** The registry listening on 127.0.0.1, its warnings kept, counting the connections it has seen close. */
async function serve (t: Test, options: RegistryOptions): Promise<Server> {
  const logs: Server['logs'] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') logs.push(JSON.parse(line))
      done()
    }
  })
  const app = Fastify({ logger: { level: 'warn', stream }, forceCloseConnections: true })
  let closed = 0
  app.server.on('connection', (socket: Socket) => { socket.once('close', () => { closed++ }) })
  await app.register(registry, { uploadState: { secret: 'test-secret' }, ...options })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => await app.close())
  const address = app.server.address()
  return { app, port: typeof address === 'object' && address !== null ? address.port : 0, logs, closed: () => closed }
}

async function filesystem (t: Test): Promise<RegistryOptions> {
  const root = await tempDir('oci-stalled-')
  t.teardown(root.cleanup)
  return { storage: { filesystem: { rootDirectory: root.path } } }
}

/** A raw HTTP/1.1 GET that reads nothing until told: `socket.pause()` before the first byte. */
async function stalledGet (port: number, path: string, headers: Record<string, string> = {}): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port })
  socket.pause()
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve).once('error', reject) })
  socket.on('error', () => {})
  const lines = [`GET ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)]
  socket.write(`${lines.join('\r\n')}\r\n\r\n`)
  return socket
}

/** Reads the rest of a raw response at about `bytesPerTick` every `tickMs`: its status, headers and body, until the server ends it. */
async function readSlowly (socket: Socket, bytesPerTick: number, tickMs: number): Promise<{ head: string, body: Buffer, ended: boolean }> {
  const chunks: Buffer[] = []
  let ended = false
  await new Promise<void>((resolve) => {
    socket.on('end', () => { ended = true })
    socket.on('close', () => { resolve() })
    const tick = (): void => {
      let taken = 0
      let chunk: Buffer | null
      while (taken < bytesPerTick && (chunk = socket.read() as Buffer | null) !== null) {
        chunks.push(chunk)
        taken += chunk.length
      }
      if (!socket.destroyed) setTimeout(tick, tickMs)
    }
    tick()
  })
  const all = Buffer.concat(chunks)
  const split = all.indexOf('\r\n\r\n')
  return { head: all.subarray(0, split).toString(), body: all.subarray(split + 4), ended }
}

/** Samples this process's memory until the peak has not moved for `quietMs` (or `maxMs` pass); resolves with the peaks. */
async function peakMemory (quietMs: number, maxMs: number): Promise<{ arrayBuffers: number, rss: number }> {
  const peak = { arrayBuffers: 0, rss: 0 }
  const started = Date.now()
  let moved = Date.now()
  while (Date.now() - moved < quietMs && Date.now() - started < maxMs) {
    const { arrayBuffers, rss } = process.memoryUsage()
    if (arrayBuffers > peak.arrayBuffers + MiB || rss > peak.rss + 4 * MiB) moved = Date.now()
    peak.arrayBuffers = Math.max(peak.arrayBuffers, arrayBuffers)
    peak.rss = Math.max(peak.rss, rss)
    await sleep(100)
  }
  return peak
}

t.test('200 downloads that read nothing pin a bounded amount of memory, and an honest download still completes', async (t) => {
  const server = await serve(t, { ...await filesystem(t), limits: { bodyIdleTimeout: 120_000 } })
  const blob = randomBytes(8 * MiB)
  const digest = await pushBlob(server.app, 'stalled/app', blob)
  const path = `/v2/stalled/app/blobs/${digest}`
  // One whole download first, so the baseline has the buffers a download keeps.
  const warm = Buffer.from(await (await request(`http://127.0.0.1:${server.port}${path}`)).body.arrayBuffer())
  t.equal(sha256(warm), digest)
  global.gc?.()
  const before = process.memoryUsage()

  const sockets: Socket[] = []
  for (let i = 0; i < 200; i++) sockets.push(await stalledGet(server.port, path))
  const peak = await peakMemory(2000, 30_000)
  const growth = { arrayBuffers: (peak.arrayBuffers - before.arrayBuffers) / MiB, rss: (peak.rss - before.rss) / MiB }
  t.comment(`200 stalled downloads of 8 MiB: arrayBuffers +${growth.arrayBuffers.toFixed(0)} MiB, RSS +${growth.rss.toFixed(0)} MiB`)
  // Unbounded, each download pins two 2 MiB chunks: 800 MiB. Bounded: at most the
  // 128 MiB budget, plus each stalled client's own read buffer here (200 × 64 KiB).
  t.ok(growth.arrayBuffers < 256, `buffers grew by ${growth.arrayBuffers.toFixed(0)} MiB, under 256 MiB`)
  t.ok(growth.rss < 512, `RSS grew by ${growth.rss.toFixed(0)} MiB, under 512 MiB`)
  const state = sendFileBuffers()
  t.ok(state.tiers[0].lent <= state.tiers[0].budget && state.tiers[1].lent <= state.tiers[1].budget, 'no tier over its budget')

  const honest = Buffer.from(await (await request(`http://127.0.0.1:${server.port}${path}`)).body.arrayBuffer())
  t.equal(sha256(honest), digest, 'a client that reads gets the whole blob while 200 are stalled')

  for (const socket of sockets) socket.destroy()
  for (let i = 0; i < 100 && sendFileBuffers().tiers.some((tier) => tier.lent > 0); i++) await sleep(50)
  const after = sendFileBuffers()
  t.same(after.tiers.map((tier) => tier.lent), [0, 0], 'every buffer comes back once the clients go')
  t.equal(after.waiting, 0, 'nobody waits for one')
})

for (const storage of ['filesystem', 'inmemory'] as const) {
  t.test(`${storage}: a client that takes nothing for bodyIdleTimeout is cut, and the cut is logged`, async (t) => {
    const server = await serve(t, { ...(storage === 'filesystem' ? await filesystem(t) : { storage: { inmemory: {} } }), limits: { bodyIdleTimeout: 300 } })
    const blob = randomBytes(8 * MiB)
    const digest = await pushBlob(server.app, 'stalled/cut', blob)
    const socket = await stalledGet(server.port, `/v2/stalled/cut/blobs/${digest}`)
    const started = Date.now()
    while (server.closed() === 0 && Date.now() - started < 20_000) await sleep(25)
    t.equal(server.closed(), 1, 'the server closed the connection')
    t.ok(Date.now() - started >= 300, `not before the idle timeout (${Date.now() - started} ms)`)
    const warning = server.logs.find((entry) => /download stalled/.test(entry.msg))
    t.ok(warning, 'a warning says why')
    t.equal(warning?.level, 40, 'at warn level')
    t.ok((warning?.idleMs ?? 0) >= 300, 'with how long the client had taken nothing')
    t.match(warning, { repository: 'stalled/cut', digest }, 'and what it was downloading')
    // What the client gets once it reads: the headers and part of the body, then the end.
    const { head, body } = await readSlowly(socket, Infinity, 1)
    t.match(head, /^HTTP\/1\.1 200/)
    t.ok(body.length < blob.length, `a cut body: ${body.length} of ${blob.length} bytes`)
    if (storage === 'filesystem') t.same(sendFileBuffers().tiers.map((tier) => tier.lent), [0, 0], 'its buffer is back in the pool')
  })

  t.test(`${storage}: a slow but steady reader gets every byte, and a range, under a short bodyIdleTimeout`, async (t) => {
    const server = await serve(t, { ...(storage === 'filesystem' ? await filesystem(t) : { storage: { inmemory: {} } }), limits: { bodyIdleTimeout: 400 } })
    const blob = randomBytes(5 * MiB + 12345)
    const digest = await pushBlob(server.app, 'stalled/slow', blob)
    const path = `/v2/stalled/slow/blobs/${digest}`
    // About 1 MiB/s in 16 KiB sips every 15 ms: a 2 MiB buffer in flight takes ~2 s to drain, 5× the timeout.
    const whole = await readSlowly(await stalledGet(server.port, path), 16 * 1024, 15)
    t.match(whole.head, /^HTTP\/1\.1 200/)
    t.equal(whole.body.length, blob.length, 'every byte')
    t.equal(sha256(whole.body), digest, 'the right bytes')
    const start = MiB + 7
    const end = 4 * MiB + 3
    const ranged = await readSlowly(await stalledGet(server.port, path, { Range: `bytes=${start}-${end}` }), 16 * 1024, 15)
    t.match(ranged.head, /^HTTP\/1\.1 206/)
    t.match(ranged.head, new RegExp(`content-range: bytes ${start}-${end}/${blob.length}`, 'i'))
    t.same(sha256(ranged.body), sha256(blob.subarray(start, end + 1)), 'the range, slowly')
    t.notOk(server.logs.some((entry) => /download stalled/.test(entry.msg)), 'nobody was cut')
  })
}

t.test('a pipelined download that stalls is cut too, though it got its socket only after the one before it', async (t) => {
  const server = await serve(t, { ...await filesystem(t), limits: { bodyIdleTimeout: 300 } })
  const small = await pushBlob(server.app, 'stalled/pipelined', randomBytes(1000))
  const big = await pushBlob(server.app, 'stalled/pipelined', randomBytes(8 * MiB))
  const socket = connect({ host: '127.0.0.1', port: server.port })
  socket.pause()
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve).once('error', reject) })
  socket.on('error', () => {})
  // Both requests in one write: the second response waits for the first before it has a socket.
  socket.write([small, big].map((digest) => `GET /v2/stalled/pipelined/blobs/${digest} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`).join(''))
  const started = Date.now()
  while (server.closed() === 0 && Date.now() - started < 20_000) await sleep(25)
  t.equal(server.closed(), 1, 'the server closed the connection')
  t.match(server.logs.find((entry) => /download stalled/.test(entry.msg)), { digest: big }, 'the stalled one is the second')
  socket.destroy()
})

t.test('ranged GETs over real sockets, across chunk and buffer boundaries', async (t) => {
  const server = await serve(t, await filesystem(t))
  const blob = randomBytes(6 * MiB + 99)
  const digest = await pushBlob(server.app, 'stalled/range', blob)
  const url = `http://127.0.0.1:${server.port}/v2/stalled/range/blobs/${digest}`
  for (const [start, end] of [[0, 0], [2 * MiB - 1, 2 * MiB], [123, 5 * MiB], [6 * MiB, 6 * MiB + 98]]) {
    const response = await request(url, { headers: { range: `bytes=${start}-${end}` } })
    const body = Buffer.from(await response.body.arrayBuffer())
    t.equal(response.statusCode, 206)
    t.equal(response.headers['content-range'], `bytes ${start}-${end}/${blob.length}`)
    t.equal(sha256(body), sha256(blob.subarray(start, end + 1)), `bytes ${start}-${end}`)
  }
})
