import t from 'tap'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import Fastify from 'fastify'
import { request } from 'undici'
import { registry } from '../../lib/index.js'
import { OciLayout } from '../helpers/oci-layout.js'
import { tempDir } from '../helpers/registry.js'

const exec = promisify(execFile)

async function skopeo (...args: string[]): Promise<string> {
  const { stdout } = await exec('skopeo', ['--insecure-policy', ...args], { timeout: 180_000, maxBuffer: 64 * 1024 * 1024 })
  return stdout
}

interface Seen { method: string, url: string, status: number }

t.test('skopeo pushes, inspects, lists, pulls, copies and deletes real images', async (t) => {
  await exec('skopeo', ['--version']).catch(() => { throw new Error('skopeo is required for this suite (.ci/run installs it)') })
  const storage = await tempDir()
  const work = await tempDir()
  t.teardown(async () => { await storage.cleanup(); await work.cleanup() })

  const seen: Seen[] = []
  const app = Fastify()
  app.addHook('onResponse', async (request, reply) => { seen.push({ method: request.method, url: request.url, status: reply.statusCode }) })
  await app.register(registry, { storage: { filesystem: { rootDirectory: storage.path } }, uploadState: { secret: 'skopeo' }, delete: { enabled: true } })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => await app.close())
  const address = app.server.address()
  const host = `127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
  const ref = (name: string): string => `docker://${host}/${name}`

  const layout = new OciLayout(join(work.path, 'layout'))
  const big = await layout.image({ layerSizes: [2048, 24 * 1024 * 1024, 4096], label: 'big' })
  const amd64 = await layout.image({ layerSizes: [1000], architecture: 'amd64', label: 'amd' })
  const arm64 = await layout.image({ layerSizes: [1500], architecture: 'arm64', label: 'arm' })
  const index = await layout.index([amd64, arm64])
  const signature = await layout.artifact(big.manifest, 'application/vnd.example.signature', { signed: 'big' })
  layout.tag(big.manifest, 'big')
  layout.tag(index.descriptor, 'multi')
  layout.tag(signature.manifest, 'signature')
  await layout.save()
  const largeLayer = big.layers[1].digest

  await t.test('push a multi-layer image and inspect it', async (t) => {
    await skopeo('copy', '--dest-tls-verify=false', `oci:${layout.dir}:big`, ref('apps/big:v1'))
    const inspected = JSON.parse(await skopeo('inspect', '--tls-verify=false', ref('apps/big:v1'))) as { Digest: string, Layers: string[] }
    t.equal(inspected.Digest, big.manifest.digest, 'the manifest digest is what was pushed')
    t.same(inspected.Layers, big.layers.map((layer) => layer.digest))
    const raw = await skopeo('inspect', '--raw', '--tls-verify=false', ref('apps/big:v1'))
    t.equal(raw, big.manifestBytes.toString(), 'the exact manifest bytes come back')
  })

  await t.test('list tags', async (t) => {
    await skopeo('copy', '--src-tls-verify=false', '--dest-tls-verify=false', ref('apps/big:v1'), ref('apps/big:v2'))
    const tags = JSON.parse(await skopeo('list-tags', '--tls-verify=false', ref('apps/big'))) as { Tags: string[] }
    t.same(tags.Tags, ['v1', 'v2'])
  })

  await t.test('pull back and compare digests', async (t) => {
    const out = join(work.path, 'pulled')
    await skopeo('copy', '--src-tls-verify=false', ref('apps/big:v1'), `oci:${out}:back`)
    const pulledIndex = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> }
    t.equal(pulledIndex.manifests[0].digest, big.manifest.digest)
    const layer = await readFile(join(out, 'blobs', 'sha256', largeLayer.slice(7)))
    t.equal(`sha256:${createHash('sha256').update(layer).digest('hex')}`, largeLayer, 'the large layer arrives intact')
  })

  await t.test('a two-platform index with --all', async (t) => {
    await skopeo('copy', '--all', '--dest-tls-verify=false', `oci:${layout.dir}:multi`, ref('apps/multi:v1'))
    const raw = await skopeo('inspect', '--raw', '--tls-verify=false', ref('apps/multi:v1'))
    t.equal(raw, index.bytes.toString())
    for (const [arch, image] of [['arm64', arm64], ['amd64', amd64]] as const) {
      const inspected = JSON.parse(await skopeo('inspect', '--tls-verify=false', '--override-arch', arch, ref('apps/multi:v1'))) as { Digest: string, Architecture: string }
      t.equal(inspected.Architecture, arch, 'the platform\'s child manifest is resolved through the index')
      const child = await skopeo('inspect', '--raw', '--tls-verify=false', ref(`apps/multi@${image.manifest.digest}`))
      t.equal(child, image.manifestBytes.toString())
    }
    const out = join(work.path, 'pulled-multi')
    await skopeo('copy', '--all', '--src-tls-verify=false', ref('apps/multi:v1'), `oci:${out}:all`)
    const pulled = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> }
    t.equal(pulled.manifests[0].digest, index.descriptor.digest)
  })

  await t.test('copy with --format v2s2 converts to Docker schema2', async (t) => {
    await skopeo('copy', '--format', 'v2s2', '--src-tls-verify=false', '--dest-tls-verify=false', ref('apps/big:v1'), ref('apps/docker:v1'))
    const raw = JSON.parse(await skopeo('inspect', '--raw', '--tls-verify=false', ref('apps/docker:v1'))) as { mediaType: string, layers: Array<{ digest: string, mediaType: string }> }
    t.equal(raw.mediaType, 'application/vnd.docker.distribution.manifest.v2+json')
    t.same(raw.layers.map((layer) => layer.digest), big.layers.map((layer) => layer.digest))
    const head = await request(`http://${host}/v2/apps/docker/manifests/v1`, { method: 'HEAD' })
    t.equal(head.headers['content-type'], 'application/vnd.docker.distribution.manifest.v2+json')
    await head.body.dump()
  })

  await t.test('copy between repositories mounts the large layer instead of uploading it', async (t) => {
    seen.length = 0
    await skopeo('copy', '--src-tls-verify=false', '--dest-tls-verify=false', ref('apps/big:v1'), ref('mirror/big:v1'))
    const mounted = seen.filter((entry) => entry.method === 'POST' && decodeURIComponent(entry.url).includes(`mount=${largeLayer}`) && entry.status === 201)
    t.equal(mounted.length, 1, 'the large layer was mounted across repositories')
    const uploaded = seen.filter((entry) => entry.method === 'PUT' && entry.url.startsWith('/v2/mirror/big/blobs/uploads/') && decodeURIComponent(entry.url).includes(largeLayer))
    t.equal(uploaded.length, 0, 'and never uploaded again')
    const inspected = JSON.parse(await skopeo('inspect', '--tls-verify=false', ref('mirror/big:v1'))) as { Digest: string }
    t.equal(inspected.Digest, big.manifest.digest)
  })

  await t.test('delete', async (t) => {
    await skopeo('delete', '--tls-verify=false', ref('mirror/big:v1'))
    const gone = await request(`http://${host}/v2/mirror/big/manifests/${big.manifest.digest}`)
    t.equal(gone.statusCode, 404)
    await gone.body.dump()
    const error = await skopeo('inspect', '--tls-verify=false', ref('mirror/big:v1')).then(() => undefined, (failure: Error) => failure)
    t.ok(error, 'skopeo no longer finds the image')
    const other = JSON.parse(await skopeo('inspect', '--tls-verify=false', ref('apps/big:v1'))) as { Digest: string }
    t.equal(other.Digest, big.manifest.digest, 'the same image in another repository is untouched')
  })

  await t.test('an artifact with a subject shows up in the referrers API', async (t) => {
    await skopeo('copy', '--dest-tls-verify=false', `oci:${layout.dir}:signature`, ref('apps/big:signature'))
    const raw = await skopeo('inspect', '--raw', '--tls-verify=false', ref('apps/big:signature'))
    t.equal(raw, signature.manifestBytes.toString())
    const referrers = await request(`http://${host}/v2/apps/big/referrers/${big.manifest.digest}`)
    t.equal(referrers.statusCode, 200)
    const listed = await referrers.body.json() as { manifests: Array<{ digest: string, artifactType: string }> }
    t.same(listed.manifests.map((entry) => [entry.digest, entry.artifactType]), [[signature.manifest.digest, 'application/vnd.example.signature']])
  })

  await t.test('catalog lists every repository pushed', async (t) => {
    const catalog = await request(`http://${host}/v2/_catalog`)
    t.same(await catalog.body.json(), { repositories: ['apps/big', 'apps/docker', 'apps/multi', 'mirror/big'] })
  })
})
