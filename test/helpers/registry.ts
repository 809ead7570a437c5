import { createHash, randomBytes } from 'node:crypto'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { promisify } from 'node:util'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { registry, type RegistryOptions } from '../../lib/index.js'

const execFileAsync = promisify(execFile)

/** A Fastify app with the registry mounted, on in-memory storage unless told otherwise. */
export async function buildRegistry (options: RegistryOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(registry, { storage: { inmemory: {} }, uploadState: { secret: 'test-secret' }, ...options })
  await app.ready()
  return app
}

/**
 * A fresh directory for a test that seeds tens of thousands of files: in memory
 * (/dev/shm) where the machine has it, removed by `rm -rf`, which is many times
 * faster than fs.rm over 100,000 directories.
 */
export async function largeTreeDir (prefix = 'oci-registry-'): Promise<{ path: string, cleanup: () => Promise<void> }> {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir()
  const path = await mkdtemp(join(base, prefix))
  return { path, cleanup: async () => { await execFileAsync('rm', ['-rf', path]) } }
}

/** A fresh temporary directory, removed by `cleanup`. */
export async function tempDir (prefix = 'oci-registry-'): Promise<{ path: string, cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, cleanup: async () => await rm(path, { recursive: true, force: true }) }
}

export function sha256 (content: Uint8Array): string {
  return `sha256:${createHash('sha256').update(content).digest('hex')}`
}

export function sha512 (content: Uint8Array): string {
  return `sha512:${createHash('sha512').update(content).digest('hex')}`
}

export function randomBlob (size: number): { content: Buffer, digest: string } {
  const content = randomBytes(size)
  return { content, digest: sha256(content) }
}

/** The path and query of a Location header, for `inject`. */
export function pathOf (location: string | string[] | number | undefined): string {
  const url = new URL(String(location), 'http://localhost')
  return url.pathname + url.search
}

/** Pushes a blob monolithically; returns its digest. */
export async function pushBlob (app: FastifyInstance, name: string, content: Buffer): Promise<string> {
  const digest = sha256(content)
  const response = await app.inject({ method: 'POST', url: `/v2/${name}/blobs/uploads/?digest=${digest}`, payload: content, headers: { 'content-type': 'application/octet-stream' } })
  if (response.statusCode !== 201) throw new Error(`push failed: ${response.statusCode} ${response.body}`)
  return digest
}

export function errorCode (body: string): string | undefined {
  try {
    return (JSON.parse(body) as { errors?: Array<{ code?: string }> }).errors?.[0]?.code
  } catch {
    return undefined
  }
}
