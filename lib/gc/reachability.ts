import type { ManifestReferences } from './references.js'

/**
 * The manifests of one repository reachable from `roots`: an index reaches
 * its children, a manifest reaches its referrers (the manifests whose
 * subject it is). Only digests in `present` are returned.
 */
export function reachable (present: Iterable<string>, roots: Iterable<string>, referencesOf: (digest: string) => ManifestReferences | undefined): Set<string> {
  const presentSet = new Set(present)
  const referrers = new Map<string, string[]>()
  for (const digest of presentSet) {
    const subject = referencesOf(digest)?.subject
    if (subject === undefined) continue
    const list = referrers.get(subject)
    if (list === undefined) referrers.set(subject, [digest])
    else list.push(digest)
  }
  const seen = new Set<string>()
  const pending: string[] = []
  const visit = (digest: string): void => {
    if (!presentSet.has(digest) || seen.has(digest)) return
    seen.add(digest)
    pending.push(digest)
  }
  for (const root of roots) visit(root)
  while (pending.length > 0) {
    const digest = pending.pop()!
    for (const child of referencesOf(digest)?.manifests ?? []) visit(child)
    for (const referrer of referrers.get(digest) ?? []) visit(referrer)
  }
  return seen
}
