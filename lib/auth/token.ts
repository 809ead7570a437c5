import type { FastifyRequest } from 'fastify'
import type { AccessController } from './access-controller.js'
import { covers, type Access, type Grant } from './access.js'
import type { TokenAuthOptions } from './auth-options.js'
import { AuthChallenge, bearerChallenge, type ChallengeReason } from './challenge.js'
import { authorization, bearerToken } from './credentials.js'
import { createVerifier } from './fast-jwt.js'
import { DEFAULT_SIGNING_ALGORITHMS } from './signing-algorithms.js'
import { TokenKeys } from './token-keys.js'

/** Clock skew allowed on `exp` and `nbf`, as distribution allows. */
export const TOKEN_LEEWAY_MS = 60_000

/** The `access` claim: what the token server granted. Anything else in its place makes the token invalid. */
function accessClaim (value: unknown): Access[] | undefined {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value)) return undefined
  const access: Access[] = []
  for (const entry of value as unknown[]) {
    const { type, name, actions } = (entry ?? {}) as Record<string, unknown>
    if (typeof type !== 'string' || typeof name !== 'string' || !Array.isArray(actions) || !actions.every((action) => typeof action === 'string')) return undefined
    access.push({ type, name, actions: actions as string[] })
  }
  return access
}

/**
 * Bearer tokens issued by a token server, per the Docker registry token
 * specification, as distribution's `token` controller checks them: the
 * signature (an allowed public-key algorithm, with the key of the `x5c` chain
 * or the `kid`), `iss` equal to the issuer, `aud` containing the service,
 * `exp` and `nbf` within a 60 s leeway, and an `access` claim covering every
 * record the route needs. Without a token: a challenge naming the scope;
 * with a bad one: `error="invalid_token"`; with a good one lacking access:
 * `error="insufficient_scope"`, so the client fetches a wider token.
 */
export class TokenAccessController implements AccessController {
  readonly #realm: string
  readonly #service: string
  readonly #verify: (token: string) => Promise<Record<string, unknown>>

  private constructor (options: TokenAuthOptions, keys: TokenKeys) {
    this.#realm = options.realm
    this.#service = options.service
    const algorithms = [...(options.signingAlgorithms ?? DEFAULT_SIGNING_ALGORITHMS)]
    this.#verify = createVerifier({
      key: async (decoded) => keys.resolve(decoded.header),
      algorithms,
      allowedIss: [options.issuer],
      allowedAud: [options.service],
      requiredClaims: ['iss', 'aud', 'exp'],
      clockTolerance: TOKEN_LEEWAY_MS
    })
  }

  /** Reads the key sources; throws RegistryConfigError when one is missing or unusable. */
  static async load (options: TokenAuthOptions): Promise<TokenAccessController> {
    const keys = await TokenKeys.load(options, options.signingAlgorithms ?? DEFAULT_SIGNING_ALGORITHMS)
    return new TokenAccessController(options, keys)
  }

  async authorized (request: FastifyRequest, access: Access[]): Promise<Grant> {
    const token = bearerToken(authorization(request))
    if (token === undefined) throw this.#challenge(access, 'missing')
    let claims: Record<string, unknown>
    try {
      claims = await this.#verify(token)
    } catch (error) {
      // The reason stays in the log: the client learns only that the token is not valid.
      const cause = (error as { cause?: unknown }).cause
      request.log.debug({ reason: (error as Error).message, cause: cause instanceof Error ? cause.message : undefined }, 'bearer token refused')
      throw this.#challenge(access, 'invalid')
    }
    const granted = accessClaim(claims.access)
    if (granted === undefined) {
      request.log.debug('bearer token refused: malformed access claim')
      throw this.#challenge(access, 'invalid')
    }
    const user = typeof claims.sub === 'string' && claims.sub !== '' ? { name: claims.sub } : undefined
    if (!covers(granted, access)) throw this.#challenge(access, 'insufficient_scope', user)
    return user === undefined ? { access } : { user, access }
  }

  #challenge (access: Access[], reason: ChallengeReason, user?: { name: string }): AuthChallenge {
    return new AuthChallenge(bearerChallenge({ realm: this.#realm, service: this.#service, access, reason }), access, reason, user)
  }
}
