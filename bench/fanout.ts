import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Agent, request } from 'undici'

/**
 * Fan-out over storage (issue 20, point 4), timed by hand: the standalone
 * under `prlimit --nofile=<n>` (default 1024), blobs and tags seeded straight
 * onto disk, then each request of the issue timed once, with the server's RSS
 * before and after and the slowest `GET /v2/` probe (every 20 ms) meanwhile.
 *
 *   npx tsc -p tsconfig.build.json
 *   npx tsc bench/fanout.ts --rootDir . --outDir dist-bench --module nodenext --moduleResolution nodenext --target es2022 --skipLibCheck
 *   node dist-bench/bench/fanout.js [--nofile=1024] [--layers=37000] [--tags=20000] [--pagetags=100000]
 */

const SCRIPT = fileURLToPath(new URL('../../dist/examples/standalone.js', import.meta.url))
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const dispatcher = new Agent({ connections: 64 })

function argument (name: string, fallback: number): number {
  const found = process.argv.find((value) => value.startsWith(`--${name}=`))
  return found === undefined ? fallback : Number(found.slice(name.length + 3))
}

function hexOf (content: Uint8Array): string {
  return createHash('sha256').update(content).digest('hex')
}

async function parallel (count: number, work: (index: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: 32 }, async () => { while (next < count) await work(next++) }))
}

async function freePort (): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  return typeof address === 'object' && address !== null ? address.port : 0
}

async function rssMiB (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024
}

interface Timed { status: number, ms: number, body: string, link: string | undefined }

async function timed (url: string, method: 'GET' | 'PUT' | 'DELETE', body?: Buffer): Promise<Timed> {
  const started = performance.now()
  const response = await request(url, { method, body, headers: body === undefined ? {} : { 'content-type': OCI_MANIFEST }, dispatcher })
  const text = await response.body.text()
  const link = response.headers.link
  return { status: response.statusCode, ms: performance.now() - started, body: text, link: typeof link === 'string' ? link : undefined }
}

async function main (): Promise<void> {
  const nofile = argument('nofile', 1024)
  const layers = argument('layers', 37_000)
  const tagCount = argument('tags', 20_000)
  const pageTags = argument('pagetags', 100_000)
  const root = await mkdtemp(join(process.env.BENCH_TMPDIR ?? tmpdir(), 'fanout-'))
  const v2 = join(root, 'docker', 'registry', 'v2')
  let child: ChildProcess | undefined
  try {
    let started = performance.now()
    const blobs: Array<{ digest: string, size: number }> = []
    await parallel(layers + 1, async (index) => {
      const content = Buffer.from(String(index))
      const hex = hexOf(content)
      await mkdir(join(v2, 'blobs', 'sha256', hex.slice(0, 2), hex), { recursive: true })
      await writeFile(join(v2, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data'), content)
      await mkdir(join(v2, 'repositories', 'big', '_layers', 'sha256', hex), { recursive: true })
      await writeFile(join(v2, 'repositories', 'big', '_layers', 'sha256', hex, 'link'), `sha256:${hex}`)
      blobs[index] = { digest: `sha256:${hex}`, size: content.length }
    })
    process.stderr.write(`seeded ${layers + 1} blobs in ${(performance.now() - started).toFixed(0)} ms\n`)
    const manifestOf = (count: number): Buffer => Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...blobs[0] },
      layers: blobs.slice(1, count + 1).map((blob) => ({ mediaType: 'a/b', ...blob }))
    }))
    const small = manifestOf(0)
    const smallDigest = `sha256:${hexOf(small)}`
    const seedTags = async (name: string, count: number, width: number): Promise<string[]> => {
      started = performance.now()
      await mkdir(join(v2, 'repositories', name, '_layers', 'sha256', blobs[0].digest.slice(7)), { recursive: true })
      await writeFile(join(v2, 'repositories', name, '_layers', 'sha256', blobs[0].digest.slice(7), 'link'), blobs[0].digest)
      await mkdir(join(v2, 'repositories', name, '_manifests', 'revisions', 'sha256', smallDigest.slice(7)), { recursive: true })
      await writeFile(join(v2, 'repositories', name, '_manifests', 'revisions', 'sha256', smallDigest.slice(7), 'link'), smallDigest)
      const hex = smallDigest.slice(7)
      await mkdir(join(v2, 'blobs', 'sha256', hex.slice(0, 2), hex), { recursive: true })
      await writeFile(join(v2, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data'), small)
      const tags = Array.from({ length: count }, (_unused, i) => `v${String(i).padStart(width, '0')}`)
      await parallel(count, async (index) => {
        await mkdir(join(v2, 'repositories', name, '_manifests', 'tags', tags[index], 'current'), { recursive: true })
        await writeFile(join(v2, 'repositories', name, '_manifests', 'tags', tags[index], 'current', 'link'), smallDigest)
      })
      process.stderr.write(`seeded ${count} tags in ${name} in ${(performance.now() - started).toFixed(0)} ms\n`)
      return tags
    }
    await seedTags('tags3k', 3000, 4)
    await seedTags('tagsmany', tagCount, 6)
    const pageTagNames = await seedTags('tagspage', pageTags, 6)

    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    child = spawn('prlimit', [`--nofile=${nofile}:${nofile}`, process.execPath, SCRIPT], {
      env: { ...process.env, REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`, REGISTRY_LOG_LEVEL: 'warn', REGISTRY_HTTP_SECRET: 'bench', REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root, REGISTRY_STORAGE_DELETE_ENABLED: 'true' },
      stdio: ['ignore', 'inherit', 'inherit']
    })
    for (let attempt = 0; ; attempt++) {
      try {
        if ((await timed(`${url}/v2/`, 'GET')).status === 200) break
      } catch {}
      if (attempt > 400) throw new Error('the registry did not start')
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const pid = child.pid!
    const rows: string[][] = [['request', 'status', 'ms', 'RSS before MiB', 'RSS after MiB', 'slowest GET /v2/ ms']]
    const measure = async (label: string, run: () => Promise<Timed>, check: (answer: Timed) => string | undefined = () => undefined): Promise<Timed> => {
      const before = await rssMiB(pid)
      let probing = true
      let slowest = 0
      const probes = (async () => {
        while (probing) {
          const probe = await timed(`${url}/v2/`, 'GET')
          slowest = Math.max(slowest, probe.ms)
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
      })()
      const answer = await run()
      probing = false
      await probes
      const after = await rssMiB(pid)
      const problem = check(answer)
      rows.push([label, String(answer.status) + (problem === undefined ? '' : ` (${problem})`), answer.ms.toFixed(0), before.toFixed(0), after.toFixed(0), slowest.toFixed(0)])
      process.stderr.write(`${rows[rows.length - 1].join('  ')}\n`)
      return answer
    }
    await measure('PUT manifest, 1,100 layers', async () => await timed(`${url}/v2/big/manifests/l1100`, 'PUT', manifestOf(1100)))
    const big = manifestOf(layers)
    await measure(`PUT manifest, ${layers} layers (${(big.length / 1048576).toFixed(2)} MiB)`, async () => await timed(`${url}/v2/big/manifests/l${layers}`, 'PUT', big))
    await measure(`PUT manifest, ${layers} layers again (links cached)`, async () => await timed(`${url}/v2/big/manifests/again`, 'PUT', big))
    await measure('GET tags/list, 3,000 tags', async () => await timed(`${url}/v2/tags3k/tags/list`, 'GET'), (a) => JSON.parse(a.body).tags.length === 3000 ? undefined : 'wrong count')
    await measure(`GET tags/list, ${tagCount} tags`, async () => await timed(`${url}/v2/tagsmany/tags/list`, 'GET'), (a) => JSON.parse(a.body).tags.length === tagCount ? undefined : 'wrong count')
    const last = pageTagNames[Math.floor(pageTags / 2) - 1]
    const wanted = pageTagNames.slice(Math.floor(pageTags / 2), Math.floor(pageTags / 2) + 1000).join(',')
    const pageCheck = (a: Timed): string | undefined => (JSON.parse(a.body) as { tags: string[] }).tags.join(',') === wanted && a.link !== undefined ? undefined : 'wrong page'
    for (let run = 1; run <= 5; run++) {
      await measure(`GET tags/list?n=1000&last=${last} of ${pageTags} (run ${run})`, async () => await timed(`${url}/v2/tagspage/tags/list?n=1000&last=${last}`, 'GET'), pageCheck)
    }
    await measure(`GET tags/list?n=1000 of ${pageTags} (first page)`, async () => await timed(`${url}/v2/tagspage/tags/list?n=1000`, 'GET'))
    await measure('DELETE manifest named by 3,000 tags', async () => await timed(`${url}/v2/tags3k/manifests/${smallDigest}`, 'DELETE'))
    await measure('GET tags/list after the delete', async () => await timed(`${url}/v2/tags3k/tags/list`, 'GET'), (a) => JSON.parse(a.body).tags.length === 0 ? undefined : 'tags left')
    process.stdout.write(`fan-out over storage under prlimit --nofile=${nofile}\n\n| ${rows[0].join(' | ')} |\n|${rows[0].map(() => '---').join('|')}|\n`)
    for (const row of rows.slice(1)) process.stdout.write(`| ${row.join(' | ')} |\n`)
  } finally {
    child?.kill('SIGTERM')
    if (child !== undefined && child.exitCode === null) await once(child, 'exit')
    await dispatcher.close()
    await rm(root, { recursive: true, force: true })
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`)
  process.exit(1)
})
