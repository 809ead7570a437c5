/**
 * `fastify-oci-registry garbage-collect`: the collector as a command, on the
 * storage a distribution-style configuration names (the same file and
 * REGISTRY_* variables the standalone server reads).
 */
import { parseGoDuration } from '../config/distribution-config.js'
import { RegistryConfigError } from '../config-error.js'
import { DEFAULT_GC_GRACE_PERIOD_MS, garbageCollect } from './garbage-collect.js'
import { formatDuration, formatSummary } from './format.js'
import { ProgressDisplay, type ProgressStream } from './progress-display.js'
import { configuredStorage } from './configured-storage.js'
import type { GarbageCollectLogger } from './types.js'
import { resolveLimits, resolveLinkCacheKind, type RegistryOptions } from '../options.js'
import type { RedisParts } from '../redis/create.js'

/**
 * The registries' Redis link cache, when the configuration shares one: every link the
 * collection removes or restores must be invalidated there too, or running instances
 * would keep serving what was collected until the cached entry expires.
 */
async function sharedLinkCache (options: RegistryOptions, log: GarbageCollectLogger): Promise<RedisParts | undefined> {
  if (resolveLinkCacheKind(options) !== 'redis') return undefined
  const { createRedisParts } = await import('../redis/create.js')
  // Only the link cache: an upload-state store is of no use to a collection.
  return createRedisParts({ ...options, uploadState: undefined }, resolveLimits(options.limits), { warn: log.warn, info: log.info })
}

export const GARBAGE_COLLECT_USAGE = `Usage: fastify-oci-registry garbage-collect [options] [config.yml]

Deletes the blobs no manifest references from the storage the configuration
names (the file here, else REGISTRY_CONFIGURATION_PATH, with REGISTRY_*
overrides), and the repository links to blobs that no longer exist. Safe to
run while registries serve the same storage.

Options:
  -d, --dry-run          report what would be deleted, change nothing
  -m, --delete-untagged  also delete manifests no tag reaches (not a child of
                         a kept index, not a referrer of a kept manifest)
  --grace=DURATION       keep anything written less than DURATION ago, so
                         pushes in progress are not undone (Go syntax: 90m,
                         1h30m, 0 for an offline registry; default ${formatDuration(DEFAULT_GC_GRACE_PERIOD_MS)})
  -v, --verbose          print every deletion
  -h, --help             this help

Exit status: 0 done, 1 failed (configuration or storage), 2 usage error.
`

export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2

export interface CommandStreams {
  /** The summary. */
  stdout: ProgressStream
  /** Progress, warnings and errors. */
  stderr: ProgressStream
}

interface ParsedArguments {
  dryRun: boolean
  deleteUntagged: boolean
  gracePeriodMs: number
  verbose: boolean
  help: boolean
  configFile?: string
}

class UsageError extends Error {}

function parseArguments (argv: readonly string[]): ParsedArguments {
  const parsed: ParsedArguments = { dryRun: false, deleteUntagged: false, gracePeriodMs: DEFAULT_GC_GRACE_PERIOD_MS, verbose: false, help: false }
  const positional: string[] = []
  const grace = (value: string | undefined): number => {
    if (value === undefined || value === '') throw new UsageError('--grace needs a duration, as in --grace=1h')
    const ms = parseGoDuration(value)
    if (ms === undefined) throw new UsageError(`--grace: "${value}" is not a duration (examples: 0, 30m, 1h30m)`)
    return ms
  }
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]
    if (arg === '--') {
      positional.push(...argv.slice(index + 1))
      break
    }
    if (arg === '-d' || arg === '--dry-run') parsed.dryRun = true
    else if (arg === '-m' || arg === '--delete-untagged') parsed.deleteUntagged = true
    else if (arg === '-v' || arg === '--verbose') parsed.verbose = true
    else if (arg === '-h' || arg === '--help') parsed.help = true
    else if (arg === '--grace') parsed.gracePeriodMs = grace(argv[++index])
    else if (arg.startsWith('--grace=')) parsed.gracePeriodMs = grace(arg.slice('--grace='.length))
    else if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option ${arg}`)
    else positional.push(arg)
  }
  if (positional.length > 1) throw new UsageError(`takes one configuration file, got ${positional.length}: ${positional.join(' ')}`)
  if (positional.length === 1) parsed.configFile = positional[0]
  return parsed
}

function plainLogger (stderr: ProgressStream, verbose: boolean, beforeLine: () => void): GarbageCollectLogger {
  const write = (level: string, object: object, message: string): void => {
    beforeLine()
    const fields = Object.entries(object).map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`).join(' ')
    stderr.write(`${level}${message}${fields === '' ? '' : ` (${fields})`}\n`)
  }
  return {
    debug: (object, message) => { if (verbose) write('', object, message) },
    info: () => {},
    warn: (object, message) => { write('warning: ', object, message) }
  }
}

/**
 * Runs the command; resolves with the exit status. `argv` is the arguments
 * after `garbage-collect`.
 */
export async function runGarbageCollectCommand (argv: readonly string[], env: NodeJS.ProcessEnv = process.env, streams: CommandStreams = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const { stdout, stderr } = streams
  let args: ParsedArguments
  try {
    args = parseArguments(argv)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    stderr.write(`fastify-oci-registry garbage-collect: ${error.message}\n\n${GARBAGE_COLLECT_USAGE}`)
    return EXIT_USAGE
  }
  if (args.help) {
    stdout.write(GARBAGE_COLLECT_USAGE)
    return EXIT_OK
  }

  const fail = (what: string, error: unknown): number => {
    const message = error instanceof RegistryConfigError ? error.message.replace(/^fastify-oci-registry: /, '') : (error as Error)?.message ?? String(error)
    stderr.write(`fastify-oci-registry garbage-collect: ${what}: ${message}\n`)
    return EXIT_FAILED
  }

  const display = new ProgressDisplay(stderr)
  let storage
  let redis: RedisParts | undefined
  const log = plainLogger(stderr, args.verbose, () => { display.interrupt() })
  try {
    const configured = await configuredStorage(args.configFile, env, stderr)
    storage = configured.storage
    redis = await sharedLinkCache(configured.options, log)
  } catch (error) {
    storage?.close()
    return fail('invalid configuration', error)
  }

  try {
    stderr.write(`garbage-collect${args.dryRun ? ' (dry run)' : ''} on ${storage.description}, grace period ${formatDuration(args.gracePeriodMs)}${args.deleteUntagged ? ', deleting untagged manifests' : ''}\n`)
    const summary = await garbageCollect(storage.driver, {
      dryRun: args.dryRun,
      deleteUntagged: args.deleteUntagged,
      gracePeriodMs: args.gracePeriodMs,
      onProgress: (progress) => { display.update(progress) },
      log,
      ...(redis?.linkCache === undefined ? {} : { onLinkChanged: redis.linkCache.changed.bind(redis.linkCache) })
    })
    display.finish()
    stdout.write(formatSummary(summary))
    return EXIT_OK
  } catch (error) {
    display.finish()
    return fail('failed', error)
  } finally {
    storage.close()
    await redis?.close()
  }
}
