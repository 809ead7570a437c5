import type { ParsedDigest } from '../digest.js'

/**
 * The storage layout, byte-compatible with CNCF distribution's so either
 * registry can serve the other's root directory.
 */
export const ROOT = '/docker/registry/v2'

export const paths = {
  blobsRoot: `${ROOT}/blobs`,
  repositoriesRoot: `${ROOT}/repositories`,
  blobData: (d: ParsedDigest): string => `${ROOT}/blobs/${d.algorithm}/${d.hex.slice(0, 2)}/${d.hex}/data`,
  blobDir: (d: ParsedDigest): string => `${ROOT}/blobs/${d.algorithm}/${d.hex.slice(0, 2)}/${d.hex}`,
  repository: (name: string): string => `${ROOT}/repositories/${name}`,
  layerLink: (name: string, d: ParsedDigest): string => `${ROOT}/repositories/${name}/_layers/${d.algorithm}/${d.hex}/link`,
  uploadDir: (name: string, uuid: string): string => `${ROOT}/repositories/${name}/_uploads/${uuid}`,
  uploadData: (name: string, uuid: string): string => `${ROOT}/repositories/${name}/_uploads/${uuid}/data`,
  uploadStartedAt: (name: string, uuid: string): string => `${ROOT}/repositories/${name}/_uploads/${uuid}/startedat`,
  manifestsRoot: (name: string): string => `${ROOT}/repositories/${name}/_manifests`,
  manifestRevisionLink: (name: string, d: ParsedDigest): string => `${ROOT}/repositories/${name}/_manifests/revisions/${d.algorithm}/${d.hex}/link`,
  manifestRevisionDir: (name: string, d: ParsedDigest): string => `${ROOT}/repositories/${name}/_manifests/revisions/${d.algorithm}/${d.hex}`,
  tagsRoot: (name: string): string => `${ROOT}/repositories/${name}/_manifests/tags`,
  tagDir: (name: string, tag: string): string => `${ROOT}/repositories/${name}/_manifests/tags/${tag}`,
  tagCurrentLink: (name: string, tag: string): string => `${ROOT}/repositories/${name}/_manifests/tags/${tag}/current/link`,
  /** Referrers index: which manifests name a subject. Distribution 2.8 ignores this directory. */
  referrersOf: (name: string, subject: ParsedDigest): string => `${ROOT}/repositories/${name}/_referrers/${subject.algorithm}/${subject.hex}`,
  referrerLink: (name: string, subject: ParsedDigest, referrer: ParsedDigest): string => `${ROOT}/repositories/${name}/_referrers/${subject.algorithm}/${subject.hex}/${referrer.algorithm}/${referrer.hex}/link`,
  tagIndexLink: (name: string, tag: string, d: ParsedDigest): string => `${ROOT}/repositories/${name}/_manifests/tags/${tag}/index/${d.algorithm}/${d.hex}/link`
}
