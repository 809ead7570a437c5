import type { FastifyInstance } from 'fastify'
import { OCI_INDEX, OCI_MANIFEST } from './images.js'
import { sha256 } from './registry.js'

/**
 * Undefined when the image pulls completely through `app` (manifest, config, layers,
 * index children, each matching its digest), else what failed. `expected` is the
 * manifest digest to insist on.
 */
export async function pullProblem (app: FastifyInstance, name: string, reference: string, expected?: string): Promise<string | undefined> {
  const manifest = await app.inject({ method: 'GET', url: `/v2/${name}/manifests/${reference}`, headers: { accept: `${OCI_MANIFEST}, ${OCI_INDEX}` } })
  if (manifest.statusCode !== 200) return `manifest ${name}:${reference} answered ${manifest.statusCode} ${manifest.body}`
  if (expected !== undefined && sha256(manifest.rawPayload) !== expected) return `manifest ${name}:${reference} is not ${expected}`
  const body = JSON.parse(manifest.body) as { config?: { digest: string }, layers?: Array<{ digest: string }>, manifests?: Array<{ digest: string }> }
  for (const blob of [...(body.config === undefined ? [] : [body.config]), ...(body.layers ?? [])]) {
    const response = await app.inject({ method: 'GET', url: `/v2/${name}/blobs/${blob.digest}` })
    if (response.statusCode !== 200) return `blob ${blob.digest} of ${name}:${reference} answered ${response.statusCode}`
    if (sha256(response.rawPayload) !== blob.digest) return `blob ${blob.digest} of ${name}:${reference} has other content`
  }
  for (const child of body.manifests ?? []) {
    const problem = await pullProblem(app, name, child.digest, child.digest)
    if (problem !== undefined) return problem
  }
  return undefined
}
