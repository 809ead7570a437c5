import type { FastifyInstance } from 'fastify'
import { pushBlob, sha256 } from './registry.js'

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json'

export interface PushedManifest {
  digest: string
  body: Buffer
  mediaType: string
}

/** Pushes a config and one layer, and returns an OCI manifest body referencing them (not yet pushed). */
export async function imageManifest (app: FastifyInstance, name: string, options: { label?: string, mediaType?: string, subject?: PushedManifest, artifactType?: string } = {}): Promise<PushedManifest> {
  const docker = options.mediaType === DOCKER_MANIFEST
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', label: options.label ?? 'x' }))
  const layer = Buffer.from(`layer of ${options.label ?? 'x'}`)
  const configDigest = await pushBlob(app, name, config)
  const layerDigest = await pushBlob(app, name, layer)
  const manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: options.mediaType ?? OCI_MANIFEST,
    config: { mediaType: docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: [{ mediaType: docker ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }]
  }
  if (options.artifactType !== undefined) manifest.artifactType = options.artifactType
  if (options.subject !== undefined) manifest.subject = { mediaType: options.subject.mediaType, digest: options.subject.digest, size: options.subject.body.length }
  const body = Buffer.from(JSON.stringify(manifest))
  return { digest: sha256(body), body, mediaType: options.mediaType ?? OCI_MANIFEST }
}

export async function putManifest (app: FastifyInstance, name: string, reference: string, manifest: PushedManifest): Promise<Awaited<ReturnType<FastifyInstance['inject']>>> {
  return await app.inject({ method: 'PUT', url: `/v2/${name}/manifests/${reference}`, payload: manifest.body, headers: { 'content-type': manifest.mediaType } })
}

/** Pushes an image (blobs and manifest) under a tag. */
export async function pushImage (app: FastifyInstance, name: string, tag: string, options: Parameters<typeof imageManifest>[2] = {}): Promise<PushedManifest> {
  const manifest = await imageManifest(app, name, options)
  const response = await putManifest(app, name, tag, manifest)
  if (response.statusCode !== 201) throw new Error(`manifest push failed: ${response.statusCode} ${response.body}`)
  return manifest
}
