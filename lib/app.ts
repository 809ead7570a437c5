import type { FastifyBaseLogger } from 'fastify'
import type { StorageDriver } from './storage/driver.js'
import { FilesystemDriver } from './storage/filesystem.js'
import { InMemoryDriver } from './storage/inmemory.js'
import type { AccessController } from './auth/access-controller.js'
import { OpenAccessController } from './auth/access-controller.js'
import { createAccessController } from './auth/create.js'
import type { UploadStateProvider } from './upload-state/provider.js'
import { HmacUploadStateProvider } from './upload-state/hmac.js'
import { BlobStore } from './store/blobs.js'
import { UploadSlots } from './upload-slots.js'
import { UploadStore } from './store/uploads.js'
import { ManifestStore } from './store/manifests.js'
import { TagStore } from './store/tags.js'
import { ReferrersIndex } from './store/referrers.js'
import { RepositoryStore } from './store/repositories.js'
import { LinkFiles } from './store/link-files.js'
import { NoLinkCache, type LinkCache } from './store/link-cache.js'
import { VersionCheckedCache } from './cache/version-checked-cache.js'
import type { ParsedDigest } from './digest.js'
import { DEFAULT_ROOT_DIRECTORY, resolveLimits, resolveLinkCacheKind, resolveMetrics, resolveUploadPurging, usesRedisUploadState, type RegistryOptions, type ResolvedLimits, type StorageConfig } from './options.js'
import type { RegistryMetrics } from './operations/metrics.js'
import { countStorageErrors } from './operations/counted-storage.js'
import { UploadPurger } from './operations/upload-purger.js'
import type { RedisParts } from './redis/create.js'
import type { UrlBuilderOptions } from '../routes/url-builder.js'
import { RegistryEvents } from './events/registry-events.js'
import { createNotifications, type Notifications } from './notifications/notifications.js'

function createDriver (storage: RegistryOptions['storage']): StorageDriver {
  if (storage === undefined) return new FilesystemDriver({ rootDirectory: DEFAULT_ROOT_DIRECTORY })
  if ('getContent' in storage) return storage
  const config: StorageConfig = storage
  if ('filesystem' in config) return new FilesystemDriver({ rootDirectory: config.filesystem.rootDirectory })
  if ('s3' in config) throw new Error('fastify-oci-registry: storage.s3 needs App.create, which loads the S3 driver')
  return new InMemoryDriver()
}

/** `storage: { s3 }` as a driver; the AWS SDK is loaded only for it. Other storage options pass through. */
async function loadStorage (storage: RegistryOptions['storage']): Promise<RegistryOptions['storage']> {
  if (storage === undefined || 'getContent' in storage || !('s3' in storage)) return storage
  const { S3Driver } = await import('./storage/s3.js')
  return new S3Driver(storage.s3)
}

function createUploadState (option: RegistryOptions['uploadState'], log: FastifyBaseLogger): UploadStateProvider {
  if (option === undefined) {
    log.warn('fastify-oci-registry: no upload state secret configured; a random one is used, so other instances will not recognise this one\'s uploads (set uploadState.secret / REGISTRY_HTTP_SECRET)')
    return HmacUploadStateProvider.random()
  }
  if ('pack' in option) return option
  if (usesRedisUploadState(option)) throw new Error('fastify-oci-registry: uploadState.redis needs App.create, which connects to Redis')
  return new HmacUploadStateProvider(option.secret)
}

/** Links remembered by the storage-checked cache (about 300 bytes each). */
const LINK_CACHE_ENTRIES = 100_000

/** Where the driver can cheaply tell a file is unchanged, links are cached and checked on every read; otherwise read each time. */
function createLinkCache (storage: StorageDriver, options: RegistryOptions): LinkCache {
  const kind = resolveLinkCacheKind(options)
  if (kind === 'redis') throw new Error('fastify-oci-registry: cache.links redis needs App.create, which connects to Redis')
  if (kind === 'none' || storage.version === undefined) return new NoLinkCache()
  return new VersionCheckedCache<ParsedDigest>((path) => storage.version!(path), LINK_CACHE_ENTRIES)
}

/** Instance-global state: configuration and the resources every request shares. */
export class App {
  readonly storage: StorageDriver
  readonly linkCache: LinkCache
  readonly blobs: BlobStore
  readonly uploads: UploadStore
  readonly manifests: ManifestStore
  readonly tags: TagStore
  readonly referrers: ReferrersIndex
  readonly repositories: RepositoryStore
  readonly accessController: AccessController
  readonly uploadState: UploadStateProvider
  readonly limits: ResolvedLimits
  readonly uploadSlots: UploadSlots
  readonly deleteEnabled: boolean
  /** Whether blob GETs are sent to the storage's signed URL (when the driver can sign one). */
  readonly redirects: boolean
  readonly urlOptions: UrlBuilderOptions
  /** Read-only mode (`maintenance.readOnly.enabled`): writes are refused, and uploads are not purged. */
  readonly readOnly: boolean
  /** The Prometheus metrics, when the `metrics` option asks for them. */
  readonly metrics: RegistryMetrics | undefined
  /** Removes old unfinished uploads on a schedule (`maintenance.uploadPurging`), from `start` to `close`. */
  readonly uploadPurger: UploadPurger
  /** The registry's events (push, pull, delete, mount), for in-process listeners: `app.events.on('push', ...)`. */
  readonly events: RegistryEvents
  /** The webhook endpoints of the `notifications` option, when one is enabled. */
  readonly notifications: Notifications | undefined
  readonly #redis: RedisParts | undefined
  readonly #log: FastifyBaseLogger

  /** Builds the App, loading what needs loading first (the `auth` option's access controller). */
  static async create (options: RegistryOptions, log: FastifyBaseLogger, prefix: string): Promise<App> {
    const storage = await loadStorage(options.storage)
    const accessController = await createAccessController(options, log)
    // After the access controller: a configuration that fails there leaves no connection open. ioredis loads only when asked for.
    const redis = options.redis === undefined ? undefined : (await import('./redis/create.js')).createRedisParts(options, resolveLimits(options.limits), log)
    // Last: metrics a later failure would leave in a host's Prometheus registry are taken out again.
    let metrics: RegistryMetrics | undefined
    const metricsOptions = resolveMetrics(options.metrics)
    if (metricsOptions !== undefined) {
      try {
        metrics = new (await import('./operations/metrics.js')).RegistryMetrics(metricsOptions)
      } catch (error) {
        await redis?.close()
        throw error
      }
    }
    try {
      return new App(storage === options.storage ? options : { ...options, storage }, log, prefix, accessController, redis, metrics)
    } catch (error) {
      metrics?.close()
      await redis?.close()
      throw error
    }
  }

  /**
   * `accessController` is the loaded one; without it, `options.auth` cannot be honoured here, so use App.create.
   * Likewise `metrics`, made by App.create from `options.metrics`.
   */
  constructor (options: RegistryOptions, log: FastifyBaseLogger, prefix: string, accessController?: AccessController, redis?: RedisParts, metrics?: RegistryMetrics) {
    if (accessController === undefined && options.auth !== undefined) {
      // Never open by omission: an `auth` option nobody loaded must not become an open registry.
      throw new Error('fastify-oci-registry: options.auth needs App.create, which loads the access controller')
    }
    if (metrics === undefined && resolveMetrics(options.metrics) !== undefined) {
      throw new Error('fastify-oci-registry: options.metrics needs App.create, which sets up the metrics')
    }
    this.metrics = metrics
    const driver = createDriver(options.storage)
    this.storage = metrics === undefined ? driver : countStorageErrors(driver, (operation, kind) => { metrics.storageErrors.inc({ operation, kind }) })
    this.linkCache = redis?.linkCache ?? createLinkCache(this.storage, options)
    const links = new LinkFiles(this.storage, this.linkCache)
    this.blobs = new BlobStore(this.storage, links)
    this.limits = resolveLimits(options.limits)
    this.uploads = new UploadStore(this.storage, this.blobs, this.limits.uploadMaxAge)
    this.uploadSlots = new UploadSlots(this.limits.concurrentUploads)
    metrics?.observeUploads(() => this.uploadSlots.inUse)
    this.tags = new TagStore(this.storage, links)
    this.referrers = new ReferrersIndex(this.storage)
    this.manifests = new ManifestStore(links, this.blobs, this.tags, this.referrers)
    this.repositories = new RepositoryStore(this.storage)
    this.accessController = accessController ?? options.accessController ?? new OpenAccessController()
    this.uploadState = redis?.uploadState ?? createUploadState(options.uploadState, log)
    this.#redis = redis
    this.deleteEnabled = options.delete?.enabled === true
    this.redirects = options.redirect?.disable !== true && this.storage.redirectURL !== undefined
    this.urlOptions = { host: options.http?.host, relative: options.http?.relativeURLs === true, prefix }
    this.readOnly = options.maintenance?.readOnly?.enabled === true
    const purging = resolveUploadPurging(options.maintenance)
    // Read-only means storage is left as it is: purging would write to it.
    this.uploadPurger = new UploadPurger({ ...purging, enabled: purging.enabled && !this.readOnly, driver: this.storage, log })
    this.#log = log
    this.events = new RegistryEvents({ log, includeReferences: options.notifications?.events?.includereferences === true })
    this.notifications = createNotifications(options.notifications, log)
    this.notifications?.attach(this.events)
  }

  /** Starts the background work (upload purging); called when the Fastify instance is ready. */
  start (): void {
    if (this.readOnly) this.#log.info('fastify-oci-registry: read-only mode: writes are refused and uploads are not purged')
    this.uploadPurger.start()
  }

  /** Stops the background work and releases what the App opened (the Redis connection, its metrics); called when the Fastify instance closes. */
  async close (): Promise<void> {
    await this.uploadPurger.stop()
    // Delivers the webhook events still queued, each endpoint within its queuepurgetimeout.
    await this.notifications?.close()
    this.metrics?.close()
    await this.#redis?.close()
  }
}
