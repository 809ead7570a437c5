import type { FastifyRequest } from 'fastify'
import type { AccessController } from './access-controller.js'
import type { Access, Grant } from './access.js'
import type { SillyAuthOptions } from './auth-options.js'
import { AuthChallenge, bearerChallenge } from './challenge.js'
import { authorization } from './credentials.js'

/**
 * distribution's `silly` controller: any non-blank `Authorization` header is
 * let in with every access; without one, a Bearer challenge naming the scope.
 * It checks nothing, so it is for tests and client development only.
 */
export class SillyAccessController implements AccessController {
  readonly #realm: string
  readonly #service: string

  constructor (options: SillyAuthOptions) {
    this.#realm = options.realm
    this.#service = options.service
  }

  async authorized (request: FastifyRequest, access: Access[]): Promise<Grant> {
    if (authorization(request) === undefined) {
      throw new AuthChallenge(bearerChallenge({ realm: this.#realm, service: this.#service, access }), access, 'missing')
    }
    return { user: { name: 'silly' }, access }
  }
}
