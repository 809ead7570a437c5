import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { StorageDriver } from './storage/driver.js'
import type { AccessController } from './auth/access-controller.js'
import type { UploadStateProvider } from './upload-state/provider.js'
import { RegistryConfigError } from './config-error.js'
import { validateAuthOptions, type AuthOptions } from './auth/auth-options.js'
import { resolveS3Options, S3OptionError, type S3DriverOptions } from './storage/s3-options.js'

export { RegistryConfigError }

/** `storage.s3`: distribution's `storage.s3` keys (see lib/storage/s3-options.ts); sizes in bytes. */
export const S3StorageConfigSchema = Type.Object({
  region: Type.Optional(Type.String()),
  regionendpoint: Type.Optional(Type.String()),
  bucket: Type.String({ minLength: 1 }),
  accesskey: Type.Optional(Type.String()),
  secretkey: Type.Optional(Type.String()),
  rootdirectory: Type.Optional(Type.String()),
  forcepathstyle: Type.Optional(Type.Boolean()),
  secure: Type.Optional(Type.Boolean()),
  skipverify: Type.Optional(Type.Boolean()),
  chunksize: Type.Optional(Type.Integer()),
  minpartsize: Type.Optional(Type.Integer()),
  multipartcopythresholdsize: Type.Optional(Type.Integer()),
  multipartcopychunksize: Type.Optional(Type.Integer()),
  multipartcopymaxconcurrency: Type.Optional(Type.Integer())
}, { additionalProperties: false })

export const StorageConfigSchema = Type.Union([
  Type.Object({ filesystem: Type.Object({ rootDirectory: Type.String({ minLength: 1 }) }, { additionalProperties: false }) }, { additionalProperties: false }),
  Type.Object({ inmemory: Type.Object({}, { additionalProperties: false }) }, { additionalProperties: false }),
  Type.Object({ s3: S3StorageConfigSchema }, { additionalProperties: false })
])
export type StorageConfig = Static<typeof StorageConfigSchema>

const PositiveInteger = Type.Integer({ minimum: 1 })

/** The plain-data part of the options, validated with TypeBox at registration. */
export const RegistryDataOptionsSchema = Type.Object({
  delete: Type.Optional(Type.Object({ enabled: Type.Optional(Type.Boolean()) }, { additionalProperties: false })),
  http: Type.Optional(Type.Object({
    /** Absolute base URL used in `Location` headers, for example `https://registry.example.com`. */
    host: Type.Optional(Type.String({ pattern: '^https?://[^/?#]+/?$' })),
    /** Answer with relative `Location` URLs instead of absolute ones. */
    relativeURLs: Type.Optional(Type.Boolean())
  }, { additionalProperties: false })),
  limits: Type.Optional(Type.Object({
    /** Largest manifest body accepted, in bytes (default 4 MiB). */
    manifestBodySize: Type.Optional(PositiveInteger),
    /** Largest blob body accepted in one request, in bytes; unset means no cap. */
    blobBodySize: Type.Optional(PositiveInteger),
    /** Largest `n` on tags list (default 1000). */
    tagsPageSize: Type.Optional(PositiveInteger),
    /** Largest `n` on the catalog (default 1000). */
    catalogPageSize: Type.Optional(PositiveInteger),
    /** Age in milliseconds after which an unfinished upload is refused on resume (default 7 days). */
    uploadMaxAge: Type.Optional(PositiveInteger),
    /** Upload requests (monolithic POST, PATCH, PUT with a body) one instance receives at once; more get 429 (default: no cap). */
    concurrentUploads: Type.Optional(PositiveInteger),
    /** Milliseconds a request body may stall before the connection is dropped (default 2 minutes). */
    bodyIdleTimeout: Type.Optional(PositiveInteger)
  }, { additionalProperties: false }))
})

/** The options of `app.register(registry, options)`. */
export interface RegistryOptions {
  /**
   * A storage driver instance, or the configuration of a built-in one.
   * Default: `{ filesystem: { rootDirectory: './registry-data' } }`.
   */
  storage?: StorageDriver | StorageConfig
  /** Blob and manifest deletion; off by default, as in CNCF distribution. */
  delete?: { enabled?: boolean }
  /**
   * How upload state is carried between requests: a provider, or the shared
   * secret of the default HMAC provider. Without one, a random per-process
   * secret is used and a warning is logged.
   */
  uploadState?: UploadStateProvider | { secret: string }
  /** Decides who may do what. Default: open (every request is let in). Not together with `auth`. */
  accessController?: AccessController
  /**
   * A built-in access controller: `{ silly }`, `{ htpasswd }` or `{ token }`,
   * plus `anonymousPull` to let pulls in without credentials. Loaded at
   * registration; any problem stops registration.
   */
  auth?: AuthOptions
  http?: { host?: string, relativeURLs?: boolean }
  limits?: {
    manifestBodySize?: number
    blobBodySize?: number
    tagsPageSize?: number
    catalogPageSize?: number
    uploadMaxAge?: number
    concurrentUploads?: number
    bodyIdleTimeout?: number
  }
}

export interface ResolvedLimits {
  manifestBodySize: number
  blobBodySize: number | undefined
  tagsPageSize: number
  catalogPageSize: number
  uploadMaxAge: number
  concurrentUploads: number | undefined
  bodyIdleTimeout: number
}

export const DEFAULT_LIMITS: Readonly<ResolvedLimits> = Object.freeze({
  manifestBodySize: 4 * 1024 * 1024,
  blobBodySize: undefined,
  tagsPageSize: 1000,
  catalogPageSize: 1000,
  // distribution purges uploads older than 168h by default; resuming one that old is refused alike.
  uploadMaxAge: 7 * 24 * 60 * 60 * 1000,
  concurrentUploads: undefined,
  bodyIdleTimeout: 2 * 60 * 1000
})

export const DEFAULT_ROOT_DIRECTORY = './registry-data'

const DRIVER_METHODS = ['getContent', 'putContent', 'reader', 'writer', 'stat', 'list', 'move', 'delete', 'walk'] as const

function isStorageDriver (value: unknown): value is StorageDriver {
  return typeof value === 'object' && value !== null &&
    DRIVER_METHODS.every((method) => typeof (value as Record<string, unknown>)[method] === 'function')
}

function hasMethods (value: unknown, methods: string[]): boolean {
  return typeof value === 'object' && value !== null &&
    methods.every((method) => typeof (value as Record<string, unknown>)[method] === 'function')
}

function describeFirstError (schema: Parameters<typeof Value.Errors>[0], value: unknown): never {
  const first = Value.Errors(schema, value).First()
  const path = first === undefined ? '' : first.path.replace(/^\//, '').replace(/\//g, '.')
  throw new RegistryConfigError(path === '' ? 'options' : path, first === undefined ? 'is invalid' : `is invalid: ${first.message}`)
}

function isS3Config (value: unknown): value is { s3: unknown } {
  return typeof value === 'object' && value !== null && Object.keys(value).length === 1 && Object.hasOwn(value, 's3')
}

/** The S3 driver's own checks, without loading the driver: errors name `storage.s3.<key>`. */
function validateS3Config (s3: unknown): void {
  try {
    resolveS3Options(s3 as S3DriverOptions)
  } catch (error) {
    if (!(error instanceof S3OptionError)) throw error
    throw new RegistryConfigError(error.option === 'options' ? 'storage.s3' : `storage.s3.${error.option}`, error.problem)
  }
}

/**
 * Checks every option at registration. Throws RegistryConfigError naming the
 * first bad option: a registry with a mistaken configuration never starts.
 */
export function validateOptions (options: unknown): RegistryOptions {
  if (options === undefined || options === null) return {}
  if (typeof options !== 'object' || Array.isArray(options)) throw new RegistryConfigError('options', 'must be an object')
  const { storage, uploadState, accessController, auth, ...data } = options as Record<string, unknown>

  const known = new Set(['delete', 'http', 'limits', 'prefix', 'logLevel'])
  for (const key of Object.keys(data)) {
    if (!known.has(key)) throw new RegistryConfigError(key, 'is not a known option')
  }
  const { prefix: _prefix, logLevel: _logLevel, ...dataOptions } = data
  if (!Value.Check(RegistryDataOptionsSchema, dataOptions)) describeFirstError(RegistryDataOptionsSchema, dataOptions)

  if (storage !== undefined && !isStorageDriver(storage)) {
    if (isS3Config(storage)) validateS3Config(storage.s3)
    if (!Value.Check(StorageConfigSchema, storage)) {
      throw new RegistryConfigError('storage', 'must be a StorageDriver or { filesystem: { rootDirectory } } or { inmemory: {} } or { s3: { bucket, region, ... } }')
    }
  }
  if (uploadState !== undefined && !hasMethods(uploadState, ['pack', 'unpack'])) {
    const secret = (uploadState as { secret?: unknown } | null)?.secret
    if (typeof secret !== 'string' || secret.length === 0) {
      throw new RegistryConfigError('uploadState', 'must be an UploadStateProvider or { secret: <non-empty string> }')
    }
  }
  if (accessController !== undefined && !hasMethods(accessController, ['authorized'])) {
    throw new RegistryConfigError('accessController', 'must implement authorized(request, access)')
  }
  if (auth !== undefined) {
    // Two sources of truth for who gets in would leave one of them silently unused.
    if (accessController !== undefined) throw new RegistryConfigError('auth', 'cannot be combined with accessController; configure one of them')
    validateAuthOptions(auth)
  }
  return options as RegistryOptions
}

export function resolveLimits (limits: RegistryOptions['limits']): ResolvedLimits {
  return {
    manifestBodySize: limits?.manifestBodySize ?? DEFAULT_LIMITS.manifestBodySize,
    blobBodySize: limits?.blobBodySize ?? DEFAULT_LIMITS.blobBodySize,
    tagsPageSize: limits?.tagsPageSize ?? DEFAULT_LIMITS.tagsPageSize,
    catalogPageSize: limits?.catalogPageSize ?? DEFAULT_LIMITS.catalogPageSize,
    uploadMaxAge: limits?.uploadMaxAge ?? DEFAULT_LIMITS.uploadMaxAge,
    concurrentUploads: limits?.concurrentUploads ?? DEFAULT_LIMITS.concurrentUploads,
    bodyIdleTimeout: limits?.bodyIdleTimeout ?? DEFAULT_LIMITS.bodyIdleTimeout
  }
}
