/** The grammar of repository names and tags (OCI Distribution Spec). */

const NAME_COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*'
const NAME_PATTERN = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`)
const TAG_PATTERN = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/

export const MAX_NAME_LENGTH = 255

export function isValidName (name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && NAME_PATTERN.test(name)
}

export function isValidTag (tag: string): boolean {
  return TAG_PATTERN.test(tag)
}
