import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Agent, request } from 'undici'

/**
 * Soak: mixed push, pull and delete traffic from many clients for a set
 * time, sampling the server's errors, resident memory and open file
 * descriptors once a second. Both must stay flat.
 *
 *   npm run soak -- --duration=600 --clients=32     (the long form)
 */

export interface SoakSample {
  second: number
  operations: number
  errors: number
  rssMiB: number
  openFds: number
}

export interface SoakResult {
  samples: SoakSample[]
  operations: number
  errors: string[]
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'

function sha256 (content: Uint8Array): string {
  return `sha256:${createHash('sha256').update(content).digest('hex')}`
}

async function rssMiB (pid: number): Promise<number> {
  const match = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))
  return match === null ? 0 : Math.round(Number(match[1]) / 1024)
}

async function openFds (pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length
}

/** Runs the traffic against a registry at `url` whose process is `pid`, for `durationMs`. */
export async function soak (options: { url: string, pid: number, durationMs: number, clients: number }): Promise<SoakResult> {
  const dispatcher = new Agent({ connections: options.clients })
  const errors: string[] = []
  let operations = 0
  const deadline = Date.now() + options.durationMs
  const fail = (what: string): void => { if (errors.length < 100) errors.push(what) }

  const send = async (path: string, method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', body?: Buffer, contentType = 'application/octet-stream'): Promise<{ status: number, headers: Record<string, string | string[] | undefined>, bytes: Buffer }> => {
    const response = await request(path.startsWith('http') ? path : options.url + path, { method, body, headers: body === undefined ? {} : { 'content-type': contentType }, dispatcher })
    const bytes = Buffer.from(await response.body.arrayBuffer())
    return { status: response.statusCode, headers: response.headers, bytes }
  }
  const expect = (label: string, status: number, wanted: number[]): boolean => {
    operations++
    if (wanted.includes(status)) return true
    fail(`${label}: ${status}`)
    return false
  }

  const client = async (id: number): Promise<void> => {
    const name = `soak/c${id % 8}`
    const mine: Array<{ digest: string, size: number }> = []
    const manifests: string[] = []
    while (Date.now() < deadline) {
      const roll = Math.random()
      try {
        if (roll < 0.35 || mine.length === 0) {
          const content = randomBytes(16 * 1024 + Math.floor(Math.random() * 1024 * 1024))
          const digest = sha256(content)
          if (Math.random() < 0.8) {
            if (expect('monolithic push', (await send(`/v2/${name}/blobs/uploads/?digest=${digest}`, 'POST', content)).status, [201])) mine.push({ digest, size: content.length })
          } else {
            const start = await send(`/v2/${name}/blobs/uploads/`, 'POST')
            if (!expect('upload start', start.status, [202])) continue
            const half = content.length >> 1
            const patch = await send(String(start.headers.location), 'PATCH', content.subarray(0, half))
            if (!expect('chunk', patch.status, [202])) continue
            const put = await send(`${String(patch.headers.location)}&digest=${digest}`, 'PUT', content.subarray(half))
            if (expect('chunked push', put.status, [201])) mine.push({ digest, size: content.length })
          }
        } else if (roll < 0.65) {
          const blob = mine[Math.floor(Math.random() * mine.length)]
          const pulled = await send(`/v2/${name}/blobs/${blob.digest}`, 'GET')
          if (expect('pull', pulled.status, [200]) && sha256(pulled.bytes) !== blob.digest) fail(`pull ${blob.digest}: wrong bytes`)
        } else if (roll < 0.8) {
          const layer = mine[Math.floor(Math.random() * mine.length)]
          const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', client: id, at: operations }))
          if (!expect('config push', (await send(`/v2/${name}/blobs/uploads/?digest=${sha256(config)}`, 'POST', config)).status, [201])) continue
          const manifest = Buffer.from(JSON.stringify({
            schemaVersion: 2,
            mediaType: OCI_MANIFEST,
            config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
            layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layer.size }]
          }))
          if (expect('manifest push', (await send(`/v2/${name}/manifests/t${id}-${manifests.length}`, 'PUT', manifest, OCI_MANIFEST)).status, [201])) manifests.push(sha256(manifest))
        } else if (roll < 0.92 || manifests.length === 0) {
          expect('tags list', (await send(`/v2/${name}/tags/list?n=50`, 'GET')).status, [200])
        } else {
          const digest = manifests.splice(Math.floor(Math.random() * manifests.length), 1)[0]
          expect('manifest delete', (await send(`/v2/${name}/manifests/${digest}`, 'DELETE')).status, [202])
        }
      } catch (error) {
        operations++
        fail(`network: ${(error as Error).message}`)
      }
    }
  }

  const samples: SoakSample[] = []
  const started = Date.now()
  const sampler = setInterval(() => {
    void Promise.all([rssMiB(options.pid), openFds(options.pid)]).then(([rss, fds]) => {
      samples.push({ second: Math.round((Date.now() - started) / 1000), operations, errors: errors.length, rssMiB: rss, openFds: fds })
    }, () => {})
  }, 1000)
  try {
    await Promise.all(Array.from({ length: options.clients }, async (_unused, id) => await client(id)))
  } finally {
    clearInterval(sampler)
    await dispatcher.close()
  }
  return { samples, operations, errors }
}

function flag (name: string, fallback: number): number {
  const found = process.argv.find((arg) => arg.startsWith(`--${name}=`))
  return found === undefined ? fallback : Number(found.slice(name.length + 3))
}

async function main (): Promise<void> {
  const durationMs = flag('duration', 60) * 1000
  const clients = flag('clients', 16)
  const root = await mkdtemp(join(tmpdir(), 'oci-soak-'))
  const port = 20_000 + Math.floor(Math.random() * 20_000)
  const script = fileURLToPath(new URL('../../dist/examples/standalone.js', import.meta.url))
  const server = spawn(process.execPath, [script], {
    env: { ...process.env, REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`, REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root, REGISTRY_STORAGE_DELETE_ENABLED: 'true', REGISTRY_HTTP_SECRET: 'soak', REGISTRY_LOG_LEVEL: 'error' },
    stdio: 'inherit'
  })
  try {
    const url = `http://127.0.0.1:${port}`
    for (let attempt = 0; attempt < 200; attempt++) {
      const ready = await request(`${url}/v2/`).then(async (response) => { await response.body.dump(); return response.statusCode === 200 }, () => false)
      if (ready) break
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const result = await soak({ url, pid: server.pid!, durationMs, clients })
    console.log('second  operations  errors  rss MiB  open fds')
    for (const sample of result.samples) {
      console.log(`${String(sample.second).padStart(6)}  ${String(sample.operations).padStart(10)}  ${String(sample.errors).padStart(6)}  ${String(sample.rssMiB).padStart(7)}  ${String(sample.openFds).padStart(8)}`)
    }
    console.log(`${result.operations} operations, ${result.errors.length} errors${result.errors.length > 0 ? `: ${result.errors.slice(0, 5).join('; ')}` : ''}`)
    process.exitCode = result.errors.length > 0 ? 1 : 0
  } finally {
    server.kill('SIGTERM')
    await rm(root, { recursive: true, force: true })
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => { console.error(error); process.exitCode = 1 })
}
