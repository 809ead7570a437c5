import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import { Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { RegistryConfigError } from '../config-error.js'
import { RegistryHandle } from './handle.js'
import { DEFAULT_STORAGE_HEALTH, StorageHealthCheck, type StorageHealthReport } from './storage-health.js'

const MAX_TIMER_MS = 2 ** 31 - 1
const Milliseconds = Type.Integer({ minimum: 1, maximum: MAX_TIMER_MS })

const HealthDataSchema = Type.Object({
  url: Type.Optional(Type.String({ pattern: '^/' })),
  storage: Type.Optional(Type.Object({
    enabled: Type.Optional(Type.Boolean()),
    interval: Type.Optional(Milliseconds),
    threshold: Type.Optional(Type.Integer({ minimum: 1 })),
    timeout: Type.Optional(Milliseconds)
  }, { additionalProperties: false }))
}, { additionalProperties: false })

export interface RegistryHealthOptions {
  /** The handle given to the registry as its `handle` option. */
  handle: RegistryHandle
  /** Where the route answers, below the prefix it is registered with (default `/health`). */
  url?: string
  /**
   * The periodic storage check: on by default, every 10 s, unhealthy after
   * `threshold` (default 1) failures in a row, a check failing after `timeout`
   * (default 5 s) milliseconds.
   */
  storage?: { enabled?: boolean, interval?: number, threshold?: number, timeout?: number }
}

/** The health route's body. */
export interface RegistryHealthBody {
  status: 'ok' | 'unavailable'
  readOnly: boolean
  checks: { storage?: StorageHealthReport }
}

function validate (options: unknown): RegistryHealthOptions {
  if (typeof options !== 'object' || options === null) throw new RegistryConfigError('registryHealth', 'needs { handle }')
  const { handle, prefix: _prefix, logLevel: _logLevel, ...data } = options as Record<string, unknown>
  if (!(handle instanceof RegistryHandle)) throw new RegistryConfigError('registryHealth.handle', 'must be the RegistryHandle given to the registry')
  if (!Value.Check(HealthDataSchema, data)) {
    const first = Value.Errors(HealthDataSchema, data).First()
    const path = first === undefined ? '' : first.path.replace(/^\//, '').replace(/\//g, '.')
    throw new RegistryConfigError(path === '' ? 'registryHealth' : `registryHealth.${path}`, `is invalid: ${first?.message ?? 'unknown'}`)
  }
  return options as RegistryHealthOptions
}

const healthPlugin: FastifyPluginAsync<RegistryHealthOptions> = async (instance: FastifyInstance, rawOptions) => {
  const options = validate(rawOptions)
  const storage = options.storage ?? {}
  const checkStorage = storage.enabled !== false
  const interval = storage.interval ?? DEFAULT_STORAGE_HEALTH.interval
  const settings = {
    interval,
    threshold: storage.threshold ?? DEFAULT_STORAGE_HEALTH.threshold,
    timeout: Math.min(storage.timeout ?? DEFAULT_STORAGE_HEALTH.timeout, interval)
  }
  let check: StorageHealthCheck | undefined

  // The registry may be registered after this plugin: its App is looked up once everything is loaded.
  instance.addHook('onReady', async () => {
    const app = options.handle.app
    if (checkStorage) {
      check = new StorageHealthCheck(app.storage, settings)
      check.start()
    }
  })
  instance.addHook('onClose', async () => { await check?.stop() })

  instance.get(options.url ?? '/health', async (_request, reply) => {
    const app = options.handle.app
    const report = check === undefined ? undefined : await check.report()
    const healthy = report === undefined || report.status !== 'failing'
    const body: RegistryHealthBody = {
      status: healthy ? 'ok' : 'unavailable',
      readOnly: app.readOnly,
      checks: report === undefined ? {} : { storage: report }
    }
    return await reply.code(healthy ? 200 : 503).header('cache-control', 'no-store').send(body)
  })
}

/**
 * The registry's health route, for the host to place (any prefix, behind its
 * own auth, on another server): `app.register(registryHealth, { handle })`.
 * 200 `{"status":"ok",...}` while storage answers; 503
 * `{"status":"unavailable","checks":{"storage":{"status":"failing","error":...}}}`
 * after `storage.threshold` failed checks in a row.
 */
export const registryHealth = fp(healthPlugin, {
  fastify: '5.x',
  name: 'fastify-oci-registry-health',
  encapsulate: true
})
