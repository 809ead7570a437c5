/**
 * Media types of the documents a registry stores and of what they reference:
 * the OCI image-spec types and Docker's image manifest v2 types. Pure: no I/O.
 */

// OCI image-spec (media-types.md, manifest.md, image-index.md, descriptor.md)
export const OCI_IMAGE_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
export const OCI_IMAGE_INDEX = 'application/vnd.oci.image.index.v1+json'
export const OCI_IMAGE_CONFIG = 'application/vnd.oci.image.config.v1+json'
/** The empty descriptor's type (`{}`), used as the config of artifacts that have none. */
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json'
/** Digest and size of the empty JSON object `{}` that the empty descriptor points at. */
export const OCI_EMPTY_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a'
export const OCI_EMPTY_SIZE = 2
export const OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar'
export const OCI_LAYER_TAR_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip'
export const OCI_LAYER_TAR_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd'
/** Non-distributable layers (deprecated by image-spec 1.1, still found in Windows images). */
export const OCI_LAYER_NONDISTRIBUTABLE_TAR = 'application/vnd.oci.image.layer.nondistributable.v1.tar'
export const OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP = 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip'
export const OCI_LAYER_NONDISTRIBUTABLE_TAR_ZSTD = 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd'

// Docker image manifest v2 (schema 2), manifest list, and the refused schema 1
export const DOCKER_MANIFEST_V2 = 'application/vnd.docker.distribution.manifest.v2+json'
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json'
export const DOCKER_MANIFEST_V1 = 'application/vnd.docker.distribution.manifest.v1+json'
export const DOCKER_MANIFEST_V1_SIGNED = 'application/vnd.docker.distribution.manifest.v1+prettyjws'
export const DOCKER_CONTAINER_CONFIG = 'application/vnd.docker.container.image.v1+json'
export const DOCKER_PLUGIN_CONFIG = 'application/vnd.docker.plugin.v1+json'
export const DOCKER_LAYER_TAR_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip'
export const DOCKER_LAYER_TAR = 'application/vnd.docker.image.rootfs.diff.tar'
/** Docker "foreign" layers: fetched from their `urls`, never pushed to the registry. */
export const DOCKER_FOREIGN_LAYER_TAR_GZIP = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'

/** Every manifest media type the registry accepts on PUT and serves on GET, images first. */
export const SUPPORTED_MANIFEST_MEDIA_TYPES: readonly string[] = Object.freeze([
  OCI_IMAGE_MANIFEST,
  DOCKER_MANIFEST_V2,
  OCI_IMAGE_INDEX,
  DOCKER_MANIFEST_LIST
])

const IMAGE_MANIFEST_TYPES: ReadonlySet<string> = new Set([OCI_IMAGE_MANIFEST, DOCKER_MANIFEST_V2])
const INDEX_TYPES: ReadonlySet<string> = new Set([OCI_IMAGE_INDEX, DOCKER_MANIFEST_LIST])
const SCHEMA1_TYPES: ReadonlySet<string> = new Set([DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED])
const NON_DISTRIBUTABLE_LAYER_TYPES: ReadonlySet<string> = new Set([
  OCI_LAYER_NONDISTRIBUTABLE_TAR,
  OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP,
  OCI_LAYER_NONDISTRIBUTABLE_TAR_ZSTD,
  DOCKER_FOREIGN_LAYER_TAR_GZIP
])

/**
 * RFC 6838 `type/subtype` (restricted-name: a letter or digit, then up to 126 of
 * `A-Za-z0-9!#$&^_.+-`), no parameters: the pattern the image-spec's JSON schemas use.
 */
const MEDIA_TYPE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/

/** True when `value` is a syntactically valid `type/subtype` without parameters. */
export function isWellFormedMediaType (value: string): boolean {
  return MEDIA_TYPE_PATTERN.test(value)
}

/**
 * The bare, lower-cased `type/subtype` of a header value such as
 * `Application/VND.OCI.image.manifest.v1+json; charset=utf-8`; undefined when empty.
 */
export function normalizeMediaType (value: string | undefined): string | undefined {
  if (typeof value !== 'string') return undefined
  const semicolon = value.indexOf(';')
  const bare = (semicolon === -1 ? value : value.slice(0, semicolon)).trim().toLowerCase()
  return bare === '' ? undefined : bare
}

function has (set: ReadonlySet<string>, value: string | undefined): boolean {
  const normalized = normalizeMediaType(value)
  return normalized !== undefined && set.has(normalized)
}

/** An image manifest type (OCI image manifest or Docker schema 2); parameters and case are ignored. */
export function isManifestMediaType (value: string | undefined): boolean {
  return has(IMAGE_MANIFEST_TYPES, value)
}

/** An index type (OCI image index or Docker manifest list); parameters and case are ignored. */
export function isIndexMediaType (value: string | undefined): boolean {
  return has(INDEX_TYPES, value)
}

/** Any type in SUPPORTED_MANIFEST_MEDIA_TYPES: an image manifest or an index. */
export function isSupportedManifestMediaType (value: string | undefined): boolean {
  return isManifestMediaType(value) || isIndexMediaType(value)
}

/** Docker image manifest schema 1 (signed or not), which this registry refuses. */
export function isSchema1MediaType (value: string | undefined): boolean {
  return has(SCHEMA1_TYPES, value)
}

/**
 * A layer type whose content may live outside the registry (OCI non-distributable
 * layers, Docker foreign layers). Such a layer that carries `urls` is not required to
 * exist in the repository.
 */
export function isNonDistributableLayerMediaType (value: string | undefined): boolean {
  return has(NON_DISTRIBUTABLE_LAYER_TYPES, value)
}
