// The S3 server the S3 driver tests run against: a real Ceph RADOS Gateway started by
// test/services/ceph-rgw.sh (or any S3 server named by S3_ENDPOINT). Nothing answering
// is a failure, never a skip: .ci/run starts the gateway before the tests.
import { randomBytes } from 'node:crypto'
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client
} from '@aws-sdk/client-s3'
import type { S3DriverOptions } from '../../lib/storage/s3.js'

// The SDK warns once per process that its 2027 releases will need Node 22; tests need not say it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

export const S3_ENDPOINT = process.env.S3_ENDPOINT ?? 'http://127.0.0.1:7050'
export const S3_ACCESS_KEY = process.env.S3_ACCESS_KEY ?? 'testaccesskey'
export const S3_SECRET_KEY = process.env.S3_SECRET_KEY ?? 'testsecretkey123'
export const S3_REGION = process.env.S3_REGION ?? 'us-east-1'
/**
 * The smallest part the server accepts. test/services/ceph-rgw.sh lowers Ceph's
 * rgw_multipart_min_part_size to 64 KiB; set S3_MIN_PART_SIZE=5242880 for a server with S3's rule.
 */
export const S3_MIN_PART_SIZE = Number(process.env.S3_MIN_PART_SIZE ?? 64 * 1024)

const HOW_TO_START = 'start one with `test/services/ceph-rgw.sh start /tmp/ceph-rgw` ' +
  '(Debian: apt-get install --no-install-recommends radosgw ceph-mon ceph-osd), or point S3_ENDPOINT at an S3 server'

/** Rejects with a message saying how to start a server unless something answers HTTP at S3_ENDPOINT. */
export async function requireS3 (): Promise<void> {
  try {
    const response = await fetch(S3_ENDPOINT, { signal: AbortSignal.timeout(5000) })
    await response.body?.cancel()
  } catch (error) {
    throw new Error(`No S3 server answers at ${S3_ENDPOINT} (${(error as Error).cause !== undefined ? String((error as Error).cause) : (error as Error).message}): ${HOW_TO_START}`)
  }
}

/** A plain SDK client for the test server, for checks behind the driver's back. */
export function s3Client (): S3Client {
  return new S3Client({
    region: S3_REGION,
    endpoint: S3_ENDPOINT,
    forcePathStyle: true,
    credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED'
  })
}

/** Driver options for `bucket` on the test server; `extra` overrides. */
export function s3Options (bucket: string, extra: Partial<S3DriverOptions> = {}): S3DriverOptions {
  return {
    region: S3_REGION,
    regionendpoint: S3_ENDPOINT,
    bucket,
    accesskey: S3_ACCESS_KEY,
    secretkey: S3_SECRET_KEY,
    forcepathstyle: true,
    ...extra
  }
}

export function randomName (prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
}

/** Deletes every object and unfinished multipart upload in the bucket, then the bucket. */
export async function removeBucket (client: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 }))
    const keys = (listed.Contents ?? []).map((object) => ({ Key: object.Key }))
    if (keys.length === 0) break
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }))
  }
  for (;;) {
    const uploads = (await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? []
    if (uploads.length === 0) break
    for (const upload of uploads) {
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId }))
    }
  }
  await client.send(new DeleteBucketCommand({ Bucket: bucket }))
}

/**
 * A fresh bucket on the test server (fails clearly when there is no server);
 * `remove` empties and deletes it.
 */
export async function createTestBucket (prefix = 'oci-test'): Promise<{ bucket: string, client: S3Client, remove: () => Promise<void> }> {
  await requireS3()
  const client = s3Client()
  const bucket = randomName(prefix).toLowerCase()
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }))
  } catch (error) {
    client.destroy()
    throw new Error(`Cannot create bucket ${bucket} at ${S3_ENDPOINT} with access key ${S3_ACCESS_KEY}: ${(error as Error).name}: ${(error as Error).message}`, { cause: error })
  }
  return {
    bucket,
    client,
    remove: async () => {
      try {
        await removeBucket(client, bucket)
      } finally {
        client.destroy()
      }
    }
  }
}
