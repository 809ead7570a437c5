import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { RegistryError } from '../../errors/index.js'
import type { RateLimitOptions } from '../options.js'
import { unreadBodyHeaders } from './unread-body.js'

export const DEFAULT_RATE_LIMIT_WINDOW_MS = 60_000

export interface RateLimitHook {
  /** `request`: before access control (keyed by address); `authorized`: after it (the grant is known). */
  stage: 'request' | 'authorized'
  hook: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
}

function describeWindow (ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`
  if (ms % 60_000 === 0) return `${ms / 60_000} min`
  if (ms % 1000 === 0) return `${ms / 1000} s`
  return `${ms} ms`
}

/**
 * Registers @fastify/rate-limit in the registry's own context (not globally:
 * the host's routes are untouched) and returns the onRequest hook that applies
 * the limit, for the plugin to place before or after access control. Over the
 * limit: 429 TOOMANYREQUESTS in the spec's envelope, with Retry-After.
 */
export async function createRateLimit (instance: FastifyInstance, options: RateLimitOptions): Promise<RateLimitHook> {
  const { default: fastifyRateLimit, normalizeIP } = await import('@fastify/rate-limit')
  await instance.register(fastifyRateLimit, { global: false })
  const keyBy = options.keyBy ?? 'ip'
  const timeWindow = options.timeWindow ?? DEFAULT_RATE_LIMIT_WINDOW_MS
  const byUser = (request: FastifyRequest): string => {
    const user = request.registry?.grant?.user?.name
    return user === undefined ? `ip:${normalizeIP(request.ip)}` : `user:${user}`
  }
  const keyGenerator = options.keyGenerator ?? (keyBy === 'user' ? byUser : undefined)
  const hook = instance.rateLimit({
    // Every setting given here, so a rate limiter the host registered above the registry cannot lend its own.
    max: options.max,
    timeWindow,
    ...(keyGenerator === undefined ? {} : { keyGenerator }),
    ...(options.allowList === undefined ? {} : { allowList: options.allowList }),
    ...(options.cache === undefined ? {} : { cache: options.cache }),
    hook: 'onRequest',
    errorResponseBuilder: (request, context) => {
      const seconds = Math.max(1, Math.ceil(context.ttl / 1000))
      return new RegistryError('TOOMANYREQUESTS', {
        message: `too many requests: at most ${context.max} per ${describeWindow(timeWindow)}; retry in ${seconds} s`,
        detail: { limit: context.max, window: timeWindow / 1000, retryAfter: seconds },
        headers: { 'Retry-After': String(seconds), ...unreadBodyHeaders(request) }
      })
    }
  })
  return { stage: keyBy === 'user' ? 'authorized' : 'request', hook: hook as RateLimitHook['hook'] }
}
