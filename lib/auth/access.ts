import type { Access } from '../../routes/access.js'
export { formatScope, type Access } from '../../routes/access.js'

/** Who was let in, and for what: the result of an access decision, kept on the request's Context. */
export interface Grant {
  user?: { name: string }
  access: Access[]
}

/**
 * Whether `granted` allows every action of every `needed` record. Types and
 * names compare exactly (case included); a granted `*` allows every action.
 */
export function covers (granted: readonly Access[], needed: readonly Access[]): boolean {
  return needed.every((record) => record.actions.every((action) => granted.some((grant) =>
    grant.type === record.type && grant.name === record.name && (grant.actions.includes(action) || grant.actions.includes('*'))
  )))
}

/** Whether a route needs nothing but `pull` on repositories: what anonymous pull lets in. */
export function isPullOnly (access: readonly Access[]): boolean {
  return access.length > 0 && access.every((record) =>
    record.type === 'repository' && record.actions.length > 0 && record.actions.every((action) => action === 'pull'))
}
