import type { FastifyRequest } from 'fastify'

/** The request's `Authorization` header, trimmed; undefined when absent or blank. */
export function authorization (request: FastifyRequest): string | undefined {
  const value = request.headers.authorization
  if (typeof value !== 'string') return undefined
  const trimmed = value.trim()
  return trimmed === '' ? undefined : trimmed
}

/** The user and password of `Authorization: Basic`, or undefined when the header is not one. */
export function basicCredentials (header: string | undefined): { username: string, password: string } | undefined {
  const match = header === undefined ? null : /^Basic +([A-Za-z0-9+/]+={0,2})$/i.exec(header)
  if (match === null) return undefined
  const decoded = Buffer.from(match[1], 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon <= 0) return undefined
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
}

/** The token of `Authorization: Bearer`, or undefined when the header is not one. */
export function bearerToken (header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer +([A-Za-z0-9._~+/-]+=*)$/i.exec(header)
  return match === null ? undefined : match[1]
}
