/**
 * A registry event, in CNCF distribution's notification format
 * (`notifications/event.go`): what happened (`action`), to what (`target`),
 * on which request, by whom (`actor`), on which registry instance (`source`).
 * The same object is given to in-process listeners and sent to webhooks.
 */

/** What an event says happened. HEAD requests are not pulls, as in distribution. */
export type EventAction = 'push' | 'pull' | 'delete' | 'mount'

export const EVENT_ACTIONS: readonly EventAction[] = Object.freeze(['push', 'pull', 'delete', 'mount'])

/** The media type of a webhook body: an envelope of one or more events. */
export const EVENTS_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v2+json'

/** The media type distribution gives blobs in events (it does not know what a blob is). */
export const BLOB_EVENT_MEDIA_TYPE = 'application/octet-stream'

/** A content descriptor named by a manifest (with `events.includereferences`). */
export interface EventReference {
  mediaType: string
  digest: string
  size: number
  artifactType?: string
  annotations?: Record<string, string>
  urls?: string[]
}

/** What the event is about. Fields that do not apply are absent (distribution's `omitempty`). */
export interface EventTarget {
  /** The manifest's media type; `application/octet-stream` for blobs; absent on deletes. */
  mediaType?: string
  /** Size in bytes of the manifest or blob. */
  size?: number
  digest?: string
  /** The same as `size`; kept by distribution for older consumers. */
  length?: number
  repository: string
  /** A mount's source repository. */
  fromRepository?: string
  /** Where the content can be fetched (manifest by digest, or blob). */
  url?: string
  /** The tag a manifest was pushed, pulled or deleted by. */
  tag?: string
  /** The manifest's references (config, layers, child manifests), with `events.includereferences`. */
  references?: EventReference[]
}

/** The request that caused the event. */
export interface EventRequestRecord {
  /** Fastify's request id. */
  id: string
  /** The client's address (with its port when the connection is direct). */
  addr?: string
  /** The Host the request was sent to. */
  host?: string
  method: string
  useragent: string
}

/** Who caused the event: the user the access controller let in, when there is one. */
export interface EventActorRecord {
  name?: string
}

/** The registry instance that generated the event. */
export interface EventSourceRecord {
  /** Host name and port of this instance. */
  addr?: string
  /** Random per App: changes on every start. */
  instanceID?: string
}

export interface RegistryEvent<A extends EventAction = EventAction> {
  /** Unique per event (a random UUID). */
  id: string
  /** When the event happened: RFC 3339 in UTC. */
  timestamp: string
  action: A
  target: EventTarget
  request: EventRequestRecord
  actor: EventActorRecord
  source: EventSourceRecord
}

/** A webhook body. Events in one envelope are not necessarily related. */
export interface EventEnvelope {
  events: RegistryEvent[]
}
