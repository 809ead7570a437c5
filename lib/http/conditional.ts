/** Whether an `If-None-Match` header matches an ETag: `*`, the tag itself, or its weak form `W/"..."`. */
export function etagMatches (header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  return header.split(',').some((candidate) => {
    const value = candidate.trim().replace(/^W\//, '')
    return value === '*' || value === etag
  })
}
