// The standalone registry on S3 (a real Ceph RADOS Gateway), configured only through
// distribution's REGISTRY_STORAGE_S3_* environment variables: two processes share one
// bucket; skopeo pushes to one and pulls from the other; a chunked upload hops between them.
import t from 'tap'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ListObjectsV2Command } from '@aws-sdk/client-s3'
import { request } from 'undici'
import { OciLayout } from '../helpers/oci-layout.js'
import { randomBlob, tempDir } from '../helpers/registry.js'
import { onInstance, uploadRequest } from '../helpers/http-upload.js'
import { startStandaloneProcess, type RunningRegistry } from '../helpers/standalone-process.js'
import { S3_ACCESS_KEY, S3_ENDPOINT, S3_REGION, S3_SECRET_KEY, createTestBucket } from '../helpers/ceph.js'

const exec = promisify(execFile)
const MiB = 1024 * 1024

async function skopeo (...args: string[]): Promise<string> {
  const { stdout } = await exec('skopeo', ['--insecure-policy', ...args], { timeout: 180_000, maxBuffer: 64 * 1024 * 1024 })
  return stdout
}

t.test('two standalone registries on one S3 bucket', async (t) => {
  await exec('skopeo', ['--version']).catch(() => { throw new Error('skopeo is required for this suite (.ci/run installs it)') })
  const s3 = await createTestBucket('oci-e2e')
  t.teardown(s3.remove)
  const work = await tempDir()
  t.teardown(work.cleanup)

  const env = {
    REGISTRY_STORAGE: 's3',
    REGISTRY_STORAGE_S3_REGION: S3_REGION,
    REGISTRY_STORAGE_S3_REGIONENDPOINT: S3_ENDPOINT,
    REGISTRY_STORAGE_S3_BUCKET: s3.bucket,
    REGISTRY_STORAGE_S3_ACCESSKEY: S3_ACCESS_KEY,
    REGISTRY_STORAGE_S3_SECRETKEY: S3_SECRET_KEY,
    REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'true',
    REGISTRY_STORAGE_S3_ROOTDIRECTORY: '/registry',
    REGISTRY_STORAGE_S3_CHUNKSIZE: String(5 * MiB),
    REGISTRY_STORAGE_DELETE_ENABLED: 'true',
    REGISTRY_HTTP_SECRET: 's3-e2e'
  }
  const nodes: RunningRegistry[] = []
  t.teardown(async () => { for (const node of nodes) await node.stop() })
  nodes.push(await startStandaloneProcess(env), await startStandaloneProcess(env))
  const [a, b] = nodes
  const host = (node: RunningRegistry): string => `127.0.0.1:${node.port}`
  const ref = (node: RunningRegistry, name: string): string => `docker://${host(node)}/${name}`

  const layout = new OciLayout(join(work.path, 'layout'))
  const image = await layout.image({ layerSizes: [2048, 12 * MiB + 5, 4096], label: 's3' })
  layout.tag(image.manifest, 'v1')
  await layout.save()

  await t.test('skopeo pushes to one instance and pulls from the other', async (t) => {
    await skopeo('copy', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, ref(a, 'apps/s3:v1'))
    const inspected = JSON.parse(await skopeo('inspect', '--tls-verify=false', ref(b, 'apps/s3:v1'))) as { Digest: string, Layers: string[] }
    t.equal(inspected.Digest, image.manifest.digest)
    t.same(inspected.Layers, image.layers.map((layer) => layer.digest))
    t.equal(await skopeo('inspect', '--raw', '--tls-verify=false', ref(b, 'apps/s3:v1')), image.manifestBytes.toString(), 'the exact manifest bytes')

    const out = join(work.path, 'pulled')
    await skopeo('copy', '--src-tls-verify=false', ref(b, 'apps/s3:v1'), `oci:${out}:back`)
    const pulledIndex = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> }
    t.equal(pulledIndex.manifests[0].digest, image.manifest.digest)
    const large = image.layers[1].digest
    const layer = await readFile(join(out, 'blobs', 'sha256', large.slice(7)))
    t.equal(`sha256:${createHash('sha256').update(layer).digest('hex')}`, large, 'the 12 MiB layer (three parts) arrives intact')
  })

  await t.test('the bucket holds distribution\'s layout under the root directory', async (t) => {
    const keys: string[] = []
    let token: string | undefined
    do {
      const page = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, ContinuationToken: token }))
      keys.push(...(page.Contents ?? []).map((object) => object.Key ?? ''))
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined
    } while (token !== undefined)
    const v2 = 'registry/docker/registry/v2'
    for (const layer of image.layers) {
      const hex = layer.digest.slice(7)
      t.ok(keys.includes(`${v2}/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`), `blob ${hex.slice(0, 12)}`)
      t.ok(keys.includes(`${v2}/repositories/apps/s3/_layers/sha256/${hex}/link`), `layer link ${hex.slice(0, 12)}`)
    }
    const manifestHex = image.manifest.digest.slice(7)
    t.ok(keys.includes(`${v2}/repositories/apps/s3/_manifests/revisions/sha256/${manifestHex}/link`))
    t.ok(keys.includes(`${v2}/repositories/apps/s3/_manifests/tags/v1/current/link`))
    t.notOk(keys.some((key) => key.includes('/_uploads/')), 'no upload left behind')
    t.ok(keys.every((key) => key.startsWith('registry/')), 'everything under the root directory')
  })

  await t.test('a chunked upload continues across the instances, through both resume paths', async (t) => {
    // 4 MiB chunks: the first resume reads a 4 MiB object back (under the 5 MiB part minimum),
    // the next ones carry 8 and 12 MiB over with UploadPartCopy.
    const { content, digest } = randomBlob(14 * MiB + 3)
    const chunk = 4 * MiB
    let location = (await uploadRequest(`${a.url}/v2/apps/chunked/blobs/uploads/`, 'POST')).location
    for (let index = 0, offset = 0; offset < content.length; index++, offset += chunk) {
      const end = Math.min(content.length, offset + chunk)
      const instance = index % 2 === 0 ? b : a
      const patch = await uploadRequest(onInstance(location, instance.url), 'PATCH', content.subarray(offset, end), { 'content-range': `${offset}-${end - 1}` })
      t.equal(patch.status, 202, `chunk ${index} on ${instance === a ? 'a' : 'b'}: ${patch.body}`)
      t.equal(patch.range, `0-${end - 1}`)
      location = patch.location
    }
    const status = await uploadRequest(onInstance(location, a.url), 'GET')
    t.equal(status.range, `0-${content.length - 1}`, 'the other instance sees every byte')
    const put = await uploadRequest(`${onInstance(location, b.url)}&digest=${digest}`, 'PUT')
    t.equal(put.status, 201, put.body)
    // Blob GETs are redirected to the bucket (storage.redirect); fetch follows, as clients do.
    const redirected = await request(`${a.url}/v2/apps/chunked/blobs/${digest}`)
    await redirected.body.dump()
    t.equal(redirected.statusCode, 307)
    const pulled = await fetch(`${a.url}/v2/apps/chunked/blobs/${digest}`)
    t.equal(pulled.status, 200)
    t.equal(`sha256:${createHash('sha256').update(Buffer.from(await pulled.arrayBuffer())).digest('hex')}`, digest)
    const ranged = await fetch(`${b.url}/v2/apps/chunked/blobs/${digest}`, { headers: { range: `bytes=${8 * MiB - 2}-${8 * MiB + 1}` } })
    t.equal(ranged.status, 206)
    t.same(Buffer.from(await ranged.arrayBuffer()), content.subarray(8 * MiB - 2, 8 * MiB + 2), 'a range across a seam')
  })

  await t.test('deleted on one instance, gone on the other', async (t) => {
    await skopeo('delete', '--tls-verify=false', ref(b, 'apps/s3:v1'))
    await t.rejects(skopeo('inspect', '--tls-verify=false', ref(a, 'apps/s3:v1')), /manifest unknown|not found/i)
  })

  t.notMatch(a.output() + b.output(), /"level":(50|60)/, 'no errors logged')
})
