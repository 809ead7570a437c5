import type { FastifyRequest } from 'fastify'
import { RegistryError } from '../../errors/index.js'
import { unreadBodyHeaders } from './unread-body.js'

const READ_METHODS = new Set(['GET', 'HEAD'])

/**
 * Read-only mode (distribution's `storage.maintenance.readonly`): a write is
 * refused with 405 UNSUPPORTED, as distribution answers when its write
 * handlers are switched off, and `Allow` names the route's read methods.
 * Runs as an onRequest hook once the Context exists: before access control,
 * before any body is read, before storage is touched.
 */
export async function refuseWrites (request: FastifyRequest): Promise<void> {
  if (READ_METHODS.has(request.method)) return
  const route = request.registry?.route
  const allowed = route === undefined ? [] : route.methods.filter((method) => READ_METHODS.has(method))
  throw new RegistryError('UNSUPPORTED', {
    message: 'the registry is in read-only mode: pulls are served, pushes and deletes are refused',
    detail: { readOnly: true },
    headers: { Allow: allowed.join(', '), ...unreadBodyHeaders(request) }
  })
}
