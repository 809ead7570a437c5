import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { accessSync, constants } from 'node:fs'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { distributionConfig } from '../test/helpers/docker-registry.js'
import { freePort } from '../test/helpers/standalone-process.js'
import type { BenchBucket } from './s3.js'

export type TargetName = 'ours' | 'distribution' | 'ceiling'

export interface Target {
  name: TargetName
  url: string
  pid: number
  /** Removes a blob's bytes from disk behind the server's back, so the disk does not fill over the rounds. */
  dropBlob: (hex: string) => Promise<void>
  stop: () => Promise<void>
  output: () => string
}

/** The repository root of the checkout: `dist-bench/bench/servers.js` → `../..`. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** BENCH_OURS_SCRIPT runs another build of ours (an earlier commit's dist/), to measure a change before and after. */
export const STANDALONE_SCRIPT = process.env.BENCH_OURS_SCRIPT ?? join(REPO_ROOT, 'dist', 'examples', 'standalone.js')
export const CEILING_SCRIPT = fileURLToPath(new URL('./ceiling-server.js', import.meta.url))
export const DOCKER_REGISTRY_BIN = process.env.DOCKER_REGISTRY_BIN ?? '/usr/bin/docker-registry'

const STORAGE_ROOT = join('docker', 'registry', 'v2')
const START_TIMEOUT_MS = 30_000
const STOP_TIMEOUT_MS = 15_000

/** Every child started, so SIGINT and errors can kill whatever is still running. */
const children = new Set<ChildProcess>()

export function killAllChildren (): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

export function isExecutable (path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/**
 * Makes sure docker-registry is there: installs it with apt-get when running as
 * root, otherwise prints how and exits non-zero.
 */
export function ensureDockerRegistry (): void {
  if (isExecutable(DOCKER_REGISTRY_BIN)) return
  const howTo = 'sudo apt-get update && sudo apt-get install -y docker-registry'
  if (process.getuid?.() === 0 && process.env.DOCKER_REGISTRY_BIN === undefined) {
    process.stderr.write(`${DOCKER_REGISTRY_BIN} is missing: running apt-get install -y docker-registry\n`)
    try {
      execFileSync('apt-get', ['install', '-y', 'docker-registry'], { stdio: 'inherit', timeout: 600_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
    } catch {
      execFileSync('apt-get', ['update'], { stdio: 'inherit', timeout: 600_000 })
      execFileSync('apt-get', ['install', '-y', 'docker-registry'], { stdio: 'inherit', timeout: 600_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
    }
    if (isExecutable(DOCKER_REGISTRY_BIN)) return
  }
  process.stderr.write([
    `${DOCKER_REGISTRY_BIN} (CNCF distribution 2.8, Debian's docker-registry package) is required to compare against.`,
    `Install it with:\n  ${howTo}`,
    'or point DOCKER_REGISTRY_BIN at a distribution 2.x `registry` binary.',
    ''
  ].join('\n'))
  process.exit(1)
}

export function dockerRegistryVersion (): string {
  try {
    return execFileSync(DOCKER_REGISTRY_BIN, ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim()
  } catch {
    return 'unknown version'
  }
}

interface Spawned {
  child: ChildProcess
  output: () => string
  exited: Promise<unknown>
  stop: () => Promise<void>
}

function spawnTracked (command: string, args: string[], env: NodeJS.ProcessEnv): Spawned {
  let output = ''
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  // Keep the last 64 KiB of output, for error messages.
  const keep = (chunk: Buffer): void => { output = (output + chunk.toString()).slice(-65_536) }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  child.on('error', (error) => { output += `\nspawn error: ${error.message}` })
  const exited = once(child, 'exit').finally(() => children.delete(child))
  exited.catch(() => {})
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
    await exited.catch(() => {})
    clearTimeout(timer)
  }
  return { child, output: () => output, exited, stop }
}

async function waitForV2 (url: string, spawned: Spawned, what: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS
  for (;;) {
    if (spawned.child.exitCode !== null || spawned.child.signalCode !== null) {
      throw new Error(`${what} exited (${spawned.child.exitCode ?? spawned.child.signalCode}) before answering: ${spawned.output()}`)
    }
    try {
      const response = await request(`${url}/v2/`, { headersTimeout: 2000, bodyTimeout: 2000 })
      await response.body.text()
      if (response.statusCode === 200) return
    } catch {}
    if (Date.now() > deadline) {
      await spawned.stop()
      throw new Error(`${what} did not answer GET /v2/ within ${START_TIMEOUT_MS} ms: ${spawned.output()}`)
    }
    await sleep(50)
  }
}

function registryBlobDropper (root: string): (hex: string) => Promise<void> {
  return async (hex) => {
    await rm(join(root, STORAGE_ROOT, 'blobs', 'sha256', hex.slice(0, 2), hex), { recursive: true, force: true })
  }
}

export interface OursOptions {
  /** Directory for `node --cpu-prof` profiles; the profile is written when the server exits. */
  cpuProfDir?: string
}

/** This registry: the compiled standalone, configured by environment like distribution. */
export async function startOurs (root: string, options: OursOptions = {}): Promise<Target> {
  return await startStandalone({ REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root }, registryBlobDropper(root), options)
}

/** This registry on S3: distribution's `storage.s3` keys as REGISTRY_STORAGE_S3_* variables (chunk size left at its 10 MiB default, as distribution's). */
export async function startOursS3 (s3: BenchBucket, options: OursOptions = {}): Promise<Target> {
  return await startStandalone({
    REGISTRY_STORAGE: 's3',
    REGISTRY_STORAGE_S3_REGION: s3.region,
    REGISTRY_STORAGE_S3_REGIONENDPOINT: s3.endpoint,
    REGISTRY_STORAGE_S3_BUCKET: s3.bucket,
    REGISTRY_STORAGE_S3_ACCESSKEY: s3.accessKey,
    REGISTRY_STORAGE_S3_SECRETKEY: s3.secretKey,
    REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'true',
    // Streamed through the registry, as distribution is configured here: the rows compare the registries, not RGW.
    REGISTRY_STORAGE_REDIRECT_DISABLE: 'true'
  }, s3.dropBlob, options, 'our registry on S3')
}

async function startStandalone (storageEnv: Record<string, string>, dropBlob: Target['dropBlob'], options: OursOptions, what = 'our registry'): Promise<Target> {
  const port = await freePort()
  const nodeArgs = options.cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`]
  const spawned = spawnTracked(process.execPath, [...nodeArgs, STANDALONE_SCRIPT], {
    // The README's setting for push-heavy loads (npm start sets it too): libuv's 4 threads queue concurrent fsyncs.
    UV_THREADPOOL_SIZE: '16',
    ...process.env,
    REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
    ...storageEnv,
    REGISTRY_HTTP_SECRET: 'bench-secret',
    REGISTRY_LOG_LEVEL: 'warn',
    REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_ENABLED: 'false'
  })
  const url = `http://127.0.0.1:${port}`
  await waitForV2(url, spawned, what)
  return { name: 'ours', url, pid: spawned.child.pid!, dropBlob, stop: spawned.stop, output: spawned.output }
}

/** CNCF distribution 2.8 (`docker-registry serve`), as the test helper configures it. */
export async function startDistribution (root: string, configDir: string): Promise<Target> {
  const port = await freePort()
  const configPath = join(configDir, 'docker-registry.yml')
  await writeFile(configPath, distributionConfig({ rootDirectory: root, port, secret: 'bench-secret', deleteEnabled: false }))
  const spawned = spawnTracked(DOCKER_REGISTRY_BIN, ['serve', configPath], process.env)
  const url = `http://127.0.0.1:${port}`
  await waitForV2(url, spawned, 'docker-registry')
  return { name: 'distribution', url, pid: spawned.child.pid!, dropBlob: registryBlobDropper(root), stop: spawned.stop, output: spawned.output }
}

/**
 * A docker-registry (distribution 2.8) configuration on S3: the s3-aws driver
 * with path-style requests (2.8 forces them when `regionendpoint` is set; it has
 * no `forcepathstyle` key), plain HTTP, SigV4, the default 10 MiB chunk size, and
 * `redirect.disable`, so blob GETs stream through the registry as ours do rather
 * than sending the client to a presigned S3 URL. No blob descriptor cache.
 */
export function distributionS3Config (s3: BenchBucket, port: number, secret: string): string {
  return distributionConfig({
    storage: [
      '  s3:',
      `    region: ${JSON.stringify(s3.region)}`,
      `    regionendpoint: ${JSON.stringify(s3.endpoint)}`,
      `    bucket: ${JSON.stringify(s3.bucket)}`,
      `    accesskey: ${JSON.stringify(s3.accessKey)}`,
      `    secretkey: ${JSON.stringify(s3.secretKey)}`,
      `    secure: ${String(s3.endpoint.startsWith('https:'))}`,
      '    v4auth: true',
      '  redirect:',
      '    disable: true'
    ],
    port,
    secret,
    deleteEnabled: false
  })
}

/** CNCF distribution 2.8 on its own S3 bucket. */
export async function startDistributionS3 (s3: BenchBucket, configDir: string): Promise<Target> {
  const port = await freePort()
  const configPath = join(configDir, 'docker-registry-s3.yml')
  await writeFile(configPath, distributionS3Config(s3, port, 'bench-secret'))
  // aws-sdk-go loads AWS_CA_BUNDLE into the HTTP transport, and distribution 2.8's custom
  // transport cannot take one: the registry panics at start. Not needed for a plain-HTTP endpoint.
  const { AWS_CA_BUNDLE: _bundle, ...env } = process.env
  const spawned = spawnTracked(DOCKER_REGISTRY_BIN, ['serve', configPath], env)
  const url = `http://127.0.0.1:${port}`
  await waitForV2(url, spawned, 'docker-registry on S3')
  return { name: 'distribution', url, pid: spawned.child.pid!, dropBlob: s3.dropBlob, stop: spawned.stop, output: spawned.output }
}

/** The trivial Node HTTP server giving the ceilings (see ceiling-server.ts). */
export async function startCeiling (root: string): Promise<Target> {
  const spawned = spawnTracked(process.execPath, [CEILING_SCRIPT, root], process.env)
  const deadline = Date.now() + START_TIMEOUT_MS
  let port: number | undefined
  while (port === undefined) {
    const match = /PORT (\d+)/.exec(spawned.output())
    if (match !== null) port = Number(match[1])
    else if (spawned.child.exitCode !== null) throw new Error(`ceiling server exited: ${spawned.output()}`)
    else if (Date.now() > deadline) {
      await spawned.stop()
      throw new Error(`ceiling server did not start: ${spawned.output()}`)
    } else await sleep(20)
  }
  const url = `http://127.0.0.1:${port}`
  await waitForV2(url, spawned, 'ceiling server')
  return {
    name: 'ceiling',
    url,
    pid: spawned.child.pid!,
    dropBlob: async (hex) => { await rm(join(root, 'blobs', hex), { force: true }) },
    stop: spawned.stop,
    output: spawned.output
  }
}

/** The process's resident set size in KiB, from /proc/<pid>/status; undefined once it has gone. */
export async function rssKiB (pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)
    return match === null ? undefined : Number(match[1])
  } catch {
    return undefined
  }
}

/** utime + stime of the process in clock ticks, from /proc/<pid>/stat; undefined once it has gone. */
async function cpuTicks (pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may hold spaces; the fields after it are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[11]) + Number(fields[12])
  } catch {
    return undefined
  }
}

/**
 * Waits until none of the processes used more than ~10% of a core over a
 * 200 ms window (e.g. still answering requests a finished run left in flight),
 * for at most `maxMs`. Resolves with the milliseconds waited.
 */
export async function waitIdle (pids: readonly number[], maxMs = 60_000): Promise<number> {
  const started = Date.now()
  const windowMs = 200
  const idleTicks = 2 // clock ticks are 10 ms: 2 ticks in 200 ms is 10%
  for (;;) {
    const before = await Promise.all(pids.map(cpuTicks))
    await sleep(windowMs)
    const after = await Promise.all(pids.map(cpuTicks))
    const busy = pids.some((_pid, i) => before[i] !== undefined && after[i] !== undefined && after[i]! - before[i]! > idleTicks)
    if (!busy || Date.now() - started > maxMs) return Date.now() - started
  }
}
