import type { FastifyRequest } from 'fastify'
import type { Access, Grant } from './access.js'

/**
 * Decides whether a request may have the access a route needs. Resolves to a
 * grant, or rejects with a RegistryError (typically UNAUTHORIZED carrying its
 * own `WWW-Authenticate` header) that the plugin answers as it is.
 */
export interface AccessController {
  authorized (request: FastifyRequest, access: Access[]): Promise<Grant>
}

/** The default when no access controller is configured: every request is let in. */
export class OpenAccessController implements AccessController {
  async authorized (_request: FastifyRequest, access: Access[]): Promise<Grant> {
    return { access }
  }
}
