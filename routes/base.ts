import type { RouteHandler } from './handler.js'

/** `GET /v2/`: the API version check. */
export const getBase: RouteHandler = async (_request, reply) => {
  return await reply.type('application/json').send({})
}
