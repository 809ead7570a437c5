/**
 * The descriptor a manifest with a `subject` contributes to a referrers response
 * (distribution-spec 1.1, "Listing Referrers"). Pure.
 */
import { parseDigest } from '../digest.js'
import type { Descriptor, ParsedManifest } from './parse.js'

/**
 * Builds `{ mediaType, digest, size, artifactType?, annotations? }` for the manifest
 * `parsed` stored at `digest` with `size` bytes:
 * - `artifactType` is the manifest's `artifactType`; for an image manifest without
 *   one, its config's `mediaType`; for an index without one, it is omitted.
 * - `annotations` are the manifest's own annotations (a copy), omitted when there are none.
 * Throws TypeError when `digest` or `size` is not valid (a caller bug, not a client error).
 */
export function referrerDescriptor (parsed: ParsedManifest, digest: string, size: number): Descriptor {
  if (parseDigest(digest) === undefined) throw new TypeError(`referrerDescriptor: invalid digest ${JSON.stringify(digest)}`)
  if (!Number.isSafeInteger(size) || size < 0) throw new TypeError(`referrerDescriptor: invalid size ${String(size)}`)
  const descriptor: Descriptor = { mediaType: parsed.mediaType, digest, size }
  let artifactType = parsed.artifactType
  if ((artifactType === undefined || artifactType === '') && parsed.kind === 'image') artifactType = parsed.config?.mediaType
  if (artifactType !== undefined && artifactType !== '') descriptor.artifactType = artifactType
  if (parsed.annotations !== undefined) {
    const entries = Object.entries(parsed.annotations)
    if (entries.length > 0) descriptor.annotations = Object.fromEntries(entries)
  }
  return descriptor
}
