// The standalone server's operations keys, in process: the debug server
// (health and Prometheus metrics), read-only mode, rate limiting and upload
// purging, each configured as in distribution's YAML or its environment.
import t from 'tap'
import { Writable } from 'node:stream'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pino } from 'pino'
import { request } from 'undici'
import type { FastifyInstance } from 'fastify'
import { startStandalone } from '../../examples/standalone.js'
import { randomBlob, tempDir } from '../helpers/registry.js'

interface LogLine { level: number, msg: string, [key: string]: unknown }

async function start (args: string[], env: Record<string, string>): Promise<{ app: FastifyInstance, url: string, lines: LogLine[] }> {
  const lines: LogLine[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split('\n')) if (text !== '') lines.push(JSON.parse(text) as LogLine)
      done()
    }
  })
  const app = await startStandalone(args, { REGISTRY_HTTP_ADDR: '127.0.0.1:0', REGISTRY_HTTP_SECRET: 'secret', REGISTRY_STORAGE: 'inmemory', ...env }, { logger: pino({ level: 'info' }, stream) })
  const listening = lines.find((line) => line.msg === 'registry listening')
  return { app, url: String(listening?.url), lines }
}

async function get (url: string, init: Parameters<typeof request>[1] = {}): Promise<{ status: number, body: string, headers: Record<string, unknown> }> {
  const response = await request(url, init)
  return { status: response.statusCode, body: await response.body.text(), headers: response.headers }
}

t.test('http.debug.addr: health and Prometheus metrics on their own listener', async (t) => {
  const { app, url, lines } = await start([], {
    REGISTRY_HTTP_DEBUG_ADDR: '127.0.0.1:0',
    REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED: 'true',
    REGISTRY_HEALTH_STORAGEDRIVER_ENABLED: 'true',
    REGISTRY_HEALTH_STORAGEDRIVER_INTERVAL: '1s',
    REGISTRY_HEALTH_STORAGEDRIVER_THRESHOLD: '2'
  })
  t.teardown(async () => await app.close())
  const debugLine = lines.find((line) => line.msg === 'debug server listening')
  t.match(debugLine, { health: '/debug/health', storageHealth: true, metrics: '/metrics' })
  const debug = String(debugLine?.url)
  t.not(debug, url, 'another listener')

  const health = await get(`${debug}/debug/health`)
  t.equal(health.status, 200)
  t.match(JSON.parse(health.body), { status: 'ok', readOnly: false, checks: { storage: { status: 'ok', driver: 'inmemory', threshold: 2 } } })

  const blob = randomBlob(4321)
  t.equal((await get(`${url}/v2/r/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.content, headers: { 'content-type': 'application/octet-stream' } })).status, 201)
  t.equal((await get(`${url}/v2/r/blobs/${blob.digest}`)).body.length > 0, true)
  const metrics = await get(`${debug}/metrics`)
  t.equal(metrics.status, 200)
  t.match(metrics.body, /registry_http_requests_total\{route="blob-upload",method="POST",status="201"\} 1/)
  t.match(metrics.body, /registry_blob_bytes_received_total 4321/)
  t.match(metrics.body, /registry_blob_bytes_sent_total 4321/)
  t.match(metrics.body, /process_cpu_user_seconds_total/, 'process metrics, as distribution serves Go\'s')

  t.equal((await get(`${url}/debug/health`)).status, 404, 'not on the registry\'s listener')
  t.equal((await get(`${url}/metrics`)).status, 404)
  t.equal((await get(`${debug}/v2/`)).status, 404, 'the registry is not on the debug listener')

  await app.close()
  await t.rejects(request(`${debug}/debug/health`), 'the debug server closes with the registry')
})

t.test('the debug server without metrics; health enabled without a debug address is warned about', async (t) => {
  const { app, lines } = await start([], { REGISTRY_HTTP_DEBUG_ADDR: '127.0.0.1:0' })
  t.teardown(async () => await app.close())
  const debug = String(lines.find((line) => line.msg === 'debug server listening')?.url)
  t.same(JSON.parse((await get(`${debug}/debug/health`)).body), { status: 'ok', readOnly: false, checks: {} }, 'storage not checked unless health.storagedriver.enabled')
  t.equal((await get(`${debug}/metrics`)).status, 404)

  const { app: plain, lines: plainLines } = await start([], { REGISTRY_HEALTH_STORAGEDRIVER_ENABLED: 'true' })
  t.teardown(async () => await plain.close())
  t.ok(plainLines.some((line) => line.level === 40 && /health.storagedriver.enabled.*http.debug.addr is not set/.test(line.msg)))
  t.notOk(plainLines.some((line) => line.msg === 'debug server listening'))
})

t.test('a debug address in use stops start-up and leaves nothing listening', async (t) => {
  const { app: first, lines } = await start([], { REGISTRY_HTTP_DEBUG_ADDR: '127.0.0.1:0' })
  t.teardown(async () => await first.close())
  const taken = new URL(String(lines.find((line) => line.msg === 'debug server listening')?.url))
  await t.rejects(start([], { REGISTRY_HTTP_DEBUG_ADDR: `127.0.0.1:${taken.port}` }), /EADDRINUSE/)
})

t.test('YAML: read-only mode, upload purging and a rate limit', async (t) => {
  const dir = await tempDir()
  t.teardown(dir.cleanup)
  const file = join(dir.path, 'config.yml')
  await writeFile(file, `
version: 0.1
http:
  ratelimit:
    max: 3
    window: 1m
storage:
  inmemory:
  maintenance:
    readonly:
      enabled: true
    uploadpurging:
      enabled: true
      age: 72h
      interval: 12h
      dryrun: true
`)
  const { app, url, lines } = await start([file], {})
  t.teardown(async () => await app.close())
  t.match(lines.find((line) => line.msg === 'registry listening'), { readOnly: true })
  t.ok(lines.some((line) => /read-only mode/.test(line.msg)))
  t.notOk(lines.some((line) => line.msg === 'upload purging scheduled'), 'read-only: no purging')
  t.same(lines.filter((line) => line.level >= 40), [], 'no warnings: every key is known')

  const write = await get(`${url}/v2/r/blobs/uploads/`, { method: 'POST' })
  t.equal(write.status, 405)
  t.match(JSON.parse(write.body), { errors: [{ code: 'UNSUPPORTED', message: /read-only/ }] })
  t.equal((await get(`${url}/v2/`)).status, 200)
  t.equal((await get(`${url}/v2/_catalog`)).status, 200)
  const limited = await get(`${url}/v2/`)
  t.equal(limited.status, 429)
  t.ok(Number(limited.headers['retry-after']) >= 1)
  t.match(JSON.parse(limited.body), { errors: [{ code: 'TOOMANYREQUESTS' }] })

  await writeFile(file, `
storage:
  inmemory:
  maintenance:
    uploadpurging:
      age: 72h
      interval: 12h
      dryrun: true
`)
  const { app: purging, lines: purgingLines } = await start([file], {})
  t.teardown(async () => await purging.close())
  t.match(purgingLines.find((line) => line.msg === 'upload purging scheduled'), { ageMs: 72 * 3600_000, intervalMs: 12 * 3600_000, dryRun: true })
})
