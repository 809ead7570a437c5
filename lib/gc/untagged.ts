import type { StorageDriver } from '../storage/driver.js'
import { parseDigest, type ParsedDigest } from '../digest.js'
import { deleteIfExists, listNames, writeLink } from '../store/links.js'
import { paths } from '../store/paths.js'
import type { ManifestReferences } from './references.js'
import type { RepositoryScan } from './repository-scan.js'
import { reachable } from './reachability.js'

export interface UntaggedPlan {
  /** Revisions kept: reachable from a tag or from a revision younger than the grace period. */
  kept: Set<string>
  /** Revisions no tag reaches, oldest first: to delete. */
  untagged: string[]
  /** Why nothing is deleted in this repository although some revisions are unreachable, if so. */
  blocked?: string
}

/**
 * Which manifests of a repository `--delete-untagged` removes. Kept: every
 * manifest a tag names, every revision written less than the grace period
 * ago (a push in progress: index children and referrers are pushed by
 * digest before what reaches them), and everything these reach, as index
 * children or as referrers. When a kept manifest cannot be read, what it
 * reaches is unknown, so nothing is deleted in that repository.
 */
export function planUntagged (scan: RepositoryScan, referencesOf: (digest: string) => ManifestReferences | undefined, cutoff: number): UntaggedPlan {
  const present = [...scan.revisions.keys()]
  if (scan.unknownRevisions > 0) return { kept: new Set(present), untagged: [], blocked: 'revisions of an unknown digest algorithm' }
  const roots = [...scan.tags.values()]
  for (const [digest, link] of scan.revisions) if (link.modTime >= cutoff) roots.push(digest)
  const kept = reachable(present, roots, referencesOf)
  for (const digest of kept) {
    if (referencesOf(digest)?.source === 'opaque') return { kept: new Set(present), untagged: [], blocked: `kept manifest ${digest} cannot be read` }
  }
  const untagged = present.filter((digest) => !kept.has(digest))
  untagged.sort((a, b) => scan.revisions.get(a)!.modTime - scan.revisions.get(b)!.modTime)
  return { kept, untagged }
}

/** Each tag's history entries (`tags/<tag>/index/<alg>/<hex>`), by manifest digest. */
export async function tagHistory (driver: StorageDriver, name: string): Promise<Map<string, string[]>> {
  const byDigest = new Map<string, string[]>()
  for (const tag of await listNames(driver, paths.tagsRoot(name))) {
    const root = `${paths.tagDir(name, tag)}/index`
    for (const algorithm of await listNames(driver, root)) {
      for (const hex of await listNames(driver, `${root}/${algorithm}`)) {
        const key = `${algorithm}:${hex}`
        const tags = byDigest.get(key)
        if (tags === undefined) byDigest.set(key, [tag])
        else tags.push(tag)
      }
    }
  }
  return byDigest
}

export type LinkChanged = (path: string, value: ParsedDigest | undefined) => Promise<void>

/**
 * Removes a manifest from a repository as distribution's collector does: its
 * revision, its entry in the referrers index, and the tag history entries
 * naming it. The content blob is left to the sweep.
 */
export async function removeManifest (driver: StorageDriver, name: string, digest: ParsedDigest, references: ManifestReferences, historyTags: string[], changed: LinkChanged): Promise<void> {
  await deleteIfExists(driver, paths.manifestRevisionDir(name, digest))
  await changed(paths.manifestRevisionLink(name, digest), undefined)
  const subject = references.subject === undefined ? undefined : parseDigest(references.subject)
  if (subject !== undefined) {
    const link = paths.referrerLink(name, subject, digest)
    await deleteIfExists(driver, link.slice(0, -'/link'.length))
    await changed(link, undefined)
  }
  for (const tag of historyTags) {
    await deleteIfExists(driver, `${paths.tagDir(name, tag)}/index/${digest.algorithm}/${digest.hex}`)
  }
}

/** Puts back a manifest removed by {@link removeManifest}: its revision and referrers entry (not the tag history). */
export async function restoreManifest (driver: StorageDriver, name: string, digest: ParsedDigest, references: ManifestReferences, changed: LinkChanged): Promise<void> {
  const subject = references.subject === undefined ? undefined : parseDigest(references.subject)
  // The revision first, so the referrers index never names a manifest that is not there.
  await writeLink(driver, paths.manifestRevisionLink(name, digest), digest)
  await changed(paths.manifestRevisionLink(name, digest), digest)
  if (subject !== undefined) {
    await writeLink(driver, paths.referrerLink(name, subject, digest), digest)
    await changed(paths.referrerLink(name, subject, digest), digest)
  }
}
