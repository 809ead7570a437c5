import { parseManifest } from '../manifest/parse.js'

/**
 * What a stored manifest references, as the collector needs it. `opaque`
 * means the references could not be read at all, so the collector must keep
 * everything the manifest might need.
 */
export interface ManifestReferences {
  /** How the references were found. */
  source: 'parsed' | 'schema1' | 'lenient' | 'opaque'
  /** Blobs: config, layers (foreign ones too, in case they were pushed), schema1 fsLayers. */
  blobs: string[]
  /** Child manifests of an index. */
  manifests: string[]
  /** The OCI subject, if any. */
  subject?: string
}

const OPAQUE: ManifestReferences = Object.freeze({ source: 'opaque', blobs: [], manifests: [] }) as ManifestReferences

type JsonObject = Record<string, unknown>

function isObject (value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function field (object: JsonObject, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined
}

/** The `digest` (or `blobSum`) strings of an array of descriptors, skipping anything else. */
function digestsOf (value: unknown, key = 'digest'): string[] {
  if (!Array.isArray(value)) return []
  const out: string[] = []
  for (const item of value) {
    const digest = isObject(item) ? field(item, key) : undefined
    if (typeof digest === 'string') out.push(digest)
  }
  return out
}

function digestOf (value: unknown): string | undefined {
  const digest = isObject(value) ? field(value, 'digest') : undefined
  return typeof digest === 'string' ? digest : undefined
}

function unique (values: string[]): string[] {
  return [...new Set(values)]
}

/**
 * The references of a stored manifest. A manifest this registry accepts is
 * parsed with the same parser as on push. Anything else that is JSON (Docker
 * schema 1 from an old distribution, an OCI artifact manifest, a document the
 * current parser is stricter about) is read leniently for the fields that can
 * reference content; when none is there, or the bytes are not JSON, the
 * manifest is opaque.
 */
export function manifestReferences (content: Uint8Array): ManifestReferences {
  try {
    const parsed = parseManifest(content, undefined)
    return {
      source: 'parsed',
      blobs: unique([...parsed.blobs, ...(parsed.foreignLayers ?? [])].map((descriptor) => descriptor.digest)),
      manifests: parsed.manifests.map((descriptor) => descriptor.digest),
      ...(parsed.subject === undefined ? {} : { subject: parsed.subject.digest })
    }
  } catch {}

  let document: unknown
  try {
    document = JSON.parse(Buffer.from(content).toString('utf8'))
  } catch {
    return OPAQUE
  }
  if (!isObject(document)) return OPAQUE

  if (field(document, 'schemaVersion') === 1) {
    const fsLayers = field(document, 'fsLayers')
    if (!Array.isArray(fsLayers)) return OPAQUE
    return { source: 'schema1', blobs: unique(digestsOf(fsLayers, 'blobSum')), manifests: [] }
  }

  const known = ['config', 'layers', 'manifests', 'blobs', 'subject'].filter((key) => field(document, key) !== undefined && field(document, key) !== null)
  if (known.length === 0) return OPAQUE
  const config = digestOf(field(document, 'config'))
  const subject = digestOf(field(document, 'subject'))
  return {
    source: 'lenient',
    blobs: unique([...(config === undefined ? [] : [config]), ...digestsOf(field(document, 'layers')), ...digestsOf(field(document, 'blobs'))]),
    manifests: unique(digestsOf(field(document, 'manifests'))),
    ...(subject === undefined ? {} : { subject })
  }
}
