import { request } from 'undici'

export interface UploadStep {
  status: number
  location: string
  range: string | undefined
  body: string
}

/** One request of an upload over real HTTP; the body is read so the connection is reusable. */
export async function uploadRequest (url: string, method: 'POST' | 'PATCH' | 'PUT' | 'GET' | 'DELETE', body?: Buffer, headers: Record<string, string> = {}): Promise<UploadStep> {
  const response = await request(url, { method, body, headers: body === undefined ? headers : { 'content-type': 'application/octet-stream', ...headers } })
  const text = await response.body.text()
  const location = response.headers.location
  return { status: response.statusCode, location: typeof location === 'string' ? location : '', range: response.headers.range as string | undefined, body: text }
}

/** The same Location, sent to another instance: only the origin changes. */
export function onInstance (location: string, base: string): string {
  const url = new URL(location)
  return base + url.pathname + url.search
}
