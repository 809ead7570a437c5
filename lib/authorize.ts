import type { FastifyRequest } from 'fastify'
import { RegistryError } from '../errors/index.js'
import { requiredAccess } from '../routes/table.js'
import type { App } from './app.js'
import type { Context } from './context.js'
import type { Grant } from './auth/access.js'
import { queryValue } from './http/request-values.js'

/**
 * The access decision, before any body is read: the records the route needs
 * (routes/table.ts), asked of the access controller. A scoped route without a
 * repository name is refused before the controller is asked, so no
 * controller ever sees a scope with an empty name.
 */
export async function authorize (request: FastifyRequest, context: Context, app: Pick<App, 'accessController'>): Promise<Grant> {
  if (context.route.scoped && context.name === undefined) {
    throw new RegistryError('NAME_INVALID', { message: 'this route needs a repository name' })
  }
  const access = requiredAccess(context.route.name, request.method, { name: context.name }, {
    mount: queryValue(request, 'mount'),
    from: queryValue(request, 'from')
  })
  return await app.accessController.authorized(request, access)
}
