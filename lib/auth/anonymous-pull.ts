import type { FastifyRequest } from 'fastify'
import type { AccessController } from './access-controller.js'
import { isPullOnly, type Access, type Grant } from './access.js'
import { AuthChallenge } from './challenge.js'
import { authorization } from './credentials.js'

/**
 * Lets anyone pull: a route that needs only `pull` is let in without
 * credentials. Everything else, and every request that carries credentials,
 * goes to the wrapped controller, so a bad credential is still refused. A
 * good credential that lacks pull on a pull-only route still pulls, since it
 * is worth at least as much as none.
 */
export class AnonymousPullAccessController implements AccessController {
  readonly inner: AccessController

  constructor (inner: AccessController) {
    this.inner = inner
  }

  async authorized (request: FastifyRequest, access: Access[]): Promise<Grant> {
    const pullOnly = isPullOnly(access)
    if (pullOnly && authorization(request) === undefined) return { access }
    try {
      return await this.inner.authorized(request, access)
    } catch (error) {
      if (pullOnly && error instanceof AuthChallenge && error.reason === 'insufficient_scope') {
        return error.user === undefined ? { access } : { user: error.user, access }
      }
      throw error
    }
  }
}
