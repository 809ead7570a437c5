import { randomUUID } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { killAllChildren, startOurs } from './servers.js'
import { median } from './stats.js'

/**
 * The catalog past abandoned uploads (issue 20, point 6): `N` directories that
 * hold only `_uploads/<uuid>/{data,startedat}` (no `_layers`, no `_manifests`),
 * plus a few real repositories, seeded straight onto disk; then the standalone
 * answers `GET /v2/_catalog?n=5&last=junk` a few times, each timed.
 *
 *   npx tsc -p bench/tsconfig.json && node dist-bench/bench/catalog-uploads.js [--dirs=20000] [--runs=5]
 *   BENCH_OURS_SCRIPT=/elsewhere/dist/examples/standalone.js node dist-bench/bench/catalog-uploads.js   (another build)
 */

const REAL = ['alpha/one', 'library/base', 'upload-10000x/real', 'zz-final']

function argument (name: string, fallback: number): number {
  const found = process.argv.find((value) => value.startsWith(`--${name}=`))
  return found === undefined ? fallback : Number(found.slice(name.length + 3))
}

async function put (path: string, content: string): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true })
  await writeFile(path, content)
}

async function seed (root: string, dirs: number): Promise<void> {
  const repositories = join(root, 'docker', 'registry', 'v2', 'repositories')
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < dirs) {
      const i = next++
      const upload = join(repositories, `upload-${String(i).padStart(5, '0')}`, '_uploads', randomUUID())
      await put(join(upload, 'data'), 'partial bytes')
      await put(join(upload, 'startedat'), new Date(0).toISOString())
    }
  }
  await Promise.all(Array.from({ length: 64 }, worker))
  const hex = '0'.repeat(64)
  for (const name of REAL) await put(join(repositories, ...name.split('/'), '_layers', 'sha256', hex, 'link'), `sha256:${hex}`)
}

async function main (): Promise<void> {
  const dirs = argument('dirs', 20_000)
  const runs = argument('runs', 5)
  const root = await mkdtemp(join(process.env.BENCH_TMPDIR ?? tmpdir(), 'catalog-uploads-'))
  try {
    process.stderr.write(`seeding ${dirs} upload-only directories under ${root}\n`)
    await seed(root, dirs)
    const ours = await startOurs(root)
    try {
      const times: number[] = []
      for (let run = 0; run < runs; run++) {
        const started = process.hrtime.bigint()
        const response = await request(`${ours.url}/v2/_catalog?n=5&last=junk`)
        const body = await response.body.text()
        const ms = Number(process.hrtime.bigint() - started) / 1e6
        if (response.statusCode !== 200) throw new Error(`catalog answered ${response.statusCode}: ${body}`)
        const listed = (JSON.parse(body) as { repositories: string[] }).repositories
        const wanted = REAL.filter((name) => name > 'junk')
        if (listed.join(',') !== wanted.join(',')) throw new Error(`catalog listed ${listed.join(',')}, wanted ${wanted.join(',')}`)
        times.push(ms)
        process.stderr.write(`run ${run + 1}: ${ms.toFixed(0)} ms\n`)
      }
      process.stdout.write(`${process.env.BENCH_OURS_SCRIPT ?? 'dist/examples/standalone.js'}: catalog n=5&last=junk over ${dirs} upload-only directories: median ${median(times).toFixed(0)} ms, first ${times[0].toFixed(0)} ms (${runs} runs)\n`)
    } finally {
      await ours.stop()
    }
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

main().catch((error: unknown) => {
  killAllChildren()
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`)
  process.exit(1)
})
