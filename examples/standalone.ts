#!/usr/bin/env node
/**
 * The standalone registry, and the package's `bin`:
 *
 *   fastify-oci-registry [serve] [config.yml]
 *   fastify-oci-registry garbage-collect [--dry-run] [--delete-untagged] [--grace=DURATION] [config.yml]
 *   fastify-oci-registry verify [--repair] [config.yml]
 *
 * Configured like CNCF distribution: a distribution configuration file (the
 * argument, else REGISTRY_CONFIGURATION_PATH, else none) with REGISTRY_*
 * environment overrides, e.g. REGISTRY_HTTP_ADDR=:5000.
 */
import { resolve } from 'node:path'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { pino, type Logger } from 'pino'
import { registry } from '../lib/index.js'
import { isMainModule } from './main-module.js'
import { RegistryConfigError } from '../lib/options.js'
import { DEBUG_HEALTH_PATH, resolveDistributionConfig, type DebugServerConfig, type DistributionConfig } from '../lib/config/distribution-config.js'
import { RegistryHandle } from '../lib/operations/handle.js'
import { registryHealth } from '../lib/operations/health-plugin.js'
import { registryMetrics } from '../lib/operations/metrics-plugin.js'

/** How long in-flight requests get on shutdown when `http.draintimeout` is unset. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000

/**
 * How long a client may take to send a request's headers when
 * `http.timeout.read` is unset. Node's own default is 60 s, checked only
 * every 30 s; 30 s, checked every few seconds, is ample for any real client
 * (headers are one packet or a few) and halves what a slowloris holds.
 */
export const DEFAULT_HEADERS_TIMEOUT_MS = 30_000

/**
 * How long a kept-alive connection may sit idle between requests when
 * `http.timeout.idle` is unset: longer than the 60 s idle timeout of common
 * load balancers, so the balancer, not the registry, closes first and never
 * sends a request into a closing connection.
 */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 72_000

/**
 * The largest request head (request line and headers) when
 * `http.maxheaderbytes` is unset. Node's default is 16 KiB, which refuses
 * Bearer tokens carrying many scopes with 431; distribution (Go) accepts
 * 1 MiB. 512 KiB fits tokens of 300 KB and more with room for the other
 * headers; larger heads get 431.
 */
export const DEFAULT_MAX_HEADER_BYTES = 512 * 1024

const USAGE = `Usage: fastify-oci-registry [serve] [config.yml]
       fastify-oci-registry garbage-collect [--dry-run] [--delete-untagged] [--grace=DURATION] [config.yml]
       fastify-oci-registry verify [--repair] [config.yml]

Runs an OCI registry configured like CNCF distribution: the YAML file named here
(or by REGISTRY_CONFIGURATION_PATH), overridden by REGISTRY_* variables, e.g.
  REGISTRY_HTTP_ADDR=:5000
  REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=/var/lib/registry
  REGISTRY_HTTP_SECRET=<shared secret>
Without a file it listens on 127.0.0.1:5000 and stores under ./registry-data.
garbage-collect deletes unreferenced blobs from the same storage; see
fastify-oci-registry garbage-collect --help. verify hashes every blob and
reports those whose bytes do not match their digest; see its --help.
`

export interface StandaloneOptions {
  /** Log here instead of to a new pino logger on stdout. Its level is set from the configuration. */
  logger?: Logger
  /** Drain and exit the process on SIGINT/SIGTERM. Off by default; the bin turns it on. */
  handleSignals?: boolean
}

function logStartupFailure (logger: Logger, error: unknown, what: string): void {
  if (error instanceof RegistryConfigError) {
    // The message names the option; a stack would only hide it.
    logger.fatal({ option: error.option }, `${what}: ${error.message}`)
  } else {
    logger.fatal({ err: error }, `${what}: ${(error as Error)?.message ?? String(error)}`)
  }
}

function describeStorage (options: DistributionConfig['options']): string {
  const storage = options.storage
  if (storage !== undefined && 'filesystem' in storage) return `filesystem ${resolve(storage.filesystem.rootDirectory)}`
  if (storage !== undefined && 'inmemory' in storage) return 'inmemory (lost on exit)'
  if (storage !== undefined && 's3' in storage) return `s3 bucket ${storage.s3.bucket}`
  return 'custom driver'
}

function describeAuth (options: DistributionConfig['options']): string {
  const auth = options.auth
  if (auth === undefined) return 'none (open)'
  const type = 'silly' in auth ? 'silly' : 'htpasswd' in auth ? 'htpasswd' : 'token'
  return auth.anonymousPull === true ? `${type}, anonymous pull` : type
}

/**
 * The debug server, as distribution's `http.debug`: its own listener, with
 * the storage health at /debug/health and, when enabled, Prometheus metrics.
 * Not listening yet.
 */
async function buildDebugServer (config: DebugServerConfig, handle: RegistryHandle, logger: Logger): Promise<FastifyInstance> {
  const debug: FastifyInstance = Fastify({ loggerInstance: logger.child({ server: 'debug' }) as FastifyBaseLogger })
  await debug.register(registryHealth, {
    handle,
    url: DEBUG_HEALTH_PATH,
    storage: { enabled: config.storageHealth !== undefined, ...config.storageHealth }
  })
  if (config.metricsPath !== undefined) await debug.register(registryMetrics, { handle, url: config.metricsPath })
  return debug
}

function listenUrl (app: FastifyInstance, fallback: { host: string, port: number }): string {
  const address = app.server.address()
  const host = typeof address === 'object' && address !== null ? address.address : fallback.host
  const port = typeof address === 'object' && address !== null ? address.port : fallback.port
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
}

/**
 * Loads the configuration, registers the registry and listens. Every failure
 * before listening is logged and rethrown, and nothing is left listening.
 * `argv` is the arguments after the script.
 */
export async function startStandalone (
  argv: readonly string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
  standalone: StandaloneOptions = {}
): Promise<FastifyInstance> {
  // Made before the configuration is read, so a configuration error is logged the same way as everything else.
  const logger = standalone.logger ?? pino({ level: 'info' })

  let config: DistributionConfig
  try {
    config = await resolveDistributionConfig(argv, env)
  } catch (error) {
    logStartupFailure(logger, error, 'invalid configuration')
    throw error
  }
  logger.level = config.logLevel
  if (config.configFile !== undefined) logger.info({ configFile: resolve(config.configFile) }, 'configuration loaded')
  for (const warning of config.warnings) logger.warn(warning)

  const headersTimeout = config.server.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS
  const app: FastifyInstance = Fastify({
    // Widened so the app is a plain FastifyInstance for callers.
    loggerInstance: logger as FastifyBaseLogger,
    // Client addresses and X-Forwarded-* are only believed when a proxy is configured (http.trustproxy).
    trustProxy: config.trustProxy,
    // Layers can be gigabytes on slow links: no cap on a whole request (bodies are
    // guarded by limits.bodyIdleTimeout and limits.bodyMinRate), but a connection
    // silent for 5 minutes is dropped.
    requestTimeout: 0,
    connectionTimeout: 5 * 60_000,
    keepAliveTimeout: config.server.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
    http: {
      // Headers not complete within http.timeout.read get 408; Node checks on an
      // interval, so the check runs often enough for the timeout to mean what it says.
      headersTimeout,
      connectionsCheckingInterval: Math.max(250, Math.min(5_000, Math.floor(headersTimeout / 4))),
      // Over the limit, Node answers 431 before the registry sees the request.
      maxHeaderSize: config.server.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES
    },
    // While draining, requests on kept-alive connections get 503 and Connection: close.
    return503OnClosing: true
  })

  // While draining, every response asks the client to close its connection,
  // so kept-alive connections do not hold close() open.
  app.addHook('onSend', async (_request, reply) => {
    if (draining.has(app)) reply.header('connection', 'close')
  })

  const handle = new RegistryHandle()
  let debug: FastifyInstance | undefined
  try {
    await app.register(registry, { ...config.options, handle })
    if (config.debug !== undefined) {
      const debugConfig = config.debug
      const server = await buildDebugServer(debugConfig, handle, logger)
      debug = server
      // Closed with the registry, after it stops taking requests.
      app.addHook('onClose', async () => { await server.close() })
      app.addHook('onReady', async () => {
        await server.listen({ host: debugConfig.listen.host, port: debugConfig.listen.port })
      })
    }
    await app.ready()
    await app.listen({ host: config.listen.host, port: config.listen.port })
  } catch (error) {
    logStartupFailure(logger, error, 'registry failed to start')
    await app.close().catch(() => {})
    await debug?.close().catch(() => {})
    throw error
  }

  const readOnly = config.options.maintenance?.readOnly?.enabled === true
  logger.info({ url: listenUrl(app, config.listen), storage: describeStorage(config.options), auth: describeAuth(config.options), deleteEnabled: config.options.delete?.enabled === true, readOnly }, 'registry listening')
  if (debug !== undefined && config.debug !== undefined) {
    logger.info({ url: listenUrl(debug, config.debug.listen), health: DEBUG_HEALTH_PATH, storageHealth: config.debug.storageHealth !== undefined, metrics: config.debug.metricsPath ?? null }, 'debug server listening')
  }
  if (standalone.handleSignals === true) handleShutdownSignals(app, config.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS)
  return app
}

const draining = new WeakSet<FastifyInstance>()

/**
 * Stops accepting connections and resolves once in-flight requests have
 * finished. Node's server.close() only reaps connections idle at that moment,
 * so connections that go idle later (a response already streaming) are reaped
 * as they do.
 */
export async function drainAndClose (app: FastifyInstance): Promise<void> {
  draining.add(app)
  const reaper = setInterval(() => { app.server.closeIdleConnections() }, 100)
  try {
    await app.close()
  } finally {
    clearInterval(reaper)
  }
}

/**
 * First SIGINT/SIGTERM: stop accepting connections, let in-flight requests
 * finish, exit 0. A second signal, or the drain timeout, exits 1 at once.
 */
export function handleShutdownSignals (app: FastifyInstance, timeoutMs: number): void {
  let draining = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (draining) {
      app.log.warn({ signal }, 'second signal: exiting without waiting for in-flight requests')
      process.exit(1)
    }
    draining = true
    app.log.info({ signal, drainTimeoutMs: timeoutMs }, 'shutting down: no longer accepting connections, waiting for in-flight requests')
    const timer = setTimeout(() => {
      app.log.error({ drainTimeoutMs: timeoutMs }, 'drain timeout: exiting with requests still in flight')
      process.exit(1)
    }, timeoutMs)
    drainAndClose(app).then(() => {
      clearTimeout(timer)
      app.log.info('registry stopped')
      process.exit(0)
    }, (error: unknown) => {
      app.log.error({ err: error }, 'error while shutting down')
      process.exit(1)
    })
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
}


if (isMainModule(import.meta.url)) {
  const argv = process.argv.slice(2)
  const command = argv[0] === 'garbage-collect'
    ? import('../lib/gc/cli.js').then(async ({ runGarbageCollectCommand }) => await runGarbageCollectCommand(argv.slice(1)))
    : argv[0] === 'verify'
      ? import('../lib/gc/verify-cli.js').then(async ({ runVerifyCommand }) => await runVerifyCommand(argv.slice(1)))
      : undefined
  if (command !== undefined) {
    command.then((status) => { process.exitCode = status }, (error: unknown) => {
      process.stderr.write(`fastify-oci-registry ${argv[0]}: ${(error as Error)?.stack ?? String(error)}\n`)
      process.exitCode = 1
    })
  } else if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE)
  } else {
    // startStandalone has logged the failure already.
    startStandalone(argv, process.env, { handleSignals: true }).catch(() => { process.exit(1) })
  }
}
