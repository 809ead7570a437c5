import type { StorageDriver, FileInfo } from '../storage/driver.js'
import { isPathNotFound } from '../storage/errors.js'
import { parseDigest, type ParsedDigest } from '../digest.js'
import { listNames, readLink } from '../store/links.js'
import { paths } from '../store/paths.js'

/** A link file found in a repository: the digest its path names, and when it was last written. */
export interface FoundLink {
  digest: ParsedDigest
  modTime: number
}

/** One repository as the collector sees it. */
export interface RepositoryScan {
  name: string
  /** Manifest revisions (`_manifests/revisions/<alg>/<hex>/link`), by digest string. */
  revisions: Map<string, FoundLink>
  /** Tags and the manifest each names (`_manifests/tags/<tag>/current/link`). */
  tags: Map<string, string>
  /** Blob links (`_layers/<alg>/<hex>/link`), by digest string. */
  layers: Map<string, FoundLink>
  /** Revision links whose path is not a digest this registry knows (another algorithm): manifests the collector cannot read. */
  unknownRevisions: number
}

/** Every file below `root`, nothing when it does not exist. */
async function * filesBelow (driver: StorageDriver, root: string): AsyncGenerator<FileInfo> {
  try {
    for await (const info of driver.walk(root)) {
      if (!info.isDir) yield info
    }
  } catch (error) {
    if (!isPathNotFound(error)) throw error
  }
}

/** `<root>/<alg>/<hex>/link` files: the digest each names by its path. Returns how many link files name no digest this registry knows. */
async function linksBelow (driver: StorageDriver, root: string, found: Map<string, FoundLink>): Promise<number> {
  let unknown = 0
  for await (const info of filesBelow(driver, root)) {
    const parts = info.path.slice(root.length + 1).split('/')
    if (parts.length !== 3 || parts[2] !== 'link') continue
    const digest = parseDigest(`${parts[0]}:${parts[1]}`)
    if (digest === undefined) {
      unknown++
      continue
    }
    found.set(digest.digest, { digest, modTime: info.modTime.getTime() })
  }
  return unknown
}

/** Reads a repository's revisions, blob links and, when asked, its tags. */
export async function scanRepository (driver: StorageDriver, name: string, options: { tags: boolean }): Promise<RepositoryScan> {
  const scan: RepositoryScan = { name, revisions: new Map(), tags: new Map(), layers: new Map(), unknownRevisions: 0 }
  scan.unknownRevisions = await linksBelow(driver, `${paths.manifestsRoot(name)}/revisions`, scan.revisions)
  await linksBelow(driver, `${paths.repository(name)}/_layers`, scan.layers)
  if (options.tags) {
    for (const tag of await listNames(driver, paths.tagsRoot(name))) {
      const digest = await readLink(driver, paths.tagCurrentLink(name, tag))
      if (digest !== undefined) scan.tags.set(tag, digest.digest)
    }
  }
  return scan
}
