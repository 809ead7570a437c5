/** Raised at registration when an option is unusable; names the option. The plugin never starts on one. */
export class RegistryConfigError extends Error {
  readonly option: string
  constructor (option: string, problem: string) {
    super(`fastify-oci-registry: option "${option}" ${problem}`)
    this.name = 'RegistryConfigError'
    this.option = option
  }
}
