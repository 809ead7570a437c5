import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { RegistryError } from '../errors/index.js'
import { handlers } from '../routes/handlers.js'
import { App } from './app.js'
import type { Context } from './context.js'
import { registryErrorHandler } from './error-handler.js'
import { authorize } from './authorize.js'
import { resolveContext } from './resolve-context.js'
import { validateOptions, type RegistryOptions } from './options.js'
import { createRateLimit } from './operations/rate-limit.js'
import { refuseWrites } from './operations/read-only.js'
import { recordRequestMetrics } from './operations/request-metrics.js'
import { eventFor } from './events/event-for.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The registry's per-request Context; set on the registry's own routes only. */
    registry: Context | null
  }
}

const API_VERSION_HEADER = 'Docker-Distribution-API-Version'
const ALL_METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS']

const registryPlugin: FastifyPluginAsync<RegistryOptions> = async (instance: FastifyInstance, rawOptions) => {
  const options = validateOptions(rawOptions)
  const prefix = instance.prefix
  // Loads the access controller (files, keys) now: a problem stops registration before any route exists.
  const app = await App.create(options, instance.log, prefix)
  const basePath = `${prefix}/v2/`

  options.handle?.attach(app)
  instance.addHook('onClose', async () => {
    options.handle?.detach(app)
    await app.close()
  })
  instance.addHook('onReady', async () => { app.start() })
  instance.decorateRequest('registry', null)
  // Blob bodies stream straight from the socket into storage: no parser reads them.
  instance.removeAllContentTypeParsers()
  instance.addContentTypeParser('*', (_request, _payload, done) => { done(null, undefined) })
  instance.setErrorHandler(registryErrorHandler)
  const rateLimit = options.rateLimit === undefined ? undefined : await createRateLimit(instance, options.rateLimit)
  if (app.metrics !== undefined) recordRequestMetrics(instance, app.metrics, basePath)

  instance.addHook('onRequest', async (_request, reply) => {
    reply.header(API_VERSION_HEADER, 'registry/2.0')
  })

  // Events are made in one place, from completed responses: the client has its answer
  // before any listener or webhook hears of it, so neither can delay a request.
  instance.addHook('onResponse', async (request, reply) => {
    if (!app.events.active) return
    const event = await eventFor(request, reply, { instanceID: app.events.instanceID, includeReferences: app.events.includeReferences, lookups: app })
    if (event !== undefined) app.events.publish(event)
  })

  // Keyed by address: first, so it also limits requests that fail to resolve or to authenticate.
  if (rateLimit?.stage === 'request') instance.addHook('onRequest', rateLimit.hook)

  instance.addHook('onRequest', async (request) => {
    request.registry = resolveContext(request, app, basePath)
    // Bodies are raw bytes whatever they are labelled; the Context keeps the label. A neutral
    // header stops Fastify refusing a label it cannot parse before the registry sees the request.
    if (request.headers['content-type'] !== undefined) request.headers['content-type'] = 'application/octet-stream'
  })

  // Before access control and before any body is read: a write cannot succeed, so nobody is asked for credentials.
  if (app.readOnly) instance.addHook('onRequest', refuseWrites)

  // The access decision comes before any body is read.
  instance.addHook('onRequest', async (request) => {
    const context = request.registry!
    context.grant = await authorize(request, context, app)
  })

  // Keyed by user: once the grant is known.
  if (rateLimit?.stage === 'authorized') instance.addHook('onRequest', rateLimit.hook)

  const dispatch = async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const context = request.registry!
    const handler = handlers[context.route.name][request.method as keyof typeof handlers.base]
    if (handler === undefined) throw new RegistryError('UNSUPPORTED', { message: `${request.method} ${context.route.name} is not implemented` })
    return await handler(request, reply, context, app)
  }

  instance.route({ method: ALL_METHODS, url: '/v2', exposeHeadRoute: false, handler: dispatch })
  instance.route({ method: ALL_METHODS, url: '/v2/*', exposeHeadRoute: false, handler: dispatch })
}

/**
 * The registry plugin: `app.register(registry, options)`. Encapsulated: its
 * hooks, error handler and body parsing apply to its own `/v2/` routes only.
 */
export const registry = fp(registryPlugin, {
  fastify: '5.x',
  name: 'fastify-oci-registry',
  encapsulate: true
})

export default registry
