import type { FastifyRequest } from 'fastify'

/**
 * Headers for a refusal sent before the request's body was read: with a body
 * on the way, `Connection: close`, so the server does not read and discard a
 * whole layer just to keep the connection.
 */
export function unreadBodyHeaders (request: FastifyRequest): Record<string, string> {
  const length = request.headers['content-length']
  const carriesBody = request.headers['transfer-encoding'] !== undefined || (length !== undefined && length.trim() !== '0')
  return carriesBody ? { Connection: 'close' } : {}
}
