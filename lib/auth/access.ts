import type { Access } from '../../routes/access.js'
export { formatScope, type Access } from '../../routes/access.js'

/** Who was let in, and for what: the result of an access decision, kept on the request's Context. */
export interface Grant {
  user?: { name: string }
  access: Access[]
}
