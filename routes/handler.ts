import type { FastifyReply, FastifyRequest } from 'fastify'
import type { App } from '../lib/app.js'
import type { Context } from '../lib/context.js'

/** A v2 route handler: the Context and App are resolved before it runs; errors are thrown, never written. */
export type RouteHandler = (request: FastifyRequest, reply: FastifyReply, context: Context, app: App) => Promise<unknown>
