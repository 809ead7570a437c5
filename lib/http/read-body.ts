import type { FastifyRequest } from 'fastify'
import { RegistryError } from '../../errors/index.js'
import { measured } from '../body.js'
import { bodyStream, contentLength, type BodyLimits } from './request-values.js'

/**
 * Reads a small body (a manifest) into memory, never past `limit`: a declared
 * length above it is refused before reading, and a body that keeps coming
 * is cut off at the limit. Either way the answer is 413 SIZE_INVALID.
 */
export async function readLimitedBody (request: FastifyRequest, limit: number, bodyLimits?: number | BodyLimits): Promise<Buffer> {
  const declared = contentLength(request)
  if (declared !== undefined && declared > limit) throw tooLarge(limit)
  const chunks: Uint8Array[] = []
  try {
    for await (const chunk of measured(bodyStream(request, bodyLimits), { limit, expected: declared })) chunks.push(chunk)
  } catch (error) {
    if (error instanceof RegistryError && error.status === 413) throw tooLarge(limit)
    throw error
  }
  return Buffer.concat(chunks)
}

function tooLarge (limit: number): RegistryError {
  // The rest of the body is not read: the connection closes after the answer.
  return new RegistryError('SIZE_INVALID', { status: 413, message: `manifest is larger than the limit of ${limit} bytes`, headers: { Connection: 'close' }, detail: { limit } })
}
