/**
 * The registry benchmark (issue 6): our registry against CNCF distribution 2.8
 * (`docker-registry`) and a trivial Node HTTP "ceiling" server, same client
 * code for all, rounds alternating which registry goes first. See bench/README.md.
 *
 *   npm run bench                 # full: 3 rounds, 10 s request-rate runs
 *   npm run bench -- --quick      # ~3 s runs, smaller blobs
 *   npm run bench -- --s3         # adds the S3 rows (both registries on a fresh bucket each of S3_ENDPOINT)
 *   node dist-bench/bench/run.js --help
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { rmSync } from 'node:fs'
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Agent } from 'undici'
import { freshBlob, generateRandomFile, MiB, type BlobBody, type RandomData } from './data.js'
import { catalogName, seedListings, tagName, TAGS_REPOSITORY } from './seed.js'
import {
  DOCKER_REGISTRY_BIN,
  dockerRegistryVersion,
  ensureDockerRegistry,
  killAllChildren,
  startCeiling,
  startDistribution,
  startDistributionS3,
  startOurs,
  startOursS3,
  waitIdle,
  type Target,
  type TargetName
} from './servers.js'
import { formatNumber, markdownTable, median } from './stats.js'
import { createBenchBucket, S3_ENDPOINT, type BenchBucket } from './s3.js'
import {
  createAgent,
  getText,
  measureRss,
  mibPerSecond,
  OCI_MANIFEST,
  pullBlob,
  pushChunked,
  pushConcurrently,
  pushMonolithic,
  pushSmallImage,
  rate,
  type Rate
} from './workloads.js'

const WORKLOADS = ['mono', 'chunked', 'get', 'concurrent', 'rss', 'manifest-get', 'manifest-head', 'blob-head', 'tags', 'catalog', 's3-mono', 's3-get', 's3-manifest-get'] as const
/** The S3 rows: run only with --s3, against both registries on a fresh bucket each. */
const S3_WORKLOADS = ['s3-mono', 's3-get', 's3-manifest-get'] as const

const USAGE = `Usage: npm run bench [-- options]   (or node dist-bench/bench/run.js [options])

  --quick             2 rounds, 3 s request-rate runs, 128 MiB blob, 256 MiB RSS blob, 32 × 2 MiB
  --rounds=N          rounds (default 3, --quick 2); odd rounds run ours first, even rounds distribution
  --duration=S        seconds per request-rate run (default 10, --quick 3)
  --only=a,b          only these workloads: ${WORKLOADS.join(',')}
  --s3                also the S3 rows (${S3_WORKLOADS.join(',')}): both registries on their own
                      fresh bucket of the S3 server at S3_ENDPOINT (default http://127.0.0.1:7050)
  --servers=a,b       only these of ours,distribution,ceiling (default all three)
  --cpu-prof=DIR      run our registry under node --cpu-prof, profile written to DIR on exit
  --keep              keep the temporary directory (data, roots, configs)
  --help

Environment: BENCH_ROUNDS, BENCH_DURATION, BENCH_WARMUP (s), BENCH_CONNECTIONS (50),
BENCH_LIST_CONNECTIONS (4), BENCH_BLOB_MIB (512), BENCH_CHUNK_MIB (8), BENCH_BIG_MIB (2048), BENCH_CONCURRENT (32),
BENCH_CONCURRENT_MIB (16), BENCH_TAGS (10000), BENCH_REPOS (10000), BENCH_RSS_INTERVAL_MS (50),
BENCH_TMPDIR (os.tmpdir()), BENCH_JSON (results file), BENCH_MAX_MINUTES (45),
BENCH_CEILING_FSYNC (1), DOCKER_REGISTRY_BIN (/usr/bin/docker-registry); with --s3: BENCH_S3_BLOB_MIB (128,
--quick 64), S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION (as the tests: test/helpers/ceph.ts).
`

type WorkloadId = typeof WORKLOADS[number]
const RATE_WORKLOADS: readonly WorkloadId[] = ['manifest-get', 'manifest-head', 'blob-head', 'tags', 'catalog', 's3-manifest-get']
const isS3Workload = (id: WorkloadId): boolean => (S3_WORKLOADS as readonly string[]).includes(id)

interface Settings {
  quick: boolean
  rounds: number
  duration: number
  warmup: number
  connections: number
  listConnections: number
  blobMiB: number
  chunkMiB: number
  bigMiB: number
  concurrent: number
  concurrentMiB: number
  tags: number
  repositories: number
  rssIntervalMs: number
  tmp: string
  keep: boolean
  /** Run the S3 rows (--s3). */
  s3: boolean
  s3BlobMiB: number
  only: Set<WorkloadId>
  servers: Set<TargetName>
  cpuProfDir: string | undefined
  json: string
  maxMinutes: number
}

function fail (message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}`)
  process.exit(2)
}

function positive (name: string, raw: string | undefined, fallback: number, allowZero = false): number {
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) fail(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${raw}`)
  return value
}

function parseSettings (argv: readonly string[], env: NodeJS.ProcessEnv): Settings {
  const flags = new Map<string, string>()
  for (const arg of argv) {
    const match = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(arg)
    if (match === null) fail(`unknown argument: ${arg}`)
    flags.set(match[1], match[2] ?? '')
  }
  const known = new Set(['quick', 'rounds', 'duration', 'only', 'servers', 'cpu-prof', 'keep', 's3', 'help'])
  for (const flag of flags.keys()) if (!known.has(flag)) fail(`unknown option --${flag}`)
  if (flags.has('help')) {
    process.stdout.write(USAGE)
    process.exit(0)
  }
  const quick = flags.has('quick')
  const s3 = flags.has('s3')
  const only = new Set<WorkloadId>()
  for (const id of (flags.get('only') ?? '').split(',').filter((s) => s !== '')) {
    if (!(WORKLOADS as readonly string[]).includes(id)) fail(`unknown workload ${id}; known: ${WORKLOADS.join(', ')}`)
    if (!s3 && isS3Workload(id as WorkloadId)) fail(`${id} is an S3 row: add --s3 (and have an S3 server at S3_ENDPOINT)`)
    only.add(id as WorkloadId)
  }
  const servers = new Set<TargetName>()
  for (const name of (flags.get('servers') ?? 'ours,distribution,ceiling').split(',').filter((s) => s !== '')) {
    if (name !== 'ours' && name !== 'distribution' && name !== 'ceiling') fail(`unknown server ${name}; known: ours, distribution, ceiling`)
    servers.add(name)
  }
  const cpuProf = flags.get('cpu-prof')
  return {
    quick,
    rounds: Math.floor(positive('--rounds', flags.get('rounds') ?? env.BENCH_ROUNDS, quick ? 2 : 3)),
    duration: positive('--duration', flags.get('duration') ?? env.BENCH_DURATION, quick ? 3 : 10),
    warmup: positive('BENCH_WARMUP', env.BENCH_WARMUP, quick ? 0 : 1, true),
    connections: Math.floor(positive('BENCH_CONNECTIONS', env.BENCH_CONNECTIONS, 50)),
    listConnections: Math.floor(positive('BENCH_LIST_CONNECTIONS', env.BENCH_LIST_CONNECTIONS, 4)),
    blobMiB: Math.floor(positive('BENCH_BLOB_MIB', env.BENCH_BLOB_MIB, quick ? 128 : 512)),
    chunkMiB: Math.floor(positive('BENCH_CHUNK_MIB', env.BENCH_CHUNK_MIB, 8)),
    bigMiB: Math.floor(positive('BENCH_BIG_MIB', env.BENCH_BIG_MIB, quick ? 256 : 2048)),
    concurrent: Math.floor(positive('BENCH_CONCURRENT', env.BENCH_CONCURRENT, 32)),
    concurrentMiB: Math.floor(positive('BENCH_CONCURRENT_MIB', env.BENCH_CONCURRENT_MIB, quick ? 2 : 16)),
    tags: Math.floor(positive('BENCH_TAGS', env.BENCH_TAGS, 10_000)),
    repositories: Math.floor(positive('BENCH_REPOS', env.BENCH_REPOS, 10_000)),
    rssIntervalMs: positive('BENCH_RSS_INTERVAL_MS', env.BENCH_RSS_INTERVAL_MS, 50),
    tmp: env.BENCH_TMPDIR ?? tmpdir(),
    keep: flags.has('keep'),
    s3,
    s3BlobMiB: Math.floor(positive('BENCH_S3_BLOB_MIB', env.BENCH_S3_BLOB_MIB, quick ? 64 : 128)),
    only: only.size === 0 ? new Set(WORKLOADS.filter((id) => s3 || !isS3Workload(id))) : only,
    servers,
    cpuProfDir: cpuProf === undefined ? undefined : (cpuProf === '' ? fail('--cpu-prof needs a directory') : cpuProf),
    json: env.BENCH_JSON ?? fileURLToPath(new URL('../results.json', import.meta.url)),
    maxMinutes: positive('BENCH_MAX_MINUTES', env.BENCH_MAX_MINUTES, 45)
  }
}

/* ------------------------------------------------------------------ results */

/** Per-round figures: metric → target → one value a round. */
const results = new Map<string, Map<TargetName, number[]>>()
const failures: string[] = []

function record (metric: string, target: TargetName, value: number): void {
  let byTarget = results.get(metric)
  if (byTarget === undefined) results.set(metric, byTarget = new Map())
  let values = byTarget.get(target)
  if (values === undefined) byTarget.set(target, values = [])
  values.push(value)
}

const medianOf = (metric: string, target: TargetName): number => median(results.get(metric)?.get(target) ?? [])

const log = (message: string): void => { process.stderr.write(`${message}\n`) }

/* ---------------------------------------------------------------- machine */

function run (command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', timeout: 10_000 }).trim()
  } catch {
    return `(${command} failed)`
  }
}

const loadAtStart = loadavg()
const formatLoad = (load: number[]): string => load.map((value) => value.toFixed(2)).join(' ')

function machineDescription (settings: Settings): string {
  const s3 = [...settings.only].some(isS3Workload)
  return [
    `CPU: ${cpus()[0]?.model ?? 'unknown'}; nproc ${availableParallelism()}`,
    `Memory (free -h):\n${run('free', ['-h']).split('\n').map((line) => `  ${line}`).join('\n')}`,
    `Disk (df -hT ${settings.tmp}):\n${run('df', ['-hT', settings.tmp]).split('\n').map((line) => `  ${line}`).join('\n')}`,
    `Node ${process.version}; ${dockerRegistryVersion()} (${DOCKER_REGISTRY_BIN})`,
    `Load average (1/5/15 min) at start ${formatLoad(loadAtStart)}, at end ${formatLoad(loadavg())} (other processes share the cores)`,
    `Settings: ${settings.rounds} rounds, ${settings.duration} s runs (+${settings.warmup} s warm-up), ${settings.connections} connections (listings ${settings.listConnections}), ` +
      `blob ${settings.blobMiB} MiB, chunks ${settings.chunkMiB} MiB, RSS blob ${settings.bigMiB} MiB, ${settings.concurrent} × ${settings.concurrentMiB} MiB concurrent, ` +
      `${settings.tags} tags, ${settings.repositories} repositories`,
    ...(s3 ? [`S3 rows: ${S3_ENDPOINT}, one fresh bucket per registry, blob ${settings.s3BlobMiB} MiB, 10 MiB parts (both registries' default chunk size)`] : [])
  ].join('\n')
}

/* ---------------------------------------------------------------- the run */

interface RateSpec {
  method: 'GET' | 'HEAD'
  path: string
  headers: Record<string, string>
  connections: number
  /** Whether a warm-up run precedes the measured one (not for the slow listing rows). */
  warmup: boolean
  /** Which fixed-body ceiling measurement applies (measured once a round, shared by rows); none for the S3 rows. */
  ceiling?: 'ceiling-get' | 'ceiling-head'
}

interface Bench {
  settings: Settings
  agent: Agent
  data: RandomData
  targets: Map<TargetName, Target>
  /** The registries on S3 (the S3 rows), by the same names. */
  s3Targets: Map<TargetName, Target>
  layerDigest: Map<TargetName, string>
}

const PUSH_REPOSITORY = 'bench/push'
const APP_REPOSITORY = 'bench/app'
const APP_TAG = 'bench'

function rateSpec (id: WorkloadId, bench: Bench, target: TargetName): RateSpec {
  const { settings } = bench
  const manifest = `/v2/${APP_REPOSITORY}/manifests/${APP_TAG}`
  const accept = { accept: OCI_MANIFEST }
  const busy = { connections: settings.connections, warmup: true }
  const listing = { connections: settings.listConnections, warmup: false }
  switch (id) {
    case 'manifest-get': return { method: 'GET', path: manifest, headers: accept, ceiling: 'ceiling-get', ...busy }
    case 's3-manifest-get': return { method: 'GET', path: manifest, headers: accept, ...busy }
    case 'manifest-head': return { method: 'HEAD', path: manifest, headers: accept, ceiling: 'ceiling-head', ...busy }
    case 'blob-head': return { method: 'HEAD', path: `/v2/${APP_REPOSITORY}/blobs/${bench.layerDigest.get(target) ?? 'sha256:none'}`, headers: {}, ceiling: 'ceiling-head', ...busy }
    case 'tags': return { method: 'GET', path: `/v2/${TAGS_REPOSITORY}/tags/list?n=100&last=${tagName(Math.floor(settings.tags / 2))}`, headers: {}, ceiling: 'ceiling-get', ...listing }
    case 'catalog': return { method: 'GET', path: `/v2/_catalog?n=100&last=${catalogName(Math.floor(settings.repositories / 2))}`, headers: {}, ceiling: 'ceiling-get', ...listing }
    default: throw new Error(`${id} is not a request-rate workload`)
  }
}

/** Waits for every server to go idle, so leftovers of one run do not slow the next. */
async function settle (bench: Bench): Promise<void> {
  const waited = await waitIdle([...bench.targets.values(), ...bench.s3Targets.values()].map((target) => target.pid))
  if (waited > 2000) log(`    (waited ${(waited / 1000).toFixed(1)} s for the servers to go idle)`)
}

/** An optional warm-up run, then the measured run, of one request-rate row against one server. */
async function measureRate (bench: Bench, target: Target, spec: RateSpec, connections = spec.connections): Promise<Rate> {
  const { settings } = bench
  const url = `${target.url}${spec.path}`
  if (spec.warmup && settings.warmup > 0) {
    await rate(url, spec.method, spec.headers, connections, settings.warmup)
    await settle(bench)
  }
  return await rate(url, spec.method, spec.headers, connections, settings.duration)
}

/** What one round keeps per target between workloads: the monolithic blob (for GET) and blobs to drop at the end. */
interface RoundState { mono?: BlobBody, drop: string[] }

async function runTransfer (id: WorkloadId, bench: Bench, target: Target, state: RoundState): Promise<void> {
  const { settings, agent, data } = bench
  switch (id) {
    case 'mono':
    case 's3-mono': {
      const blob = freshBlob(data.path, regionFor(id, data))
      const transfer = await pushMonolithic(agent, target.url, PUSH_REPOSITORY, blob)
      state.mono = blob
      state.drop.push(blob.hex)
      record(id, target.name, mibPerSecond(transfer))
      return
    }
    case 'chunked': {
      const blob = freshBlob(data.path, data.blob)
      const transfer = await pushChunked(agent, target.url, PUSH_REPOSITORY, blob, settings.chunkMiB * MiB)
      state.drop.push(blob.hex)
      record('chunked', target.name, mibPerSecond(transfer))
      return
    }
    case 'get':
    case 's3-get': {
      let blob = state.mono
      if (blob === undefined) {
        // The monolithic row did not run (or failed): push a blob to read, untimed.
        blob = freshBlob(data.path, regionFor(id, data))
        await pushMonolithic(agent, target.url, PUSH_REPOSITORY, blob)
        state.mono = blob
        state.drop.push(blob.hex)
      }
      record(id, target.name, mibPerSecond(await pullBlob(agent, target.url, PUSH_REPOSITORY, blob.digest, blob.size)))
      return
    }
    case 'concurrent': {
      const blobs = data.pieces.map((piece) => freshBlob(data.path, piece))
      try {
        record('concurrent', target.name, mibPerSecond(await pushConcurrently(agent, target.url, PUSH_REPOSITORY, blobs)))
      } finally {
        for (const blob of blobs) await target.dropBlob(blob.hex)
      }
      return
    }
    case 'rss': {
      const blob = freshBlob(data.path, data.big)
      try {
        const push = await measureRss(target.pid, settings.rssIntervalMs, async () => await pushMonolithic(agent, target.url, PUSH_REPOSITORY, blob))
        record('rss-push', target.name, push.rss.growthMiB)
        record('rss-push-throughput', target.name, mibPerSecond(push.result))
        const pull = await measureRss(target.pid, settings.rssIntervalMs, async () => await pullBlob(agent, target.url, PUSH_REPOSITORY, blob.digest, blob.size))
        record('rss-pull', target.name, pull.rss.growthMiB)
        record('rss-pull-throughput', target.name, mibPerSecond(pull.result))
        log(`    rss ${target.name}: push ${push.rss.baselineMiB.toFixed(1)} → ${push.rss.peakMiB.toFixed(1)} MiB, pull ${pull.rss.baselineMiB.toFixed(1)} → ${pull.rss.peakMiB.toFixed(1)} MiB`)
      } finally {
        await target.dropBlob(blob.hex)
      }
      return
    }
    default: throw new Error(`${id} is not a transfer workload`)
  }
}

/** The region of the random file a push row sends: the S3 rows use a smaller one (BENCH_S3_BLOB_MIB). */
function regionFor (id: WorkloadId, data: RandomData): RandomData['blob'] {
  if (!isS3Workload(id)) return data.blob
  if (data.s3 === undefined) throw new Error('no S3 region in the random data')
  return data.s3
}

const TRANSFER_CEILINGS: ReadonlySet<WorkloadId> = new Set(['mono', 'chunked', 'get', 'concurrent'])

async function runRound (bench: Bench, round: number): Promise<void> {
  const { settings, targets } = bench
  const registries: TargetName[] = round % 2 === 1 ? ['ours', 'distribution'] : ['distribution', 'ours']
  // Per server process: the S3 registries keep their own monolithic blob for their GET row.
  const states = new Map<Target, RoundState>()
  const measuredCeilings = new Set<string>()
  log(`round ${round}/${settings.rounds}: ${registries.join(' then ')}`)
  for (const id of WORKLOADS) {
    if (!settings.only.has(id)) continue
    const isRate = RATE_WORKLOADS.includes(id)
    const order: TargetName[] = [...registries]
    if (!isRate && TRANSFER_CEILINGS.has(id)) order.push('ceiling')
    const pool = isS3Workload(id) ? bench.s3Targets : targets
    for (const name of order) {
      const target = pool.get(name)
      if (target === undefined) continue
      let state = states.get(target)
      if (state === undefined) states.set(target, state = { drop: [] })
      await settle(bench)
      const started = Date.now()
      try {
        let shown: string
        if (isRate) {
          const figures = await measureRate(bench, target, rateSpec(id, bench, name))
          record(id, name, figures.rps)
          record(`${id}-p50`, name, figures.p50)
          record(`${id}-p99`, name, figures.p99)
          shown = `${formatNumber(figures.rps, 1)} req/s, p50 ${formatNumber(figures.p50, 1)} ms, p99 ${formatNumber(figures.p99, 1)} ms, ${figures.requests} requests`
        } else {
          await runTransfer(id, bench, target, state)
          const metric = id === 'rss' ? 'rss-push' : id
          shown = `${formatNumber(results.get(metric)?.get(name)?.at(-1) ?? Number.NaN, 1)} ${id === 'rss' ? 'MiB growth' : 'MiB/s'}`
        }
        log(`  ${id.padEnd(13)} ${name.padEnd(12)} ${shown}  (${((Date.now() - started) / 1000).toFixed(1)} s)`)
      } catch (error) {
        const message = `round ${round} ${id} on ${name}: ${(error as Error).message}`
        failures.push(message)
        log(`  FAILED ${message}`)
        if (!alive(target)) throw new Error(`${name} is no longer running: ${target.output()}`)
      }
    }
    if (isRate) {
      // The ceiling ignores the path: one fixed-body GET and one HEAD run a round serve every row.
      const ceiling = targets.get('ceiling')
      const spec = rateSpec(id, bench, 'ceiling')
      if (ceiling !== undefined && spec.ceiling !== undefined && !measuredCeilings.has(spec.ceiling)) {
        measuredCeilings.add(spec.ceiling)
        await settle(bench)
        try {
          const figures = await measureRate(bench, ceiling, { ...spec, warmup: true }, settings.connections)
          record(spec.ceiling, 'ceiling', figures.rps)
          log(`  ${spec.ceiling.padEnd(13)} ${'ceiling'.padEnd(12)} ${formatNumber(figures.rps, 1)} req/s, p99 ${formatNumber(figures.p99, 1)} ms`)
        } catch (error) {
          failures.push(`round ${round} ${spec.ceiling}: ${(error as Error).message}`)
        }
      }
    }
  }
  for (const [target, state] of states) {
    for (const hex of state.drop) await target.dropBlob(hex)
  }
}

function alive (target: Target): boolean {
  try {
    process.kill(target.pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * One untimed pass of the transfer clients over every server (a few MiB each),
 * so the first round does not measure cold code paths.
 */
async function warmUp (bench: Bench): Promise<void> {
  const { agent, data, settings } = bench
  const region = { ...data.blob, length: Math.min(data.blob.length, 2 * settings.chunkMiB * MiB) }
  region.hash = createHash('sha256')
  const warmUpBytes = (await readRegion(data.path, region.length))
  region.hash.update(warmUpBytes)
  for (const target of bench.targets.values()) {
    const mono = freshBlob(data.path, region)
    await pushMonolithic(agent, target.url, PUSH_REPOSITORY, mono)
    await pullBlob(agent, target.url, PUSH_REPOSITORY, mono.digest, mono.size)
    const chunked = freshBlob(data.path, region)
    await pushChunked(agent, target.url, PUSH_REPOSITORY, chunked, settings.chunkMiB * MiB)
    for (const hex of [mono.hex, chunked.hex]) await target.dropBlob(hex)
  }
  if (bench.settings.only.has('s3-mono') || bench.settings.only.has('s3-get')) {
    for (const target of bench.s3Targets.values()) {
      const mono = freshBlob(data.path, region)
      await pushMonolithic(agent, target.url, PUSH_REPOSITORY, mono)
      await pullBlob(agent, target.url, PUSH_REPOSITORY, mono.digest, mono.size)
      await target.dropBlob(mono.hex)
    }
  }
  log('warmed up')
}

async function readRegion (path: string, length: number): Promise<Buffer> {
  const handle = await open(path, 'r')
  try {
    const buffer = Buffer.alloc(length)
    let offset = 0
    while (offset < length) {
      const { bytesRead } = await handle.read(buffer, offset, length - offset, offset)
      if (bytesRead === 0) throw new Error(`${path} is shorter than ${length} bytes`)
      offset += bytesRead
    }
    return buffer
  } finally {
    await handle.close()
  }
}

/** Pushes the small image and checks the request-rate URLs answer alike on both registries. */
async function prepareRateRows (bench: Bench): Promise<string[]> {
  const notes: string[] = []
  for (const name of ['ours', 'distribution'] as const) {
    const target = bench.targets.get(name)
    if (target === undefined) continue
    const image = await pushSmallImage(bench.agent, target.url, APP_REPOSITORY, APP_TAG)
    bench.layerDigest.set(name, image.layerDigest)
    const sizes: string[] = []
    for (const id of ['manifest-get', 'tags', 'catalog'] as const) {
      if (!bench.settings.only.has(id)) continue
      const spec = rateSpec(id, bench, name)
      const sent = await getText(bench.agent, `${target.url}${spec.path}`, spec.headers)
      if (sent.status !== 200) throw new Error(`${name} ${spec.path}: ${sent.status} ${sent.text.slice(0, 300)}`)
      let entries = ''
      if (id !== 'manifest-get') {
        const parsed = JSON.parse(sent.text) as { tags?: unknown[], repositories?: unknown[] }
        entries = `, ${(parsed.tags ?? parsed.repositories ?? []).length} entries`
      }
      sizes.push(`${id} ${sent.text.length} B${entries}`)
    }
    notes.push(`${name}: ${sizes.join('; ')}`)
  }
  if (bench.settings.only.has('s3-manifest-get')) {
    for (const target of bench.s3Targets.values()) {
      await pushSmallImage(bench.agent, target.url, APP_REPOSITORY, APP_TAG)
      const spec = rateSpec('s3-manifest-get', bench, target.name)
      const sent = await getText(bench.agent, `${target.url}${spec.path}`, spec.headers)
      if (sent.status !== 200) throw new Error(`${target.name} on S3 ${spec.path}: ${sent.status} ${sent.text.slice(0, 300)}`)
      notes.push(`${target.name} on S3: s3-manifest-get ${sent.text.length} B`)
    }
  }
  return notes
}

/* ---------------------------------------------------------------- the table */

interface Row {
  label: string
  metric: string
  digits: number
  /** Metric holding the ceiling figure, if one applies. */
  ceiling?: string
  target?: { text: string, pass: (ours: number, distribution: number, ceiling: number) => boolean }
}

function rows (settings: Settings): Row[] {
  const atLeast = (factor: number) => ({ text: `≥${factor.toFixed(1)}× dist`, pass: (ours: number, distribution: number) => ours / distribution >= factor })
  const lowerThanDist = { text: '< dist', pass: (ours: number, distribution: number) => ours < distribution }
  const under64 = { text: '< 64 MiB', pass: (ours: number) => ours < 64 }
  const c = settings.connections
  const all: Array<Row & { id: WorkloadId }> = [
    { id: 'mono', label: `Monolithic push POST+PUT, ${settings.blobMiB} MiB (MiB/s)`, metric: 'mono', digits: 1, ceiling: 'mono', target: { text: '≥1.3× dist, ≥85% ceil', pass: (ours, distribution, ceiling) => ours / distribution >= 1.3 && ours / ceiling >= 0.85 } },
    { id: 'chunked', label: `Chunked push, ${settings.chunkMiB} MiB PATCHes (MiB/s)`, metric: 'chunked', digits: 1, ceiling: 'chunked', target: atLeast(3) },
    { id: 'get', label: `Blob GET, ${settings.blobMiB} MiB (MiB/s)`, metric: 'get', digits: 1, ceiling: 'get', target: atLeast(1) },
    { id: 'concurrent', label: `${settings.concurrent} concurrent pushes × ${settings.concurrentMiB} MiB (MiB/s)`, metric: 'concurrent', digits: 1, ceiling: 'concurrent', target: atLeast(1) },
    { id: 'rss', label: `RSS growth, ${settings.bigMiB} MiB push (MiB)`, metric: 'rss-push', digits: 1, target: under64 },
    { id: 'rss', label: `RSS growth, ${settings.bigMiB} MiB pull (MiB)`, metric: 'rss-pull', digits: 1, target: under64 },
    { id: 'manifest-get', label: `Manifest GET by tag, ${c} conns (req/s)`, metric: 'manifest-get', digits: 0, ceiling: 'ceiling-get', target: atLeast(10) },
    { id: 'manifest-get', label: '  … p50 latency (ms)', metric: 'manifest-get-p50', digits: 2 },
    { id: 'manifest-get', label: '  … p99 latency (ms)', metric: 'manifest-get-p99', digits: 2, target: lowerThanDist },
    { id: 'manifest-head', label: `Manifest HEAD by tag, ${c} conns (req/s)`, metric: 'manifest-head', digits: 0, ceiling: 'ceiling-head', target: atLeast(10) },
    { id: 'manifest-head', label: '  … p50 latency (ms)', metric: 'manifest-head-p50', digits: 2 },
    { id: 'manifest-head', label: '  … p99 latency (ms)', metric: 'manifest-head-p99', digits: 2, target: lowerThanDist },
    { id: 'blob-head', label: `Blob HEAD, ${c} conns (req/s)`, metric: 'blob-head', digits: 0, ceiling: 'ceiling-head', target: atLeast(5) },
    { id: 'blob-head', label: '  … p99 latency (ms)', metric: 'blob-head-p99', digits: 2 },
    { id: 'tags', label: `Tags list n=100 of ${settings.tags}, ${settings.listConnections} conns (req/s)`, metric: 'tags', digits: 1, ceiling: 'ceiling-get' },
    { id: 'tags', label: '  … p99 latency (ms)', metric: 'tags-p99', digits: 2 },
    { id: 'catalog', label: `Catalog n=100 of ${settings.repositories}, ${settings.listConnections} conns (req/s)`, metric: 'catalog', digits: 1, ceiling: 'ceiling-get' },
    { id: 'catalog', label: '  … p99 latency (ms)', metric: 'catalog-p99', digits: 2 },
    { id: 's3-mono', label: `S3: monolithic push POST+PUT, ${settings.s3BlobMiB} MiB (MiB/s)`, metric: 's3-mono', digits: 1 },
    { id: 's3-get', label: `S3: blob GET, ${settings.s3BlobMiB} MiB (MiB/s)`, metric: 's3-get', digits: 1 },
    { id: 's3-manifest-get', label: `S3: manifest GET by tag, ${c} conns (req/s)`, metric: 's3-manifest-get', digits: 0 },
    { id: 's3-manifest-get', label: '  … p50 latency (ms)', metric: 's3-manifest-get-p50', digits: 2 },
    { id: 's3-manifest-get', label: '  … p99 latency (ms)', metric: 's3-manifest-get-p99', digits: 2 }
  ]
  return all.filter((row) => settings.only.has(row.id))
}

function table (settings: Settings): string {
  const body = rows(settings).map((row) => {
    const ours = medianOf(row.metric, 'ours')
    const distribution = medianOf(row.metric, 'distribution')
    const ceiling = row.ceiling === undefined ? Number.NaN : medianOf(row.ceiling, 'ceiling')
    const ratio = ours / distribution
    let verdict = '—'
    if (row.target !== undefined) {
      const pass = row.target.pass(ours, distribution, ceiling)
      const known = Number.isFinite(ours) && (Number.isFinite(distribution) || row.target.text.startsWith('< 64'))
      verdict = `${row.target.text} ${known ? (pass ? '✓' : '✗') : '?'}`
    }
    return [
      row.label,
      formatNumber(ours, row.digits),
      formatNumber(distribution, row.digits),
      Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '—',
      formatNumber(ceiling, row.digits),
      Number.isFinite(ceiling) && Number.isFinite(ours) ? `${(100 * ours / ceiling).toFixed(0)}%` : '—',
      verdict
    ]
  })
  return markdownTable(['Workload', 'Ours', 'Distribution', 'Ours/dist', 'Ceiling', 'Ours % ceil', 'Target'], body)
}

/* ---------------------------------------------------------------- main */

async function main (): Promise<void> {
  const settings = parseSettings(process.argv.slice(2), process.env)
  if (settings.servers.has('distribution')) ensureDockerRegistry()
  const watchdog = setTimeout(() => {
    log(`bench exceeded BENCH_MAX_MINUTES=${settings.maxMinutes}: killing the servers`)
    killAllChildren()
    process.exit(3)
  }, settings.maxMinutes * 60_000)
  watchdog.unref()

  const dir = await mkdtemp(join(settings.tmp, 'oci-bench-'))
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping the servers`)
    killAllChildren()
    if (!settings.keep) {
      try {
        // Retries: file operations already queued (seeding) may still land while this runs.
        rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 })
      } catch (error) {
        log(`could not remove ${dir}: ${(error as Error).message}`)
      }
    }
    process.exit(130)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  const targets = new Map<TargetName, Target>()
  const s3Targets = new Map<TargetName, Target>()
  const buckets: BenchBucket[] = []
  const agent = createAgent()
  const started = Date.now()
  try {
    log(`temporary directory ${dir}`)
    const needsRandom = [...settings.only].some((id) => !RATE_WORKLOADS.includes(id))
    const generateStarted = Date.now()
    const s3Rows = [...settings.only].filter(isS3Workload)
    const fileRows = [...settings.only].filter((id) => !isS3Workload(id))
    const needsFileBlobs = fileRows.some((id) => !RATE_WORKLOADS.includes(id))
    const s3MiB = s3Rows.some((id) => !RATE_WORKLOADS.includes(id)) ? settings.s3BlobMiB : undefined
    const data = await generateRandomFile(join(dir, 'random.bin'), needsFileBlobs
      ? { ...settings, s3MiB }
      : { blobMiB: Math.min(settings.blobMiB, 16), bigMiB: 1, concurrent: 1, concurrentMiB: 1, s3MiB })
    log(`random data: ${data.size / MiB} MiB in ${((Date.now() - generateStarted) / 1000).toFixed(1)} s`)

    // The filesystem servers run only for the filesystem rows.
    const fileServers = new Set([...settings.servers].filter(() => fileRows.length > 0))
    await Promise.all((['ours', 'distribution'] as const).filter((name) => fileServers.has(name)).map(async (name) => {
      const root = join(dir, name)
      await mkdir(root, { recursive: true })
      if (settings.only.has('tags') || settings.only.has('catalog')) await seedListings(root, settings.tags, settings.repositories)
    }))
    log(`roots: ${((Date.now() - generateStarted) / 1000).toFixed(1)} s since the data began`)
    // Flush the seeded files and anything else dirty, so writeback does not overlap the first measurements.
    execFileSync('sync', [], { timeout: 120_000 })
    log(settings.only.has('tags') || settings.only.has('catalog') ? `seeded ${settings.tags} tags and ${settings.repositories} repositories` : 'roots ready')
    if (settings.cpuProfDir !== undefined) await mkdir(settings.cpuProfDir, { recursive: true })
    if (fileServers.has('ours')) targets.set('ours', await startOurs(join(dir, 'ours'), { cpuProfDir: settings.cpuProfDir }))
    if (fileServers.has('distribution')) targets.set('distribution', await startDistribution(join(dir, 'distribution'), dir))
    if (fileServers.has('ceiling')) targets.set('ceiling', await startCeiling(join(dir, 'ceiling')))
    if (s3Rows.length > 0) {
      // A fresh bucket each, so neither registry sees the other's objects (or a previous run's).
      for (const name of (['ours', 'distribution'] as const).filter((name) => settings.servers.has(name))) {
        const bucket = await createBenchBucket(name)
        buckets.push(bucket)
        log(`bucket ${bucket.bucket} at ${bucket.endpoint} for ${name}`)
        s3Targets.set(name, name === 'ours'
          ? await startOursS3(bucket, { cpuProfDir: targets.has('ours') ? undefined : settings.cpuProfDir })
          : await startDistributionS3(bucket, dir))
      }
    }
    log(`servers: ${[...targets.values(), ...s3Targets.values()].map((t) => `${t.name}${s3Targets.get(t.name) === t ? ' on S3' : ''} ${t.url} (pid ${t.pid})`).join(', ')}`)

    const bench: Bench = { settings, agent, data, targets, s3Targets, layerDigest: new Map() }
    const notes = RATE_WORKLOADS.some((id) => settings.only.has(id)) ? await prepareRateRows(bench) : []
    for (const note of notes) log(`responses: ${note}`)

    if (needsRandom) await warmUp(bench)
    for (let round = 1; round <= settings.rounds; round++) await runRound(bench, round)

    const elapsed = (Date.now() - started) / 1000
    const output = [
      '',
      machineDescription(settings),
      '',
      table(settings),
      '',
      `Medians of ${settings.rounds} rounds; bench time ${Math.floor(elapsed / 60)} min ${Math.round(elapsed % 60)} s.`,
      ...(failures.length > 0 ? ['', `${failures.length} failed measurements (excluded from the medians):`, ...failures.map((f) => `  - ${f}`)] : []),
      ''
    ].join('\n')
    process.stdout.write(output)
    await writeFile(settings.json, JSON.stringify({
      date: new Date().toISOString(),
      settings: { ...settings, only: [...settings.only], servers: [...settings.servers] },
      machine: machineDescription(settings),
      responses: notes,
      results: Object.fromEntries([...results].map(([metric, byTarget]) => [metric, Object.fromEntries(byTarget)])),
      failures
    }, null, 2))
    log(`per-round figures written to ${settings.json}`)
    if (failures.length > 0) process.exitCode = 1
  } finally {
    await agent.close().catch(() => {})
    await Promise.all([...targets.values(), ...s3Targets.values()].map(async (target) => { await target.stop() }))
    killAllChildren()
    for (const bucket of buckets) {
      await bucket.remove().catch((error: unknown) => { log(`could not remove bucket ${bucket.bucket}: ${(error as Error).message}`) })
    }
    if (settings.keep) log(`kept ${dir}`)
    else await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 })
    clearTimeout(watchdog)
  }
}

main().catch((error: unknown) => {
  killAllChildren()
  process.stderr.write(`bench failed: ${(error as Error)?.stack ?? String(error)}\n`)
  process.exit(1)
})
