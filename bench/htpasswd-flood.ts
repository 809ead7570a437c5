/**
 * The htpasswd flood (issue 20, point 5): a registry with a cost-10 htpasswd
 * file, 40 connections guessing a user's password as fast as they are
 * answered, and meanwhile a verified user sending `GET /v2/` one after the
 * other. Prints the verified user's latency and how the guesses were
 * answered, for our standalone and (when installed) distribution 2.8.
 *
 *   npx tsc -p tsconfig.build.json && npx tsc -p bench/tsconfig.json && node dist-bench/bench/htpasswd-flood.js
 *   node dist-bench/bench/htpasswd-flood.js --duration=10 --connections=40 --cost=10 --servers=ours,distribution
 *   node dist-bench/bench/htpasswd-flood.js --rate=28     # guesses paced to 28/s in all, as the issue's probe sent them
 *   node dist-bench/bench/htpasswd-flood.js --control     # adds rows whose flood sends no credentials (no compare at all)
 *
 * The guessing clients run in a worker thread, so their own work does not
 * delay the timing of the verified user's requests in the main thread.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { hash } from '@node-rs/bcrypt'
import { Pool, request } from 'undici'
import { distributionConfig } from '../test/helpers/docker-registry.js'
import { freePort } from '../test/helpers/standalone-process.js'
import { isExecutable } from './servers.js'
import { formatNumber, markdownTable } from './stats.js'

/** `BENCH_STANDALONE` points at another build's standalone.js, to compare revisions. */
const STANDALONE_SCRIPT = process.env.BENCH_STANDALONE ?? fileURLToPath(new URL('../../dist/examples/standalone.js', import.meta.url))
const DOCKER_REGISTRY_BIN = process.env.DOCKER_REGISTRY_BIN ?? '/usr/bin/docker-registry'
const REALM = 'bench'
const VERIFIED = { user: 'alice', password: 'alice-password' }
const TARGET_USER = 'bob'

type ServerName = 'ours' | 'distribution'

interface Settings {
  durationS: number
  connections: number
  cost: number
  servers: ServerName[]
  /** Guesses per second in all; 0: each connection sends its next guess as soon as the last is answered. */
  rate: number
  control: boolean
}

interface FloodJob { url: string, connections: number, durationMs: number, rate: number, credentials: boolean }
interface FloodResult { statuses: Record<string, number>, errors: number, elapsedMs: number }

interface Row {
  server: ServerName
  control: boolean
  latenciesMs: number[]
  verifiedFailures: number
  flood: FloodResult
}

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

/**
 * The guessing side, in the worker: `connections` loops of wrong-password
 * GET /v2/ (or, for the control, GET /v2/ without credentials), each sent as
 * soon as the last is answered, or paced so all of them send `rate` a second.
 */
async function flood (job: FloodJob): Promise<FloodResult> {
  const pool = new Pool(job.url, { connections: job.connections, pipelining: 1 })
  const statuses: Record<string, number> = {}
  let errors = 0
  const started = performance.now()
  const until = started + job.durationMs
  const intervalMs = job.rate > 0 ? job.connections / job.rate * 1000 : 0
  await Promise.all(Array.from({ length: job.connections }, async (_, connection) => {
    let next = started + intervalMs * connection / job.connections
    while (performance.now() < until) {
      if (intervalMs > 0) {
        const wait = next - performance.now()
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
        next += intervalMs
        if (performance.now() >= until) break
      }
      try {
        const headers: Record<string, string> = job.credentials ? { authorization: basic(TARGET_USER, randomBytes(9).toString('base64url')) } : {}
        const response = await pool.request({ path: '/v2/', method: 'GET', headers, headersTimeout: 120_000, bodyTimeout: 120_000 })
        await response.body.dump()
        statuses[response.statusCode] = (statuses[response.statusCode] ?? 0) + 1
      } catch {
        errors++
      }
    }
  }))
  const elapsedMs = performance.now() - started
  await pool.close()
  return { statuses, errors, elapsedMs }
}

if (!isMainThread) {
  const result = await flood(workerData as FloodJob)
  parentPort?.postMessage(result)
}

function parseSettings (argv: readonly string[]): Settings {
  const settings: Settings = { durationS: 10, connections: 40, cost: 10, servers: ['ours', 'distribution'], rate: 0, control: false }
  for (const arg of argv) {
    const [name, value = ''] = arg.split('=', 2)
    if (name === '--duration') settings.durationS = Number(value)
    else if (name === '--connections') settings.connections = Number(value)
    else if (name === '--cost') settings.cost = Number(value)
    else if (name === '--servers') settings.servers = value.split(',') as ServerName[]
    else if (name === '--rate') settings.rate = Number(value)
    else if (name === '--control') settings.control = true
    else if (name === '--help') {
      process.stdout.write('Usage: node dist-bench/bench/htpasswd-flood.js [--duration=10] [--connections=40] [--cost=10] [--rate=0] [--control] [--servers=ours,distribution]\n')
      process.exit(0)
    } else throw new Error(`unknown option ${arg}`)
  }
  if (!(settings.durationS > 0) || !Number.isInteger(settings.connections) || settings.connections < 1) throw new Error('bad --duration or --connections')
  if (!(settings.rate >= 0)) throw new Error('bad --rate')
  if (!Number.isInteger(settings.cost) || settings.cost < 4 || settings.cost > 31) throw new Error('--cost must be 4..31')
  for (const server of settings.servers) if (server !== 'ours' && server !== 'distribution') throw new Error(`unknown server ${server}`)
  return settings
}

interface Running { url: string, child: ChildProcess, stop: () => Promise<void>, output: () => string }

async function start (server: ServerName, dir: string, htpasswdPath: string): Promise<Running> {
  const port = await freePort()
  const root = join(dir, `${server}-root`)
  let child: ChildProcess
  if (server === 'ours') {
    child = spawn(process.execPath, [STANDALONE_SCRIPT], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        // As npm start runs it: libuv's pool of 16 threads, which compares and file I/O share.
        UV_THREADPOOL_SIZE: '16',
        ...process.env,
        REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
        REGISTRY_HTTP_SECRET: 'bench-secret',
        REGISTRY_LOG_LEVEL: 'error',
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root,
        REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_ENABLED: 'false',
        REGISTRY_AUTH: 'htpasswd',
        REGISTRY_AUTH_HTPASSWD_REALM: REALM,
        REGISTRY_AUTH_HTPASSWD_PATH: htpasswdPath
      }
    })
  } else {
    const config = join(dir, 'docker-registry.yml')
    await writeFile(config, distributionConfig({ rootDirectory: root, port, secret: 'bench-secret', deleteEnabled: false }) +
      ['auth:', '  htpasswd:', `    realm: ${REALM}`, `    path: ${JSON.stringify(htpasswdPath)}`, ''].join('\n'))
    child = spawn(DOCKER_REGISTRY_BIN, ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] })
  }
  let output = ''
  const keep = (chunk: Buffer): void => { output = (output + chunk.toString()).slice(-16_384) }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = once(child, 'exit').catch(() => {})
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
    await exited
    clearTimeout(timer)
  }
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${server} exited before answering: ${output}`)
    try {
      const response = await request(`${url}/v2/`, { headers: { authorization: basic(VERIFIED.user, VERIFIED.password) }, headersTimeout: 5000 })
      await response.body.dump()
      if (response.statusCode === 200) break
      throw new Error(`${server}: the verified user got ${response.statusCode}`)
    } catch (error) {
      if ((error as Error).message.includes('verified user')) { await stop(); throw error }
    }
    if (Date.now() > deadline) { await stop(); throw new Error(`${server} did not answer within 30 s: ${output}`) }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return { url, child, stop, output: () => output }
}

async function measure (server: ServerName, dir: string, htpasswdPath: string, settings: Settings, control: boolean): Promise<Row> {
  const running = await start(server, dir, htpasswdPath)
  try {
    const job: FloodJob = { url: running.url, connections: settings.connections, durationMs: settings.durationS * 1000, rate: settings.rate, credentials: !control }
    const worker = new Worker(fileURLToPath(import.meta.url), { workerData: job })
    const result = once(worker, 'message') as Promise<[FloodResult]>
    const failed = once(worker, 'error').then(([error]) => { throw error as Error })
    const done = Promise.race([result, failed])
    let finished = false
    void done.finally(() => { finished = true }).catch(() => {})
    // Let the guesses reach full speed before timing the verified user.
    await new Promise((resolve) => setTimeout(resolve, 500))
    const latenciesMs: number[] = []
    let verifiedFailures = 0
    const authorization = basic(VERIFIED.user, VERIFIED.password)
    while (!finished) {
      const started = performance.now()
      try {
        const response = await request(`${running.url}/v2/`, { headers: { authorization }, headersTimeout: 120_000, bodyTimeout: 120_000 })
        await response.body.dump()
        if (response.statusCode !== 200) verifiedFailures++
      } catch {
        verifiedFailures++
      }
      latenciesMs.push(performance.now() - started)
    }
    const [flood] = await done
    await worker.terminate()
    return { server, control, latenciesMs, verifiedFailures, flood }
  } finally {
    await running.stop()
  }
}

/** The nearest-rank percentile. */
function percentile (values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))]
}

async function main (): Promise<void> {
  const settings = parseSettings(process.argv.slice(2))
  const servers = settings.servers.filter((server) => {
    if (server === 'distribution' && !isExecutable(DOCKER_REGISTRY_BIN)) {
      process.stderr.write(`${DOCKER_REGISTRY_BIN} is missing (apt-get install docker-registry): skipping distribution\n`)
      return false
    }
    return true
  })
  if (servers.includes('ours') && !isExecutable(process.execPath)) throw new Error('no node')
  const dir = await mkdtemp(join(tmpdir(), 'htpasswd-flood-'))
  const startLoad = loadavg()
  try {
    // Apache's htpasswd -B writes $2y$; both registries must read it.
    const entry = async (user: string, password: string): Promise<string> => `${user}:${(await hash(password, settings.cost)).replace(/^\$2b\$/, '$2y$')}`
    const htpasswdPath = join(dir, 'htpasswd')
    await writeFile(htpasswdPath, [await entry(VERIFIED.user, VERIFIED.password), await entry(TARGET_USER, randomBytes(16).toString('hex'))].join('\n') + '\n')
    const rows: Row[] = []
    for (const server of servers) {
      for (const control of settings.control ? [false, true] : [false]) {
        process.stderr.write(`${server}: ${settings.connections} connections ${control ? 'without credentials' : 'guessing'} for ${settings.durationS} s…\n`)
        rows.push(await measure(server, dir, htpasswdPath, settings, control))
      }
    }
    const endLoad = loadavg()
    const ms = (value: number): string => formatNumber(value, 1)
    const table = markdownTable(
      ['Server (flood)', 'Verified GETs', 'p50 (ms)', 'p95 (ms)', 'max (ms)', 'Verified non-200', 'Guesses 401', 'Guesses 429', 'Guesses other', 'Guesses/s'],
      rows.map((row) => {
        const { statuses, errors, elapsedMs } = row.flood
        const total = Object.values(statuses).reduce((sum, count) => sum + count, 0)
        const other = total - (statuses['401'] ?? 0) - (statuses['429'] ?? 0) + errors
        return [
          `${row.server} (${row.control ? 'no credentials' : 'wrong passwords'})`,
          String(row.latenciesMs.length),
          ms(percentile(row.latenciesMs, 50)),
          ms(percentile(row.latenciesMs, 95)),
          ms(Math.max(...row.latenciesMs)),
          String(row.verifiedFailures),
          String(statuses['401'] ?? 0),
          String(statuses['429'] ?? 0),
          String(other),
          formatNumber(total / (elapsedMs / 1000), 1)
        ]
      }))
    const fmt = (load: number[]): string => load.map((value) => value.toFixed(2)).join(' ')
    process.stdout.write([
      `htpasswd flood: bcrypt cost ${settings.cost}, ${settings.connections} guessing connections for ${settings.durationS} s (${settings.rate > 0 ? `paced to ${settings.rate} guesses/s in all` : 'each sending as soon as answered'}), one verified user sending GET /v2/ sequentially`,
      `Node ${process.version}; nproc ${availableParallelism()}; load average at start ${fmt(startLoad)}, at end ${fmt(endLoad)}`,
      '',
      table,
      ''
    ].join('\n'))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

if (isMainThread) await main()
