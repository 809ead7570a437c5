/**
 * Parses and validates a pushed manifest: OCI image manifest, OCI image index,
 * Docker image manifest v2 schema 2, Docker manifest list. Pure (no storage, no
 * Fastify): it says what the document is and what it references; the store checks
 * that the references exist.
 *
 * Every problem is a RegistryError MANIFEST_INVALID (400) whose message names the
 * field (`layers[2].digest: ...`) and whose detail is `{ field }`. No input makes it
 * throw anything else: the walker reads a fixed set of fields at a fixed depth and
 * never recurses into values it does not know.
 */
import { RegistryError } from '../../errors/registry-error.js'
import { looksLikeDigest, parseDigest } from '../digest.js'
import {
  DOCKER_FOREIGN_LAYER_TAR_GZIP,
  DOCKER_MANIFEST_LIST,
  DOCKER_MANIFEST_V2,
  OCI_IMAGE_INDEX,
  OCI_IMAGE_MANIFEST,
  SUPPORTED_MANIFEST_MEDIA_TYPES,
  isIndexMediaType,
  isNonDistributableLayerMediaType,
  isSchema1MediaType,
  isSupportedManifestMediaType,
  isWellFormedMediaType,
  normalizeMediaType
} from './media-types.js'

/** The `platform` of a descriptor (image-index.md). */
export interface Platform {
  architecture: string
  os: string
  'os.version'?: string
  'os.features'?: string[]
  variant?: string
  features?: string[]
}

/** A content descriptor (descriptor.md), holding only the fields this registry knows. */
export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  artifactType?: string
  annotations?: Record<string, string>
  platform?: Platform
  urls?: string[]
}

export type ManifestKind = 'image' | 'index'

export interface ParsedManifest {
  /** `image` for an OCI image manifest or Docker schema 2; `index` for an OCI index or Docker manifest list. */
  kind: ManifestKind
  /** The effective media type (canonical, lower case), to store and to serve as Content-Type. */
  mediaType: string
  /** Blobs that must exist in the repository: the config, then the layers, deduplicated by digest (first wins). Foreign layers are left out. [] for an index. */
  blobs: Descriptor[]
  /** Child manifests that must exist in the repository, deduplicated by digest (first wins). [] for an image. */
  manifests: Descriptor[]
  /** The OCI `subject` (OCI types only). */
  subject?: Descriptor
  /** The type reported in a referrers response: the manifest's `artifactType`; for an image without one, `config.mediaType`; for an index without one, undefined. */
  artifactType?: string
  /** The manifest's own annotations (OCI types only). */
  annotations?: Record<string, string>
  /** The config descriptor (images only). */
  config?: Descriptor
  /** Layers left out of `blobs` because they are non-distributable and carry `urls` (images only; [] when none). A URL allow/deny policy applies to these. */
  foreignLayers?: Descriptor[]
}

type JsonObject = Record<string, unknown>

/** Content types that say nothing about the document; older clients send them. */
const UNINFORMATIVE_CONTENT_TYPES: ReadonlySet<string> = new Set(['application/json', 'application/octet-stream'])

const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

const SCHEMA1_MESSAGE = 'Docker image manifest schema 1 is not supported; push the image as Docker schema 2 or OCI'

function invalid (field: string | undefined, problem: string, detail: Record<string, unknown> = {}): never {
  throw new RegistryError('MANIFEST_INVALID', {
    message: field === undefined ? problem : `${field}: ${problem}`,
    detail: field === undefined ? (Object.keys(detail).length === 0 ? undefined : detail) : { field, ...detail }
  })
}

function isObject (value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Own properties only, so `constructor` and friends never leak in from the prototype. */
function get (object: JsonObject, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined
}

/** An optional field is absent when missing or null (as in Go's decoding, which distribution uses). */
function isAbsent (value: unknown): value is undefined | null {
  return value === undefined || value === null
}

/** A short, safe rendering of an offending value for messages. */
function show (value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value)
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'a number out of range'
  if (typeof value === 'object') return 'an object'
  return `a ${typeof value}`
}

function requireString (value: unknown, field: string): string {
  if (typeof value !== 'string') invalid(field, `must be a string, got ${show(value)}`)
  return value
}

function readMediaTypeField (value: unknown, field: string): string {
  if (value === undefined) invalid(field, 'is required')
  const mediaType = requireString(value, field)
  if (mediaType === '') invalid(field, 'must not be empty')
  if (!isWellFormedMediaType(mediaType)) invalid(field, `${show(mediaType)} is not a valid media type (type/subtype)`)
  return mediaType
}

/** An optional `artifactType`: missing, null or "" mean none. */
function readArtifactType (value: unknown, field: string): string | undefined {
  if (isAbsent(value) || value === '') return undefined
  return readMediaTypeField(value, field)
}

function readDigest (value: unknown, field: string): string {
  if (value === undefined) invalid(field, 'is required')
  const digest = requireString(value, field)
  if (parseDigest(digest) !== undefined) return digest
  if (looksLikeDigest(digest)) {
    const algorithm = digest.slice(0, digest.indexOf(':'))
    if (algorithm === 'sha256' || algorithm === 'sha512') invalid(field, `${show(digest)} has a malformed ${algorithm} encoding`)
    invalid(field, `${show(digest)} uses an unsupported digest algorithm ${show(algorithm)}`)
  }
  invalid(field, `${show(digest)} is not a valid digest (algorithm:encoded)`)
}

function readSize (value: unknown, field: string): number {
  if (value === undefined) invalid(field, 'is required')
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    invalid(field, `must be a non-negative integer no larger than ${Number.MAX_SAFE_INTEGER}, got ${show(value)}`)
  }
  return value
}

function readStringArray (value: unknown, field: string): string[] {
  if (!Array.isArray(value)) invalid(field, `must be an array of strings, got ${show(value)}`)
  const out: string[] = new Array(value.length)
  for (let i = 0; i < value.length; i++) out[i] = requireString(value[i], `${field}[${i}]`)
  return out
}

function readAnnotations (value: unknown, field: string): Record<string, string> | undefined {
  if (isAbsent(value)) return undefined
  if (!isObject(value)) invalid(field, `must be an object of string values, got ${show(value)}`)
  const entries = Object.entries(value)
  for (const [key, entry] of entries) {
    if (typeof entry !== 'string') invalid(`${field}[${JSON.stringify(key.length > 80 ? key.slice(0, 80) : key)}]`, `must be a string, got ${show(entry)}`)
  }
  // fromEntries defines own properties, so a "__proto__" key stays an ordinary key.
  return Object.fromEntries(entries) as Record<string, string>
}

function readPlatform (value: unknown, field: string): Platform | undefined {
  if (isAbsent(value)) return undefined
  if (!isObject(value)) invalid(field, `must be an object, got ${show(value)}`)
  const architecture = get(value, 'architecture')
  const os = get(value, 'os')
  if (architecture === undefined) invalid(`${field}.architecture`, 'is required')
  if (os === undefined) invalid(`${field}.os`, 'is required')
  const platform: Platform = {
    architecture: requireString(architecture, `${field}.architecture`),
    os: requireString(os, `${field}.os`)
  }
  const osVersion = get(value, 'os.version')
  if (!isAbsent(osVersion)) platform['os.version'] = requireString(osVersion, `${field}["os.version"]`)
  const osFeatures = get(value, 'os.features')
  if (!isAbsent(osFeatures)) platform['os.features'] = readStringArray(osFeatures, `${field}["os.features"]`)
  const variant = get(value, 'variant')
  if (!isAbsent(variant)) platform.variant = requireString(variant, `${field}.variant`)
  const features = get(value, 'features')
  if (!isAbsent(features)) platform.features = readStringArray(features, `${field}.features`)
  return platform
}

/**
 * `urls`: absolute URLs (RFC 3986, as WHATWG URL parses them). With `fetchable`
 * (layers, as distribution checks them) only http and https, without a fragment.
 */
function readUrls (value: unknown, field: string, fetchable: boolean): string[] | undefined {
  if (isAbsent(value)) return undefined
  const urls = readStringArray(value, field)
  for (let i = 0; i < urls.length; i++) {
    let url: URL
    try {
      url = new URL(urls[i])
    } catch {
      invalid(`${field}[${i}]`, `${show(urls[i])} is not an absolute URL`)
    }
    if (fetchable && ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hash !== '')) {
      invalid(`${field}[${i}]`, `${show(urls[i])} must be an http or https URL without a fragment`)
    }
  }
  return urls
}

interface DescriptorOptions {
  /** Validate `urls` as distribution does for layers. */
  layer?: boolean
}

/** Validates one descriptor and returns a fresh object holding only the known fields. */
function readDescriptor (value: unknown, field: string, options: DescriptorOptions = {}): Descriptor {
  if (!isObject(value)) invalid(field, `must be a descriptor object, got ${show(value)}`)
  const descriptor: Descriptor = {
    mediaType: readMediaTypeField(get(value, 'mediaType'), `${field}.mediaType`),
    digest: readDigest(get(value, 'digest'), `${field}.digest`),
    size: readSize(get(value, 'size'), `${field}.size`)
  }
  const artifactType = readArtifactType(get(value, 'artifactType'), `${field}.artifactType`)
  if (artifactType !== undefined) descriptor.artifactType = artifactType
  const urls = readUrls(get(value, 'urls'), `${field}.urls`, options.layer === true)
  if (urls !== undefined) descriptor.urls = urls
  const annotations = readAnnotations(get(value, 'annotations'), `${field}.annotations`)
  if (annotations !== undefined) descriptor.annotations = annotations
  const platform = readPlatform(get(value, 'platform'), `${field}.platform`)
  if (platform !== undefined) descriptor.platform = platform
  const data = get(value, 'data')
  if (!isAbsent(data) && (typeof data !== 'string' || !BASE64_PATTERN.test(data))) {
    invalid(`${field}.data`, 'must be a base64 string')
  }
  return descriptor
}

function readDescriptorArray (value: unknown, field: string, options: DescriptorOptions = {}): Descriptor[] {
  if (value === undefined || value === null) invalid(field, 'is required and must be an array')
  if (!Array.isArray(value)) invalid(field, `must be an array of descriptors, got ${show(value)}`)
  const out: Descriptor[] = new Array(value.length)
  for (let i = 0; i < value.length; i++) out[i] = readDescriptor(value[i], `${field}[${i}]`, options)
  return out
}

function dedupe (descriptors: Descriptor[]): Descriptor[] {
  const seen = new Set<string>()
  const out: Descriptor[] = []
  for (const descriptor of descriptors) {
    if (seen.has(descriptor.digest)) continue
    seen.add(descriptor.digest)
    out.push(descriptor)
  }
  return out
}

/** As deep as Go's JSON decoder (and so distribution) goes; real manifests nest fewer than 10 levels. */
const MAX_JSON_DEPTH = 10_000

/**
 * The deepest array/object nesting of a JSON text, stopping once past `limit`: one linear pass
 * over the bytes, so a hostile `[[[[...` is refused before JSON.parse spends a second on it.
 */
function nestingExceeds (body: Uint8Array, limit: number): boolean {
  let depth = 0
  let inString = false
  for (let index = 0; index < body.length; index++) {
    const byte = body[index]
    if (inString) {
      if (byte === 0x5c) index++ // a backslash escapes the next byte
      else if (byte === 0x22) inString = false
    } else if (byte === 0x22) {
      inString = true
    } else if (byte === 0x5b || byte === 0x7b) {
      if (++depth > limit) return true
    } else if (byte === 0x5d || byte === 0x7d) {
      depth--
    }
  }
  return false
}

function decode (body: Uint8Array): JsonObject {
  if (nestingExceeds(body, MAX_JSON_DEPTH)) invalid(undefined, `manifest nests deeper than ${MAX_JSON_DEPTH} levels`)
  let text: string
  try {
    // ignoreBOM keeps a byte-order mark in the text, so JSON.parse refuses it as Go's decoder does.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body)
  } catch {
    invalid(undefined, 'manifest is not valid UTF-8')
  }
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch (error) {
    invalid(undefined, 'manifest is not valid JSON', { reason: error instanceof Error ? error.message.slice(0, 200) : 'parse error' })
  }
  if (!isObject(document)) invalid(undefined, `manifest must be a JSON object, got ${show(document)}`)
  return document
}

/** The effective media type from the body's `mediaType`, the Content-Type, or the document's shape. */
function effectiveMediaType (document: JsonObject, contentType: string | undefined): { mediaType: string, declared: boolean } {
  const declaredValue = get(document, 'mediaType')
  let declared: string | undefined
  if (!isAbsent(declaredValue) && declaredValue !== '') {
    const raw = requireString(declaredValue, 'mediaType')
    declared = raw.toLowerCase()
    if (isSchema1MediaType(declared)) invalid('mediaType', SCHEMA1_MESSAGE)
    // exact (parameters are not allowed in the body), but case-insensitive like the header
    if (!SUPPORTED_MANIFEST_MEDIA_TYPES.includes(declared)) {
      invalid('mediaType', `${show(raw)} is not a supported manifest media type`, { mediaType: raw })
    }
  }
  const given = contentType !== undefined && !UNINFORMATIVE_CONTENT_TYPES.has(contentType) ? contentType : undefined
  if (declared !== undefined && given !== undefined && declared !== given) {
    invalid('mediaType', `the manifest declares ${show(declared)} but was sent with Content-Type ${show(given)}`, {
      mediaType: declared,
      contentType: given
    })
  }
  const mediaType = declared ?? given
  if (mediaType !== undefined) return { mediaType, declared: declared !== undefined }

  const looksLikeIndex = !isAbsent(get(document, 'manifests'))
  const looksLikeImage = !isAbsent(get(document, 'config')) || !isAbsent(get(document, 'layers'))
  if (looksLikeIndex && looksLikeImage) {
    invalid(undefined, 'manifest has both "manifests" and "config"/"layers" and no media type: it is neither an index nor an image manifest')
  }
  if (looksLikeIndex) return { mediaType: OCI_IMAGE_INDEX, declared: false }
  if (looksLikeImage) return { mediaType: OCI_IMAGE_MANIFEST, declared: false }
  invalid(undefined, 'cannot determine the manifest type: no mediaType in the body, no manifest Content-Type, and neither "manifests" nor "config" and "layers"')
}

function parseImage (document: JsonObject, mediaType: string): ParsedManifest {
  if (!isAbsent(get(document, 'manifests'))) {
    invalid('manifests', `an image manifest (${mediaType}) must not have "manifests"; that is an index field`)
  }
  const oci = mediaType === OCI_IMAGE_MANIFEST
  const configValue = get(document, 'config')
  if (isAbsent(configValue)) invalid('config', 'is required')
  const config = readDescriptor(configValue, 'config')
  const layers = readDescriptorArray(get(document, 'layers'), 'layers', { layer: true })

  const required: Descriptor[] = [config]
  const foreignLayers: Descriptor[] = []
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i]
    const hasUrls = layer.urls !== undefined && layer.urls.length > 0
    if (layer.mediaType.toLowerCase() === DOCKER_FOREIGN_LAYER_TAR_GZIP && !hasUrls) {
      invalid(`layers[${i}].urls`, 'a foreign layer must list the URLs it is fetched from')
    }
    if (hasUrls && isNonDistributableLayerMediaType(layer.mediaType)) foreignLayers.push(layer)
    else required.push(layer)
  }

  const parsed: ParsedManifest = {
    kind: 'image',
    mediaType,
    blobs: dedupe(required),
    manifests: [],
    config,
    foreignLayers
  }
  if (oci) {
    const subject = get(document, 'subject')
    if (!isAbsent(subject)) parsed.subject = readDescriptor(subject, 'subject')
  }
  parsed.artifactType = (oci ? readArtifactType(get(document, 'artifactType'), 'artifactType') : undefined) ?? config.mediaType
  if (oci) {
    const annotations = readAnnotations(get(document, 'annotations'), 'annotations')
    if (annotations !== undefined) parsed.annotations = annotations
  }
  return parsed
}

function parseIndex (document: JsonObject, mediaType: string): ParsedManifest {
  for (const field of ['config', 'layers']) {
    if (!isAbsent(get(document, field))) {
      invalid(field, `an index (${mediaType}) must not have "${field}"; that is an image manifest field`)
    }
  }
  const oci = mediaType === OCI_IMAGE_INDEX
  const children = readDescriptorArray(get(document, 'manifests'), 'manifests')
  const parsed: ParsedManifest = {
    kind: 'index',
    mediaType,
    blobs: [],
    // Like distribution (2.8, and 3.x by default), every child must exist as a manifest, whatever its mediaType says.
    manifests: dedupe(children)
  }
  if (oci) {
    const subject = get(document, 'subject')
    if (!isAbsent(subject)) parsed.subject = readDescriptor(subject, 'subject')
    const artifactType = readArtifactType(get(document, 'artifactType'), 'artifactType')
    if (artifactType !== undefined) parsed.artifactType = artifactType
    const annotations = readAnnotations(get(document, 'annotations'), 'annotations')
    if (annotations !== undefined) parsed.annotations = annotations
  }
  return parsed
}

/**
 * Parses a manifest body as pushed with `contentType` (parameters and case ignored;
 * `application/json`, `application/octet-stream` and undefined count as not given).
 * Throws RegistryError MANIFEST_INVALID for anything that is not a valid OCI image
 * manifest, OCI image index, Docker schema 2 manifest or Docker manifest list.
 */
export function parseManifest (body: Uint8Array, contentType: string | undefined): ParsedManifest {
  const given = normalizeMediaType(typeof contentType === 'string' ? contentType : undefined)
  if (given !== undefined) {
    if (isSchema1MediaType(given)) invalid(undefined, SCHEMA1_MESSAGE, { contentType: given })
    if (!UNINFORMATIVE_CONTENT_TYPES.has(given) && !isSupportedManifestMediaType(given)) {
      invalid(undefined, `Content-Type ${show(given)} is not a supported manifest media type`, { contentType: given })
    }
  }

  const document = decode(body)
  const schemaVersion = get(document, 'schemaVersion')
  if (schemaVersion === 1) invalid('schemaVersion', SCHEMA1_MESSAGE)
  const { mediaType, declared } = effectiveMediaType(document, given)
  if (schemaVersion === undefined) invalid('schemaVersion', 'is required and must be 2')
  if (schemaVersion !== 2) invalid('schemaVersion', `must be 2, got ${show(schemaVersion)}`)
  if (!declared && (mediaType === DOCKER_MANIFEST_V2 || mediaType === DOCKER_MANIFEST_LIST)) {
    invalid('mediaType', `is required in a Docker ${mediaType === DOCKER_MANIFEST_V2 ? 'schema 2 manifest' : 'manifest list'} body`)
  }
  return isIndexMediaType(mediaType) ? parseIndex(document, mediaType) : parseImage(document, mediaType)
}
