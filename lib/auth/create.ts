import type { FastifyBaseLogger } from 'fastify'
import { OpenAccessController, type AccessController } from './access-controller.js'
import { AnonymousPullAccessController } from './anonymous-pull.js'
import type { AuthOptions } from './auth-options.js'
import { HtpasswdAccessController } from './htpasswd.js'
import { SillyAccessController } from './silly.js'
import { TokenAccessController } from './token.js'

/**
 * The access controller the options ask for: the one given, else the one the
 * (validated) `auth` option describes, loaded now so a missing file or bad key
 * stops registration; open only when neither is configured.
 */
export async function createAccessController (options: { accessController?: AccessController, auth?: AuthOptions }, log: FastifyBaseLogger): Promise<AccessController> {
  if (options.accessController !== undefined) return options.accessController
  const auth = options.auth
  if (auth === undefined) return new OpenAccessController()
  let controller: AccessController
  if ('silly' in auth) controller = new SillyAccessController(auth.silly)
  else if ('htpasswd' in auth) controller = await HtpasswdAccessController.load(auth.htpasswd, { log })
  else controller = await TokenAccessController.load(auth.token)
  return auth.anonymousPull === true ? new AnonymousPullAccessController(controller) : controller
}
