import { RegistryError } from '../errors/index.js'

/**
 * Counts the bytes of a request body as they stream by. Fails with
 * SIZE_INVALID (413) past `limit`, and with SIZE_INVALID (400) when the body
 * ends with a length other than `expected`.
 */
export async function * measured (
  source: AsyncIterable<Uint8Array>,
  options: { limit?: number, expected?: number, onBytes?: (total: number) => void }
): AsyncGenerator<Uint8Array> {
  let total = 0
  for await (const chunk of source) {
    total += chunk.length
    if (options.limit !== undefined && total > options.limit) {
      throw new RegistryError('SIZE_INVALID', { status: 413, message: `request body exceeds the limit of ${options.limit} bytes` })
    }
    if (options.expected !== undefined && total > options.expected) {
      throw new RegistryError('SIZE_INVALID', { message: `body is longer than the declared ${options.expected} bytes` })
    }
    options.onBytes?.(total)
    yield chunk
  }
  if (options.expected !== undefined && total !== options.expected) {
    throw new RegistryError('SIZE_INVALID', { message: `body has ${total} bytes, ${options.expected} were declared` })
  }
}
