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
  readonly urls: UrlBuilder
  log: FastifyBaseLogger
  /** What the access controller granted; set before the handler runs. */
  grant: Grant | undefined

  constructor (fields: {
    route: RouteDefinition
    name?: string
    reference?: string
    digest?: ParsedDigest
    tag?: string
    uuid?: string
    urls: UrlBuilder
    log: FastifyBaseLogger
  }) {
    this.route = fields.route
    this.name = fields.name
    this.reference = fields.reference
    this.digest = fields.digest
    this.tag = fields.tag
    this.uuid = fields.uuid
    this.urls = fields.urls
    this.log = fields.log
    this.grant = undefined
  }

  /** The repository name; for handlers of scoped routes, where the dispatcher guarantees one. */
  get repository (): string {
    if (this.name === undefined) throw new Error(`route ${this.route.name} has no repository name`)
    return this.name
  }
}
