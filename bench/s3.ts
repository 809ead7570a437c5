import { DeleteObjectCommand } from '@aws-sdk/client-s3'
import { createTestBucket, S3_ACCESS_KEY, S3_ENDPOINT, S3_REGION, S3_SECRET_KEY } from '../test/helpers/ceph.js'

/**
 * The S3 rows' storage: a fresh bucket per registry on the S3 server the
 * tests use (S3_ENDPOINT, default the Ceph RADOS Gateway of
 * test/services/ceph-rgw.sh at http://127.0.0.1:7050; S3_ACCESS_KEY,
 * S3_SECRET_KEY, S3_REGION as in test/helpers/ceph.ts).
 */
export interface BenchBucket {
  endpoint: string
  region: string
  accessKey: string
  secretKey: string
  bucket: string
  /** Deletes a blob's object behind the registry's back, so the server's memory does not fill over the rounds. */
  dropBlob: (hex: string) => Promise<void>
  /** Empties and deletes the bucket. */
  remove: () => Promise<void>
}

/** Both registries keep distribution's layout with no root directory: blob data lives at this key. */
export function blobKey (hex: string): string {
  return `docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`
}

/** A fresh bucket named after `label`; fails with how to start a server when none answers. */
export async function createBenchBucket (label: string): Promise<BenchBucket> {
  const { bucket, client, remove } = await createTestBucket(`oci-bench-${label}`)
  return {
    endpoint: S3_ENDPOINT,
    region: S3_REGION,
    accessKey: S3_ACCESS_KEY,
    secretKey: S3_SECRET_KEY,
    bucket,
    dropBlob: async (hex) => { await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: blobKey(hex) })) },
    remove
  }
}

export { S3_ENDPOINT }
