/** One access record: `repository:<name>:pull,push` or `registry:catalog:*`, as in the token spec's `scope`. */
export interface Access {
  type: 'repository' | 'registry' | (string & {})
  name: string
  actions: string[]
}

/** The scope string of one record: `repository:library/alpine:pull,push`. */
export function formatScope (access: Access): string {
  return `${access.type}:${access.name}:${access.actions.join(',')}`
}
