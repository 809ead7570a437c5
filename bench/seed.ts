import { createHash } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * Seeds the tags-list and catalog rows straight onto disk, in distribution's
 * layout, which both registries read:
 *
 *   blobs/sha256/<2 hex>/<hex>/data
 *   repositories/<name>/_layers/sha256/<hex>/link                 (marks a repository for both)
 *   repositories/<name>/_manifests/revisions/sha256/<hex>/link
 *   repositories/<name>/_manifests/tags/<tag>/current/link         (`sha256:<hex>`)
 */

export const TAGS_REPOSITORY = 'bench/tags'
export const tagName = (i: number): string => `t${String(i).padStart(5, '0')}`
export const catalogName = (i: number): string => `cat-${String(i).padStart(5, '0')}`

const CONFIG = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }))
const CONFIG_HEX = createHash('sha256').update(CONFIG).digest('hex')
const MANIFEST = Buffer.from(JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${CONFIG_HEX}`, size: CONFIG.length },
  layers: []
}))
const MANIFEST_HEX = createHash('sha256').update(MANIFEST).digest('hex')

async function put (path: string, content: string | Buffer): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true })
  await writeFile(path, content)
}

/** Runs `task(i)` for i in [0, count) with at most `width` at once. */
async function pool (count: number, width: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++)
  }
  await Promise.all(Array.from({ length: Math.min(width, count) }, worker))
}

export async function seedListings (root: string, tags: number, repositories: number): Promise<void> {
  const v2 = join(root, 'docker', 'registry', 'v2')
  const blobData = (hex: string): string => join(v2, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data')
  const repo = (name: string): string => join(v2, 'repositories', ...name.split('/'))
  const link = (hex: string): string => `sha256:${hex}`
  await put(blobData(CONFIG_HEX), CONFIG)
  await put(blobData(MANIFEST_HEX), MANIFEST)

  const tagsRepo = repo(TAGS_REPOSITORY)
  await put(join(tagsRepo, '_layers', 'sha256', CONFIG_HEX, 'link'), link(CONFIG_HEX))
  await put(join(tagsRepo, '_manifests', 'revisions', 'sha256', MANIFEST_HEX, 'link'), link(MANIFEST_HEX))
  await pool(tags, 64, async (i) => {
    // Only `current/link`: a tag's `index/` history is not read when listing or resolving it.
    await put(join(tagsRepo, '_manifests', 'tags', tagName(i), 'current', 'link'), link(MANIFEST_HEX))
  })
  await pool(repositories, 64, async (i) => {
    await put(join(repo(catalogName(i)), '_layers', 'sha256', CONFIG_HEX, 'link'), link(CONFIG_HEX))
  })
}
