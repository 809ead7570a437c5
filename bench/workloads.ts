import { createHash } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { Readable } from 'node:stream'
import autocannon, { type Client, type Result } from 'autocannon'
import { Agent, request, type Dispatcher } from 'undici'
import { blobBytes, MiB, type BlobBody } from './data.js'
import { rssKiB } from './servers.js'

/**
 * The client side of every row. The same functions run against our registry,
 * distribution and the ceiling server; only the base URL differs.
 */

/** No single request may take longer than this (the 2 GiB transfers included). */
const REQUEST_TIMEOUT_MS = 10 * 60_000

export function createAgent (): Agent {
  return new Agent({
    connections: 128,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 60_000,
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS
  })
}

type Body = Dispatcher.DispatchOptions['body']

/** A byte stream (not object mode) over the generator, which undici sends as the request body. */
const streamOf = (source: AsyncIterable<Buffer>): Readable => Readable.from(source, { objectMode: false, highWaterMark: MiB })

interface Sent {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
}

/** One request whose (small) response body is read whole. */
async function send (agent: Agent, url: string, method: Dispatcher.HttpMethod, headers: Record<string, string> = {}, body?: Body): Promise<Sent> {
  const response = await request(url, { dispatcher: agent, method, headers, body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  const text = await response.body.text()
  return { status: response.statusCode, headers: response.headers, text }
}

function expect (sent: Sent, status: number, what: string): void {
  if (sent.status !== status) throw new Error(`${what}: expected ${status}, got ${sent.status}: ${sent.text.slice(0, 500)}`)
}

function location (sent: Sent, base: string, what: string): URL {
  const value = sent.headers.location
  const single = Array.isArray(value) ? value[0] : value
  if (single === undefined) throw new Error(`${what}: no Location header`)
  return new URL(single, base)
}

async function startUpload (agent: Agent, base: string, repository: string): Promise<URL> {
  const sent = await send(agent, `${base}/v2/${repository}/blobs/uploads/`, 'POST', { 'content-length': '0' })
  expect(sent, 202, 'POST blobs/uploads/')
  return location(sent, base, 'POST blobs/uploads/')
}

function withDigest (url: URL, digest: string): string {
  const next = new URL(url)
  next.searchParams.set('digest', digest)
  return next.toString()
}

export interface Transfer { bytes: number, ms: number }

export const mibPerSecond = (transfer: Transfer): number => (transfer.bytes / MiB) / (transfer.ms / 1000)

/** POST, then one PUT carrying the whole body (how docker and containerd push a layer). */
export async function pushMonolithic (agent: Agent, base: string, repository: string, blob: BlobBody): Promise<Transfer> {
  const started = performance.now()
  const upload = await startUpload(agent, base, repository)
  const sent = await send(agent, withDigest(upload, blob.digest), 'PUT', {
    'content-type': 'application/octet-stream',
    'content-length': String(blob.size)
  }, streamOf(blobBytes(blob)))
  expect(sent, 201, 'monolithic PUT')
  return { bytes: blob.size, ms: performance.now() - started }
}

/** POST, PATCHes of `chunkSize` bytes with Content-Range (the last carries the remainder), then an empty PUT. */
export async function pushChunked (agent: Agent, base: string, repository: string, blob: BlobBody, chunkSize: number): Promise<Transfer> {
  const started = performance.now()
  let next = await startUpload(agent, base, repository)
  const chunks = Math.max(1, Math.floor(blob.size / chunkSize))
  for (let i = 0; i < chunks; i++) {
    const from = i * chunkSize
    const to = i === chunks - 1 ? blob.size : from + chunkSize
    const sent = await send(agent, next.toString(), 'PATCH', {
      'content-type': 'application/octet-stream',
      'content-length': String(to - from),
      'content-range': `${from}-${to - 1}`
    }, streamOf(blobBytes(blob, from, to)))
    expect(sent, 202, `PATCH chunk ${i + 1}/${chunks}`)
    next = location(sent, base, 'PATCH')
  }
  const sent = await send(agent, withDigest(next, blob.digest), 'PUT', { 'content-length': '0' })
  expect(sent, 201, 'chunked PUT')
  return { bytes: blob.size, ms: performance.now() - started }
}

/** GET of a blob, the body discarded as it arrives (its length is checked). */
export async function pullBlob (agent: Agent, base: string, repository: string, digest: string, size: number): Promise<Transfer> {
  const started = performance.now()
  const response = await request(`${base}/v2/${repository}/blobs/${digest}`, { dispatcher: agent, method: 'GET', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  if (response.statusCode !== 200) {
    const text = await response.body.text()
    throw new Error(`GET blob: expected 200, got ${response.statusCode}: ${text.slice(0, 500)}`)
  }
  let received = 0
  for await (const chunk of response.body) received += (chunk as Buffer).length
  if (received !== size) throw new Error(`GET blob: received ${received} bytes, expected ${size}`)
  return { bytes: received, ms: performance.now() - started }
}

/** Every blob pushed monolithically at once; the figure is total bytes over the wall time of the slowest. */
export async function pushConcurrently (agent: Agent, base: string, repository: string, blobs: BlobBody[]): Promise<Transfer> {
  const started = performance.now()
  await Promise.all(blobs.map(async (blob) => await pushMonolithic(agent, base, repository, blob)))
  return { bytes: blobs.reduce((sum, blob) => sum + blob.size, 0), ms: performance.now() - started }
}

export interface RssGrowth { baselineMiB: number, peakMiB: number, growthMiB: number, samples: number }

/**
 * Runs `work` while sampling the process's VmRSS every `intervalMs`; the
 * growth is the peak seen minus the RSS just before `work` started.
 */
export async function measureRss<T> (pid: number, intervalMs: number, work: () => Promise<T>): Promise<{ rss: RssGrowth, result: T }> {
  const baseline = await rssKiB(pid)
  if (baseline === undefined) throw new Error(`cannot read /proc/${pid}/status`)
  let peak = baseline
  let samples = 0
  let sampling = false
  const timer = setInterval(() => {
    if (sampling) return
    sampling = true
    rssKiB(pid).then((kib) => {
      if (kib !== undefined) {
        samples++
        if (kib > peak) peak = kib
      }
    }, () => {}).finally(() => { sampling = false })
  }, intervalMs)
  try {
    const result = await work()
    const last = await rssKiB(pid)
    if (last !== undefined && last > peak) peak = last
    return { rss: { baselineMiB: baseline / 1024, peakMiB: peak / 1024, growthMiB: (peak - baseline) / 1024, samples }, result }
  } finally {
    clearInterval(timer)
  }
}

/** http-parser-js's slot for the headers-complete callback (HTTPParser.kOnHeadersComplete). */
const ON_HEADERS_COMPLETE = 2

/**
 * autocannon's parser waits for Content-Length bytes after a HEAD response's
 * headers, so a HEAD run would complete nothing. Returning true from the
 * headers-complete callback tells http-parser-js there is no body. The
 * callback is installed right after setupClient returns, hence the microtask.
 */
function skipBodiesOfHeadResponses (client: Client): void {
  queueMicrotask(() => {
    const original = client.parser[ON_HEADERS_COMPLETE]
    client.parser[ON_HEADERS_COMPLETE] = (...args: unknown[]): unknown => {
      original.apply(client.parser, args)
      return true
    }
  })
}

export interface Rate {
  rps: number
  /** Latency percentiles in ms; NaN when no request completed. */
  p50: number
  p99: number
  requests: number
}

/**
 * One autocannon run against one URL. Any error, timeout or non-2xx answer
 * fails the run. A run in which no request completed (every request slower
 * than the run) gives 0 req/s: requests still in flight at the end are not
 * counted, so with c connections, figures below about c / duration are
 * lower bounds.
 */
export async function rate (url: string, method: 'GET' | 'HEAD', headers: Record<string, string>, connections: number, durationSeconds: number): Promise<Rate> {
  const result: Result = await autocannon({
    url,
    method,
    headers,
    connections,
    duration: durationSeconds,
    timeout: 120,
    ...(method === 'HEAD' ? { setupClient: skipBodiesOfHeadResponses } : {})
  })
  if (result.errors > 0 || result.timeouts > 0 || result.non2xx > 0) {
    throw new Error(`autocannon ${method} ${url}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx (${JSON.stringify(result.statusCodeStats)})`)
  }
  const completed = result['2xx']
  return {
    rps: completed / result.duration,
    p50: completed === 0 ? Number.NaN : result.latency.p50,
    p99: completed === 0 ? Number.NaN : result.latency.p99,
    requests: completed
  }
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'

/** Pushes a tiny image (config, one layer, an OCI manifest) and tags it. */
export async function pushSmallImage (agent: Agent, base: string, repository: string, tag: string): Promise<{ manifestDigest: string, layerDigest: string, manifestSize: number }> {
  const digestOf = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: {} }))
  const layer = Buffer.alloc(4096, 7)
  for (const bytes of [config, layer]) {
    const upload = await startUpload(agent, base, repository)
    const sent = await send(agent, withDigest(upload, digestOf(bytes)), 'PUT', { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) }, bytes)
    expect(sent, 201, 'small blob PUT')
  }
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(layer), size: layer.length }]
  }))
  const sent = await send(agent, `${base}/v2/${repository}/manifests/${tag}`, 'PUT', { 'content-type': OCI_MANIFEST, 'content-length': String(manifest.length) }, manifest)
  expect(sent, 201, 'manifest PUT')
  return { manifestDigest: digestOf(manifest), layerDigest: digestOf(layer), manifestSize: manifest.length }
}

/** One GET whose status must be 200; returns the body (to check what a request-rate row answers). */
export async function getText (agent: Agent, url: string, headers: Record<string, string> = {}): Promise<Sent> {
  return await send(agent, url, 'GET', headers)
}
