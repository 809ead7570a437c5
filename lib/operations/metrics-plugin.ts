import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import { RegistryConfigError } from '../config-error.js'
import { RegistryHandle } from './handle.js'
import type { RegistryMetrics } from './metrics.js'

export interface RegistryMetricsOptions {
  /** The handle given to the registry as its `handle` option; the registry needs its `metrics` option too. */
  handle: RegistryHandle
  /** Where the route answers, below the prefix it is registered with (default `/metrics`). */
  url?: string
}

function validate (options: unknown): RegistryMetricsOptions {
  if (typeof options !== 'object' || options === null) throw new RegistryConfigError('registryMetrics', 'needs { handle }')
  const { handle, url, prefix: _prefix, logLevel: _logLevel, ...rest } = options as Record<string, unknown>
  if (!(handle instanceof RegistryHandle)) throw new RegistryConfigError('registryMetrics.handle', 'must be the RegistryHandle given to the registry')
  if (url !== undefined && (typeof url !== 'string' || !url.startsWith('/'))) throw new RegistryConfigError('registryMetrics.url', 'must be a path starting with /')
  const extra = Object.keys(rest)[0]
  if (extra !== undefined) throw new RegistryConfigError(`registryMetrics.${extra}`, 'is not a known option')
  return options as RegistryMetricsOptions
}

const metricsPlugin: FastifyPluginAsync<RegistryMetricsOptions> = async (instance: FastifyInstance, rawOptions) => {
  const options = validate(rawOptions)
  let metrics: RegistryMetrics | undefined

  // The registry may be registered after this plugin: its App is looked up once everything is loaded.
  instance.addHook('onReady', async () => {
    metrics = options.handle.app.metrics
    if (metrics === undefined) throw new RegistryConfigError('metrics', 'is off in the registry registryMetrics serves: set the registry\'s metrics option')
  })

  instance.get(options.url ?? '/metrics', async (_request, reply) => {
    const register = metrics!.register
    return await reply.header('content-type', register.contentType).header('cache-control', 'no-store').send(await register.metrics())
  })
}

/**
 * The Prometheus scrape route of a registry registered with `metrics` and
 * `handle`, for the host to place (any prefix, behind its own auth, on
 * another server): `app.register(registryMetrics, { handle })`. It serves the
 * whole prom-client Registry the metrics are in (the host's, when given).
 */
export const registryMetrics = fp(metricsPlugin, {
  fastify: '5.x',
  name: 'fastify-oci-registry-metrics',
  encapsulate: true
})
