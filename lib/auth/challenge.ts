import { RegistryError } from '../../errors/index.js'
import type { Access } from './access.js'

/**
 * Why a request was challenged, as the Bearer challenge's `error` says it
 * (RFC 6750 section 3.1): no usable credential (no `error`), a credential
 * that is not valid (`invalid_token`), or a valid one without the access the
 * route needs (`insufficient_scope`).
 */
export type ChallengeReason = 'missing' | 'invalid' | 'insufficient_scope'

/** A quoted-string parameter value; anything that is not printable ASCII is dropped so a header can never be split. */
function quoted (value: string): string {
  return `"${value.replace(/[^\x20-\x7e]/g, '').replace(/["\\]/g, '\\$&')}"`
}

/**
 * The `scope` of a challenge: one `type:name:actions` per resource, the
 * actions of records for the same resource merged, resources in the order the
 * route needs them, separated by spaces (the token spec's scope grammar).
 */
export function scopeParameter (access: readonly Access[]): string {
  const resources = new Map<string, { type: string, name: string, actions: string[] }>()
  for (const record of access) {
    const key = `${record.type}:${record.name}`
    const resource = resources.get(key) ?? { type: record.type, name: record.name, actions: [] }
    for (const action of record.actions) if (!resource.actions.includes(action)) resource.actions.push(action)
    resources.set(key, resource)
  }
  return [...resources.values()].map((resource) => `${resource.type}:${resource.name}:${resource.actions.join(',')}`).join(' ')
}

/** `Bearer realm="...",service="...",scope="...",error="..."`, as distribution's token controller answers. */
export function bearerChallenge (options: { realm: string, service: string, access: readonly Access[], reason?: ChallengeReason }): string {
  let header = `Bearer realm=${quoted(options.realm)},service=${quoted(options.service)}`
  const scope = scopeParameter(options.access)
  if (scope !== '') header += `,scope=${quoted(scope)}`
  if (options.reason === 'invalid') header += ',error="invalid_token"'
  if (options.reason === 'insufficient_scope') header += ',error="insufficient_scope"'
  return header
}

/** `Basic realm="..."`. */
export function basicChallenge (realm: string): string {
  return `Basic realm=${quoted(realm)}`
}

const MESSAGES: Record<ChallengeReason, string> = {
  missing: 'authentication required',
  invalid: 'authentication failed',
  insufficient_scope: 'insufficient scope for this request'
}

/**
 * A denial: 401 UNAUTHORIZED with its `WWW-Authenticate` challenge and the
 * access records the route needed as detail. `reason` and `user` let a
 * wrapping controller (anonymous pull) tell a bad credential from a good one
 * that lacks scope.
 */
export class AuthChallenge extends RegistryError {
  readonly reason: ChallengeReason
  readonly user: { name: string } | undefined

  constructor (challenge: string, access: readonly Access[], reason: ChallengeReason, user?: { name: string }) {
    super('UNAUTHORIZED', {
      message: MESSAGES[reason],
      headers: { 'WWW-Authenticate': challenge },
      detail: access.map((record) => ({ type: record.type, name: record.name, actions: [...record.actions] }))
    })
    this.name = 'AuthChallenge'
    this.reason = reason
    this.user = user
  }
}
