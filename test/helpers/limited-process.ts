import { mkdirSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { startStandaloneProcess, type RunningRegistry } from './standalone-process.js'

/**
 * Starts the compiled standalone server under `prlimit --nofile=<limit>` (soft
 * and hard), the common descriptor limit of a service, and waits until `/v2/`
 * answers. prlimit execs the server, so the child is the server itself.
 */
export async function startLimitedProcess (env: Record<string, string>, nofile = 1024): Promise<RunningRegistry> {
  return await startStandaloneProcess(env, [], ['prlimit', `--nofile=${nofile}:${nofile}`])
}

/** Where the storage layout lives under a filesystem root directory. */
export function layoutRoot (rootDirectory: string): string {
  return join(rootDirectory, 'docker', 'registry', 'v2')
}

function sha256Hex (content: Uint8Array): string {
  return createHash('sha256').update(content).digest('hex')
}

/**
 * Writes `count` tiny distinct blobs straight into the storage layout, each
 * linked into `name` (what a monolithic push of each leaves on disk), with
 * synchronous calls: many times faster than a push each, or than async calls.
 */
export async function seedLinkedBlobs (rootDirectory: string, name: string, count: number, label = ''): Promise<Array<{ digest: string, size: number }>> {
  const root = layoutRoot(rootDirectory)
  const blobs: Array<{ digest: string, size: number }> = new Array(count)
  for (let index = 0; index < count; index++) {
    const content = Buffer.from(`${label}${index}`)
    const hex = sha256Hex(content)
    const blobDir = join(root, 'blobs', 'sha256', hex.slice(0, 2), hex)
    mkdirSync(blobDir, { recursive: true })
    writeFileSync(join(blobDir, 'data'), content)
    const linkDir = join(root, 'repositories', name, '_layers', 'sha256', hex)
    mkdirSync(linkDir, { recursive: true })
    writeFileSync(join(linkDir, 'link'), `sha256:${hex}`)
    blobs[index] = { digest: `sha256:${hex}`, size: content.length }
  }
  return blobs
}

/**
 * Tag directories written straight into the layout, each `current/link` and
 * (with `index`, the default) `index/` link naming `digest`: what
 * `PUT /manifests/<tag>` leaves on disk. The manifest's revision must already be there.
 */
export async function seedTags (rootDirectory: string, name: string, tags: string[], digest: string, index = true): Promise<void> {
  const tagsRoot = join(layoutRoot(rootDirectory), 'repositories', name, '_manifests', 'tags')
  const [algorithm, hex] = digest.split(':')
  for (const tag of tags) {
    const tagDir = join(tagsRoot, tag)
    mkdirSync(join(tagDir, 'current'), { recursive: true })
    writeFileSync(join(tagDir, 'current', 'link'), digest)
    if (!index) continue
    mkdirSync(join(tagDir, 'index', algorithm, hex), { recursive: true })
    writeFileSync(join(tagDir, 'index', algorithm, hex, 'link'), digest)
  }
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'

export interface SeededBlob { digest: string, size: number }

export function sha256Digest (content: Uint8Array): string {
  return `sha256:${sha256Hex(content)}`
}

/** An image manifest with `layers` (the shortest valid media type keeps 37,000 of them under 4 MiB). */
export function manifestOf (config: SeededBlob, layers: SeededBlob[]): Buffer {
  return Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
    layers: layers.map((layer) => ({ mediaType: 'a/b', digest: layer.digest, size: layer.size }))
  }))
}

export interface Answer { status: number, headers: Record<string, string | string[] | undefined>, body: Buffer }

/** A small client for one registry over a shared undici Agent. */
export function client (url: string): {
  send: (method: 'GET' | 'HEAD' | 'PUT' | 'DELETE', path: string, body?: Buffer, contentType?: string) => Promise<Answer>
  /** 30 blob GETs of `name` at once, and a `GET /v2/`: how many answered 200 with the right bytes. */
  pulls: (name: string, blobs: SeededBlob[]) => Promise<{ blobs: number, base: number }>
  /** `work` with the 30 pulls started alongside it. */
  withPulls: <T>(name: string, blobs: SeededBlob[], work: () => Promise<T>) => Promise<{ result: T, pulled: { blobs: number, base: number } }>
  close: () => Promise<void>
} {
  const dispatcher = new Agent({ connections: 64 })
  const send = async (method: 'GET' | 'HEAD' | 'PUT' | 'DELETE', path: string, body?: Buffer, contentType?: string): Promise<Answer> => {
    const response = await request(url + path, { method, body, headers: contentType === undefined ? {} : { 'content-type': contentType }, dispatcher })
    return { status: response.statusCode, headers: response.headers, body: Buffer.from(await response.body.arrayBuffer()) }
  }
  const pulls = async (name: string, blobs: SeededBlob[]): Promise<{ blobs: number, base: number }> => {
    const picked = Array.from({ length: 30 }, (_unused, i) => blobs[(i * 997) % blobs.length])
    const [answers, base] = await Promise.all([
      Promise.all(picked.map(async (blob) => {
        const response = await send('GET', `/v2/${name}/blobs/${blob.digest}`)
        return response.status === 200 && sha256Digest(response.body) === blob.digest
      })),
      send('GET', '/v2/')
    ])
    return { blobs: answers.filter(Boolean).length, base: base.status === 200 ? 1 : 0 }
  }
  return {
    send,
    pulls,
    withPulls: async (name, blobs, work) => {
      const [result, pulled] = await Promise.all([work(), pulls(name, blobs)])
      return { result, pulled }
    },
    close: async () => { await dispatcher.close() }
  }
}
