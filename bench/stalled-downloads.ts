import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { killAllChildren, rssKiB, startOurs } from './servers.js'
import { markdownTable } from './stats.js'

/**
 * Stalled downloads (issue 20, point 6): the standalone serves one blob from the
 * filesystem to `--clients` raw connections that send the GET and then read
 * nothing. Its VmRSS (/proc/<pid>/status) is sampled every 100 ms until the peak
 * has not moved for 2 s (at most 30 s), before and after; then one honest
 * download runs while they are all stalled.
 *
 *   npx tsc -p bench/tsconfig.json && node dist-bench/bench/stalled-downloads.js [--clients=200] [--mib=8]
 *   BENCH_OURS_SCRIPT=/elsewhere/dist/examples/standalone.js node dist-bench/bench/stalled-downloads.js   (another build)
 */

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

function argument (name: string, fallback: number): number {
  const found = process.argv.find((value) => value.startsWith(`--${name}=`))
  return found === undefined ? fallback : Number(found.slice(name.length + 3))
}

async function stalledGet (url: URL, path: string): Promise<Socket> {
  const socket = connect({ host: url.hostname, port: Number(url.port) })
  socket.pause()
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve).once('error', reject) })
  socket.on('error', () => {})
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`)
  return socket
}

async function main (): Promise<void> {
  const clients = argument('clients', 200)
  const mib = argument('mib', 8)
  const root = await mkdtemp(join(process.env.BENCH_TMPDIR ?? tmpdir(), 'stalled-downloads-'))
  const ours = await startOurs(root)
  const sockets: Socket[] = []
  try {
    const blob = randomBytes(mib * 1024 * 1024)
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`
    const push = await request(`${ours.url}/v2/bench/stalled/blobs/uploads/?digest=${digest}`, { method: 'POST', body: blob, headers: { 'content-type': 'application/octet-stream' } })
    await push.body.text()
    if (push.statusCode !== 201) throw new Error(`push answered ${push.statusCode}`)
    const path = `/v2/bench/stalled/blobs/${digest}`
    const download = async (): Promise<number> => {
      const started = Date.now()
      const response = await request(`${ours.url}${path}`)
      const body = Buffer.from(await response.body.arrayBuffer())
      if (`sha256:${createHash('sha256').update(body).digest('hex')}` !== digest) throw new Error('a download got the wrong bytes')
      return Date.now() - started
    }
    await download()
    await download()
    await sleep(500)
    const before = (await rssKiB(ours.pid))! / 1024

    for (let i = 0; i < clients; i++) sockets.push(await stalledGet(new URL(ours.url), path))
    let peak = 0
    const started = Date.now()
    let moved = Date.now()
    while (Date.now() - moved < 2000 && Date.now() - started < 30_000) {
      const rss = ((await rssKiB(ours.pid)) ?? 0) / 1024
      if (rss > peak + 4) moved = Date.now()
      peak = Math.max(peak, rss)
      await sleep(100)
    }
    const honest = await Promise.race([download(), sleep(60_000).then(() => Number.NaN)])
    for (const socket of sockets) socket.destroy()
    await sleep(1000)
    const after = ((await rssKiB(ours.pid)) ?? 0) / 1024

    process.stdout.write(`${process.env.BENCH_OURS_SCRIPT ?? 'dist/examples/standalone.js'}: ${clients} stalled downloads of a ${mib} MiB blob\n`)
    process.stdout.write(`${markdownTable(['RSS before (MiB)', 'peak stalled (MiB)', 'growth (MiB)', 'per stalled client (KiB)', 'honest GET meanwhile (ms)', 'RSS after they go (MiB)'], [[
      before.toFixed(0), peak.toFixed(0), (peak - before).toFixed(0), ((peak - before) * 1024 / clients).toFixed(0), Number.isNaN(honest) ? 'none in 60 s' : String(honest), after.toFixed(0)
    ]])}\n`)
  } finally {
    for (const socket of sockets) socket.destroy()
    await ours.stop()
    await rm(root, { recursive: true, force: true })
  }
}

main().catch((error: unknown) => {
  killAllChildren()
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`)
  process.exit(1)
})
