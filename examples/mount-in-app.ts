/**
 * Mounting the registry inside an existing Fastify app: the app keeps its own
 * routes, hook, body parsing and error format; the registry answers under
 * /v2/ with its own (it is an encapsulated plugin).
 *
 *   node dist/examples/mount-in-app.js    # PORT=3000 ROOT_DIRECTORY=./registry-data
 */
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { registry } from '../lib/index.js'
import { isMainModule } from './main-module.js'

export interface BuildAppOptions {
  /** Where the registry keeps its blobs and manifests. */
  rootDirectory: string
  /** Shared upload-state secret; needed when several instances serve one storage. */
  uploadSecret?: string
  logger?: FastifyServerOptions['logger']
}

interface Thing { id: number, name: string }

class NotFoundError extends Error {
  readonly statusCode = 404
}

/** The app, with the registry registered beside its own routes; not listening. */
export function buildApp (options: BuildAppOptions): FastifyInstance {
  const app = Fastify({ logger: options.logger ?? false })
  const things: Thing[] = [{ id: 1, name: 'teapot' }, { id: 2, name: 'kettle' }]

  // Root hooks are inherited by every plugin registered after them, the registry included.
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('x-service', 'things')
  })

  // The app's error format for its own routes; the registry's errors keep the OCI envelope.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const statusCode = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500
    if (statusCode >= 500) request.log.error({ err: error }, 'request failed')
    return reply.status(statusCode).send({ error: { statusCode, message: statusCode >= 500 ? 'Internal Server Error' : error.message } })
  })

  app.get('/health', async () => ({ status: 'ok' }))

  app.get('/api/things', async () => ({ things }))

  app.get<{ Params: { id: string } }>('/api/things/:id', async (request) => {
    const thing = things.find((candidate) => String(candidate.id) === request.params.id)
    if (thing === undefined) throw new NotFoundError(`no thing ${request.params.id}`)
    return thing
  })

  // JSON bodies still parse here: the registry's raw-body parsing is confined to its own routes.
  app.post<{ Body: { name: string } }>('/api/things', {
    schema: {
      body: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } }, additionalProperties: false }
    }
  }, async (request, reply) => {
    const thing = { id: things.length + 1, name: request.body.name }
    things.push(thing)
    return await reply.status(201).send(thing)
  })

  app.register(registry, {
    storage: { filesystem: { rootDirectory: options.rootDirectory } },
    ...(options.uploadSecret === undefined ? {} : { uploadState: { secret: options.uploadSecret } })
  })

  return app
}


if (isMainModule(import.meta.url)) {
  const app = buildApp({
    rootDirectory: process.env.ROOT_DIRECTORY ?? './registry-data',
    ...(process.env.UPLOAD_SECRET === undefined ? {} : { uploadSecret: process.env.UPLOAD_SECRET }),
    logger: true
  })
  const stop = (): void => {
    app.close().then(() => process.exit(0), () => process.exit(1))
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  app.listen({ host: process.env.HOST ?? '127.0.0.1', port: Number(process.env.PORT ?? 3000) }).catch((error: unknown) => {
    app.log.fatal({ err: error }, 'failed to start')
    process.exit(1)
  })
}
