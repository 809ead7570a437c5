import { createHash, randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'

/** Builds OCI image layouts on disk with no network, for real clients (skopeo) to push. */

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  platform?: { architecture: string, os: string }
  annotations?: Record<string, string>
  artifactType?: string
}

export interface BuiltImage {
  manifest: Descriptor
  manifestBytes: Buffer
  layers: Descriptor[]
  config: Descriptor
}

function digestOf (content: Uint8Array): string {
  return `sha256:${createHash('sha256').update(content).digest('hex')}`
}

/** One regular file in a ustar archive: a 512-byte header, the data padded to 512, two zero blocks. */
export function tarOf (files: Array<{ name: string, content: Buffer }>): Buffer {
  const parts: Buffer[] = []
  for (const file of files) {
    const header = Buffer.alloc(512)
    header.write(file.name, 0, 100, 'utf8')
    header.write('0000644\0', 100, 'ascii')
    header.write('0000000\0', 108, 'ascii')
    header.write('0000000\0', 116, 'ascii')
    header.write(file.content.length.toString(8).padStart(11, '0') + '\0', 124, 'ascii')
    header.write('00000000000\0', 136, 'ascii')
    header.write('        ', 148, 'ascii')
    header.write('0', 156, 'ascii')
    header.write('ustar\0' + '00', 257, 'ascii')
    let sum = 0
    for (const byte of header) sum += byte
    header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii')
    parts.push(header, file.content, Buffer.alloc((512 - file.content.length % 512) % 512))
  }
  parts.push(Buffer.alloc(1024))
  return Buffer.concat(parts)
}

export class OciLayout {
  readonly dir: string
  readonly #index: Descriptor[] = []

  constructor (dir: string) {
    this.dir = dir
  }

  async writeBlob (content: Buffer, mediaType: string): Promise<Descriptor> {
    const digest = digestOf(content)
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true })
    await writeFile(join(this.dir, 'blobs', 'sha256', digest.slice(7)), content)
    return { mediaType, digest, size: content.length }
  }

  /** An image with one gzip'd tar layer per entry of `layerSizes` (random content). */
  async image (options: { layerSizes: number[], architecture?: string, label?: string }): Promise<BuiltImage> {
    const architecture = options.architecture ?? 'amd64'
    const layers: Descriptor[] = []
    const diffIds: string[] = []
    for (const [index, size] of options.layerSizes.entries()) {
      const tar = tarOf([{ name: `file-${index}-${options.label ?? ''}.bin`, content: randomBytes(size) }])
      diffIds.push(digestOf(tar))
      layers.push(await this.writeBlob(gzipSync(tar, { level: 1 }), 'application/vnd.oci.image.layer.v1.tar+gzip'))
    }
    const configBytes = Buffer.from(JSON.stringify({
      architecture,
      os: 'linux',
      config: { Labels: { test: options.label ?? 'image' } },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: diffIds.map(() => ({ created_by: 'test helper' }))
    }))
    const config = await this.writeBlob(configBytes, 'application/vnd.oci.image.config.v1+json')
    const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers }))
    const manifest = await this.writeBlob(manifestBytes, 'application/vnd.oci.image.manifest.v1+json')
    return { manifest: { ...manifest, platform: { architecture, os: 'linux' } }, manifestBytes, layers, config }
  }

  /** An OCI artifact (empty config, one JSON blob) whose `subject` is another manifest. */
  async artifact (subject: Descriptor, artifactType: string, payload: unknown): Promise<BuiltImage> {
    const config = await this.writeBlob(Buffer.from('{}'), 'application/vnd.oci.empty.v1+json')
    const layer = await this.writeBlob(Buffer.from(JSON.stringify(payload)), 'application/json')
    const { platform: _platform, annotations: _annotations, ...subjectDescriptor } = subject
    const manifestBytes = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType,
      config,
      layers: [layer],
      subject: subjectDescriptor,
      annotations: { 'org.opencontainers.image.created': '2026-11-27T00:00:00Z' }
    }))
    const manifest = await this.writeBlob(manifestBytes, 'application/vnd.oci.image.manifest.v1+json')
    return { manifest: { ...manifest, artifactType }, manifestBytes, layers: [layer], config }
  }

  /** A multi-platform OCI index over the given images. */
  async index (images: BuiltImage[]): Promise<{ descriptor: Descriptor, bytes: Buffer }> {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: images.map((image) => image.manifest) }))
    return { descriptor: await this.writeBlob(bytes, 'application/vnd.oci.image.index.v1+json'), bytes }
  }

  /** Adds a tagged entry to the layout's index.json. */
  tag (descriptor: Descriptor, ref: string): void {
    const { platform: _platform, ...rest } = descriptor
    this.#index.push({ ...rest, annotations: { 'org.opencontainers.image.ref.name': ref } })
  }

  async save (): Promise<void> {
    await mkdir(this.dir, { recursive: true })
    await writeFile(join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
    await writeFile(join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: this.#index }))
  }
}
