// The S3 driver's options and their checks, apart from the driver so that validating
// options (at registration, or reading a configuration file) does not load the AWS SDK.

const MiB = 1024 * 1024
const GiB = 1024 * MiB

/** The smallest part S3 accepts, except for the last part of an upload. */
export const S3_MIN_PART_SIZE = 5 * MiB
/** The largest part, and the largest object a single CopyObject copies. */
export const S3_MAX_PART_SIZE = 5 * GiB
/** Part numbers run from 1 to 10,000. */
export const S3_MAX_PARTS = 10_000

export const S3_DEFAULTS = Object.freeze({
  chunksize: 10 * MiB,
  minpartsize: S3_MIN_PART_SIZE,
  multipartcopychunksize: 32 * MiB,
  multipartcopythresholdsize: S3_MAX_PART_SIZE,
  multipartcopymaxconcurrency: 100
})

/**
 * The options of the S3 driver, named as CNCF distribution's `storage.s3` keys.
 * Sizes are in bytes.
 */
export interface S3DriverOptions {
  /** The AWS region (any value for most S3-compatible servers; default `us-east-1` when `regionendpoint` is set). */
  region?: string
  /** The endpoint of an S3-compatible server, like `http://127.0.0.1:7050`; without a scheme, `secure` picks one. */
  regionendpoint?: string
  bucket: string
  /** Static credentials; without them the SDK's default chain (environment, shared files, instance roles) is used. */
  accesskey?: string
  secretkey?: string
  /** A prefix for every key, so that several registries can share a bucket; keys are `<rootdirectory>/<path>`, as in distribution. */
  rootdirectory?: string
  /** Path-style URLs (`endpoint/bucket/key`) instead of virtual hosts (`bucket.endpoint/key`); S3-compatible servers usually need it. */
  forcepathstyle?: boolean
  /** HTTPS (default) or HTTP, for endpoints given without a scheme and for AWS itself. */
  secure?: boolean
  /** Accept any TLS certificate from the endpoint. For tests only. */
  skipverify?: boolean
  /** The size of the parts a writer uploads (default 10 MiB, at least `minpartsize`, at most 5 GiB); a writer buffers one part. */
  chunksize?: number
  /**
   * The smallest part the server accepts (default 5 MiB, S3's rule). Not a distribution key: lower it only for a server
   * configured to accept smaller parts (Ceph's `rgw_multipart_min_part_size`), so tests can make many small parts.
   */
  minpartsize?: number
  /** Objects larger than this are moved by a multipart copy (UploadPartCopy) instead of one CopyObject (default and maximum 5 GiB). */
  multipartcopythresholdsize?: number
  /** The part size of a multipart copy (default 32 MiB, at least `minpartsize`, at most 5 GiB). */
  multipartcopychunksize?: number
  /** How many parts of a multipart copy run at once (default 100). */
  multipartcopymaxconcurrency?: number
}

export interface ResolvedS3Options {
  bucket: string
  region: string
  /** A URL with its scheme; undefined means AWS's own endpoints. */
  endpoint: string | undefined
  secure: boolean
  forcePathStyle: boolean
  skipVerify: boolean
  credentials: { accessKeyId: string, secretAccessKey: string } | undefined
  /** `<rootdirectory>/`, or '' for the bucket's root. */
  rootPrefix: string
  chunkSize: number
  minPartSize: number
  copyChunkSize: number
  copyThreshold: number
  copyConcurrency: number
}

/** An unusable S3 option; `option` is its name, like `chunksize`. */
export class S3OptionError extends TypeError {
  readonly option: string
  readonly problem: string
  constructor (option: string, problem: string) {
    super(`S3 storage: ${option} ${problem}`)
    this.name = 'S3OptionError'
    this.option = option
    this.problem = problem
  }
}

const KNOWN = new Set([
  'region', 'regionendpoint', 'bucket', 'accesskey', 'secretkey', 'rootdirectory', 'forcepathstyle', 'secure', 'skipverify',
  'chunksize', 'minpartsize', 'multipartcopythresholdsize', 'multipartcopychunksize', 'multipartcopymaxconcurrency'
])

function optionalString (options: Record<string, unknown>, name: string): string | undefined {
  const value = options[name]
  if (value === undefined) return undefined
  if (typeof value !== 'string') throw new S3OptionError(name, 'must be a string')
  return value
}

function optionalBoolean (options: Record<string, unknown>, name: string, fallback: boolean): boolean {
  const value = options[name]
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw new S3OptionError(name, 'must be true or false')
  return value
}

function size (options: Record<string, unknown>, name: string, fallback: number, min: number, max: number): number {
  const value = options[name] ?? fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new S3OptionError(name, `must be an integer from ${min} to ${max}${name === 'chunksize' || name === 'multipartcopychunksize' ? ' (at least minpartsize)' : ''}, got ${JSON.stringify(value)}`)
  }
  return value
}

/** Keys are `<rootdirectory without surrounding slashes>/<path without its leading slash>`, as distribution's `s3Path`. */
function rootPrefixOf (rootdirectory: string | undefined): string {
  const trimmed = (rootdirectory ?? '').replace(/^\/+/, '').replace(/\/+$/, '')
  return trimmed === '' ? '' : `${trimmed}/`
}

/** Checks the options and fills in the defaults; throws {@link S3OptionError} naming the first bad one. */
export function resolveS3Options (input: S3DriverOptions): ResolvedS3Options {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new S3OptionError('options', 'must be an object')
  const options = input as unknown as Record<string, unknown>
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key) && options[key] !== undefined) throw new S3OptionError(key, 'is not an S3 option')
  }
  const bucket = optionalString(options, 'bucket')
  if (bucket === undefined || bucket === '') throw new S3OptionError('bucket', 'must be set')
  const secure = optionalBoolean(options, 'secure', true)

  let endpoint = optionalString(options, 'regionendpoint')
  if (endpoint === '') endpoint = undefined
  if (endpoint !== undefined) {
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint)) endpoint = `${secure ? 'https' : 'http'}://${endpoint}`
    let url: URL
    try {
      url = new URL(endpoint)
    } catch {
      throw new S3OptionError('regionendpoint', `is not a URL: ${JSON.stringify(options.regionendpoint)}`)
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new S3OptionError('regionendpoint', `must be an http or https URL: ${JSON.stringify(options.regionendpoint)}`)
  }
  let region = optionalString(options, 'region')
  if (region === undefined || region === '') {
    if (endpoint === undefined) throw new S3OptionError('region', 'must be set (or regionendpoint, for an S3-compatible server)')
    region = 'us-east-1'
  }

  const accessKey = optionalString(options, 'accesskey') ?? ''
  const secretKey = optionalString(options, 'secretkey') ?? ''
  if ((accessKey === '') !== (secretKey === '')) {
    throw new S3OptionError(accessKey === '' ? 'accesskey' : 'secretkey', 'must be set with the other: set both accesskey and secretkey, or neither to use the default credential chain')
  }

  const minPartSize = size(options, 'minpartsize', S3_DEFAULTS.minpartsize, 1, S3_MAX_PART_SIZE)
  return {
    bucket,
    region,
    endpoint,
    secure,
    forcePathStyle: optionalBoolean(options, 'forcepathstyle', false),
    skipVerify: optionalBoolean(options, 'skipverify', false),
    credentials: accessKey === '' ? undefined : { accessKeyId: accessKey, secretAccessKey: secretKey },
    rootPrefix: rootPrefixOf(optionalString(options, 'rootdirectory')),
    minPartSize,
    chunkSize: size(options, 'chunksize', Math.max(S3_DEFAULTS.chunksize, minPartSize), minPartSize, S3_MAX_PART_SIZE),
    copyChunkSize: size(options, 'multipartcopychunksize', Math.max(S3_DEFAULTS.multipartcopychunksize, minPartSize), minPartSize, S3_MAX_PART_SIZE),
    copyThreshold: size(options, 'multipartcopythresholdsize', S3_DEFAULTS.multipartcopythresholdsize, 0, S3_MAX_PART_SIZE),
    copyConcurrency: size(options, 'multipartcopymaxconcurrency', S3_DEFAULTS.multipartcopymaxconcurrency, 1, 10_000)
  }
}
