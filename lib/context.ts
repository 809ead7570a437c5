import type { FastifyBaseLogger } from 'fastify'
import type { RouteDefinition } from '../routes/table.js'
import type { UrlBuilder } from '../routes/url-builder.js'
import type { ParsedDigest } from './digest.js'
import type { Grant } from './auth/access.js'

/** Per-request registry state, on `request.registry`. */
export class Context {
  readonly route: RouteDefinition
  /** Repository name, validated; undefined only on the base and catalog routes. */
  readonly name: string | undefined
  /** The manifest reference as given: a tag or a digest. */
  readonly reference: string | undefined
  /** The digest of the path (blob, referrers, or a manifest reference that is a digest). */
  readonly digest: ParsedDigest | undefined
  /** The tag, when the manifest reference is a tag. */
  readonly tag: string | undefined
  readonly uuid: string | undefined
  /** What the access controller granted; set before the handler runs. */
  grant: Grant | undefined
  /** The request's Content-Type as the client sent it (manifest PUTs check it against the body). */
  readonly contentType: string | undefined
  // Built on first use: most requests (HEAD, GET) never log nor build a URL.
  #urls: UrlBuilder | undefined
  #log: FastifyBaseLogger | undefined
  readonly #makeUrls: () => UrlBuilder
  readonly #parentLog: FastifyBaseLogger

  constructor (fields: {
    route: RouteDefinition
    name?: string
    reference?: string
    digest?: ParsedDigest
    tag?: string
    uuid?: string
    contentType?: string
    /** The builder, or how to make it when first needed. */
    urls: UrlBuilder | (() => UrlBuilder)
    log: FastifyBaseLogger
  }) {
    this.route = fields.route
    this.name = fields.name
    this.reference = fields.reference
    this.digest = fields.digest
    this.tag = fields.tag
    this.uuid = fields.uuid
    this.grant = undefined
    this.contentType = fields.contentType
    const urls = fields.urls
    this.#makeUrls = typeof urls === 'function' ? urls : () => urls
    this.#parentLog = fields.log
  }

  /** The URL builder for this request's origin (configured host, forwarded headers or Host). */
  get urls (): UrlBuilder {
    this.#urls ??= this.#makeUrls()
    return this.#urls
  }

  /** The request's logger, with the repository name when there is one. */
  get log (): FastifyBaseLogger {
    this.#log ??= this.name === undefined ? this.#parentLog : this.#parentLog.child({ repository: this.name })
    return this.#log
  }

  /** The repository name; for handlers of scoped routes, where the dispatcher guarantees one. */
  get repository (): string {
    if (this.name === undefined) throw new Error(`route ${this.route.name} has no repository name`)
    return this.name
  }
}
