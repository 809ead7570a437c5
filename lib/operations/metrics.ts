import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client'
import { RegistryConfigError, type ResolvedMetrics } from '../options.js'

/** Seconds: registry requests run from a HEAD of microseconds to a layer upload of minutes. */
export const REQUEST_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]

export type RequestLabels = 'route' | 'method' | 'status'
export type StorageErrorLabels = 'operation' | 'kind'

/**
 * The registry's Prometheus metrics, in a prom-client Registry of its own
 * unless the host gives one. Request metrics are labelled by route name from
 * the route table (never the URL), method and status, so their number stays
 * bounded whatever clients send.
 */
export class RegistryMetrics {
  readonly register: Registry
  /** `<prefix>http_requests_total{route,method,status}` */
  readonly requests: Counter<RequestLabels>
  /** `<prefix>http_request_duration_seconds{route,method}` */
  readonly requestDuration: Histogram<'route' | 'method'>
  /** `<prefix>blob_bytes_received_total`: blob upload bodies (monolithic POST, PATCH, PUT). */
  readonly bytesReceived: Counter
  /** `<prefix>blob_bytes_sent_total`: blob GET bodies (200 and 206). */
  readonly bytesSent: Counter
  /** `<prefix>uploads_in_progress`: upload requests receiving a body now. */
  readonly uploadsInProgress: Gauge
  /** `<prefix>storage_errors_total{operation,kind}`: storage driver calls that failed (a missing path is not a failure). */
  readonly storageErrors: Counter<StorageErrorLabels>
  readonly #names: string[] = []
  #uploads: () => number = () => 0

  constructor (options: ResolvedMetrics) {
    this.register = options.register ?? new Registry()
    const prefix = options.prefix
    const registers = [this.register]
    const uploads = (): number => this.#uploads()
    try {
      this.requests = this.#add(new Counter({
        name: `${prefix}http_requests_total`,
        help: 'Registry HTTP requests, by route name, method and status',
        labelNames: ['route', 'method', 'status'] as const,
        registers
      }))
      this.requestDuration = this.#add(new Histogram({
        name: `${prefix}http_request_duration_seconds`,
        help: 'Registry HTTP request latency, from the request to the end of the response, by route name and method',
        labelNames: ['route', 'method'] as const,
        buckets: REQUEST_DURATION_BUCKETS,
        registers
      }))
      this.bytesReceived = this.#add(new Counter({
        name: `${prefix}blob_bytes_received_total`,
        help: 'Bytes of blob upload bodies received',
        registers
      }))
      this.bytesSent = this.#add(new Counter({
        name: `${prefix}blob_bytes_sent_total`,
        help: 'Bytes of blob bodies sent',
        registers
      }))
      this.uploadsInProgress = this.#add(new Gauge({
        name: `${prefix}uploads_in_progress`,
        help: 'Upload requests receiving a body now',
        registers,
        collect () { this.set(uploads()) }
      }))
      this.storageErrors = this.#add(new Counter({
        name: `${prefix}storage_errors_total`,
        help: 'Storage driver operations that failed, by operation and kind (full, invalid_path, other)',
        labelNames: ['operation', 'kind'] as const,
        registers
      }))
    } catch (error) {
      this.close()
      throw new RegistryConfigError('metrics.prefix', `gives metric names the Prometheus registry has already (${(error as Error).message}); give each registry sharing a register its own prefix`)
    }
    if (options.collectDefaultMetrics) this.#collectDefaultMetrics()
  }

  /** Where the uploads-in-progress gauge reads its value at each scrape. */
  observeUploads (count: () => number): void {
    this.#uploads = count
  }

  /** Takes the metrics out of the Prometheus registry (a host's registry lives on). */
  close (): void {
    for (const name of this.#names.splice(0)) this.register.removeSingleMetric(name)
  }

  #add<T extends Metric> (metric: T): T {
    this.#names.push(nameOf(metric))
    return metric
  }

  #collectDefaultMetrics (): void {
    const before = new Set(this.register.getMetricsAsArray().map(nameOf))
    const adopt = (): void => {
      for (const name of this.register.getMetricsAsArray().map(nameOf)) {
        if (!before.has(name) && !this.#names.includes(name)) this.#names.push(name)
      }
    }
    try {
      collectDefaultMetrics({ register: this.register })
    } catch (error) {
      adopt()
      this.close()
      throw new RegistryConfigError('metrics.collectDefaultMetrics', `cannot be honoured: ${(error as Error).message}`)
    }
    adopt()
  }
}

function nameOf (metric: object): string {
  return (metric as { name: string }).name
}
