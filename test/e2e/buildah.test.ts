import t from 'tap'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import Fastify from 'fastify'
import { request } from 'undici'
import { registry } from '../../lib/index.js'
import { tempDir } from '../helpers/registry.js'

const exec = promisify(execFile)

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json'
const ACCEPT = [OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_LIST].join(', ')

interface Seen { method: string, url: string, status: number }
interface Manifest { mediaType: string, config: { digest: string, mediaType: string }, layers: Array<{ digest: string, mediaType: string }> }
interface ImageConfig { config: { Env?: string[], Entrypoint?: string[], Labels?: Record<string, string> }, rootfs: { diff_ids: string[] } }
interface Inspected { FromImageDigest: string, OCIv1: ImageConfig, Manifest: string }

t.test('buildah builds from scratch, pushes OCI and Docker manifests, and pulls them back', async (t) => {
  const storage = await tempDir()
  const work = await tempDir('buildah-')
  t.teardown(async () => { await storage.cleanup(); await work.cleanup() })

  // Everything buildah reads or writes lives in the test's folder: its store, auth, registries,
  // containers.conf, signature policy and HOME.
  const dir = (name: string): string => join(work.path, name)
  await Promise.all(['home', 'tmp', 'varlib', 'registries.d', 'context', 'cni'].map(async (name) => await mkdir(dir(name))))
  await writeFile(dir('auth.json'), JSON.stringify({ auths: {} }))
  await writeFile(dir('policy.json'), JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }))
  await writeFile(dir('registries.conf'), 'unqualified-search-registries = []\n')
  // Without this, every buildah call creates a lock file in the machine's /etc/cni/net.d.
  await writeFile(dir('containers.conf'), `[network]\nnetwork_config_dir = "${dir('cni')}"\n`)
  await writeFile(dir('storage.conf'), `[storage]\ndriver = "vfs"\ngraphroot = "${dir('root')}"\nrunroot = "${dir('runroot')}"\n`)
  const env = {
    ...process.env,
    HOME: dir('home'),
    TMPDIR: dir('tmp'),
    REGISTRY_AUTH_FILE: dir('auth.json'),
    CONTAINERS_REGISTRIES_CONF: dir('registries.conf'),
    CONTAINERS_CONF: dir('containers.conf'),
    CONTAINERS_STORAGE_CONF: dir('storage.conf')
  }
  // As root, buildah's commit keeps its blob-info cache in /var/lib/containers/cache whatever --root says,
  // so each call gets a private mount namespace in which /var/lib is a folder of the test's own.
  const script = 'mount --bind "$0" /var/lib && exec buildah "$@"'
  const buildah = async (...args: string[]): Promise<string> => (await exec('unshare', [
    '--mount', '--propagation', 'private', '--', 'sh', '-c', script, dir('varlib'),
    '--root', dir('root'), '--runroot', dir('runroot'), '--storage-driver', 'vfs', '--registries-conf-dir', dir('registries.d'),
    ...args
  ], { env, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 })).stdout
  await buildah('--version').catch((error: Error) => { throw new Error(`buildah (and unshare, as root) are required for this suite (.ci/run installs buildah): ${error.message}`) })
  const policy = ['--signature-policy', dir('policy.json')]

  const seen: Seen[] = []
  const app = Fastify()
  app.addHook('onResponse', async (request, reply) => { seen.push({ method: request.method, url: request.url, status: reply.statusCode }) })
  await app.register(registry, { storage: { filesystem: { rootDirectory: storage.path } }, uploadState: { secret: 'buildah' }, delete: { enabled: true } })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => await app.close())
  const address = app.server.address()
  const host = `127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`

  const manifestOf = async (name: string, reference: string, method: 'GET' | 'HEAD' = 'GET', accept = ACCEPT): Promise<{ status: number, type: unknown, digest: unknown, body: Buffer }> => {
    const response = await request(`http://${host}/v2/${name}/manifests/${reference}`, { method, headers: { accept } })
    const body = Buffer.from(await response.body.arrayBuffer())
    return { status: response.statusCode, type: response.headers['content-type'], digest: response.headers['docker-content-digest'], body }
  }

  await writeFile(join(dir('context'), 'hello.txt'), 'hello from buildah\n')
  await writeFile(join(dir('context'), 'greeting.conf'), 'greeting = "hello"\n')

  // buildah commits a working container's whole diff as one layer, so two layers take two commits.
  await t.test('from scratch, two copies, config and commit give a two-layer image', async (t) => {
    const base = (await buildah('from', ...policy, '--name', 'base', 'scratch')).trim()
    t.equal(base, 'base')
    await buildah('copy', base, join(dir('context'), 'hello.txt'), '/app/hello.txt')
    await buildah('commit', ...policy, '--format', 'oci', base, 'localhost/buildah-base:v1')
    const app = (await buildah('from', ...policy, '--pull=never', '--name', 'app', 'localhost/buildah-base:v1')).trim()
    await buildah('copy', app, join(dir('context'), 'greeting.conf'), '/app/etc/greeting.conf')
    await buildah('config', '--label', 'org.example.suite=buildah', '--env', 'GREETING=hello', '--entrypoint', '["/app/hello.txt"]', app)
    await buildah('commit', ...policy, '--format', 'oci', app, 'localhost/buildah-app:v1')
    const local = JSON.parse(await buildah('inspect', '--type', 'image', 'localhost/buildah-app:v1')) as Inspected
    t.equal(local.OCIv1.rootfs.diff_ids.length, 2, 'one layer per copy')
    t.equal(local.OCIv1.config.Labels?.['org.example.suite'], 'buildah')
    t.ok(existsSync(join(dir('varlib'), 'containers', 'cache')), 'the blob-info cache landed in the test\'s folder')
  })

  const pushed: Record<'oci' | 'docker', string> = { oci: '', docker: '' }
  const blobs: Record<'oci' | 'docker', string[]> = { oci: [], docker: [] }
  for (const [format, mediaType, layerType] of [
    ['oci', OCI_MANIFEST, 'application/vnd.oci.image.layer.v1.tar+gzip'],
    ['docker', DOCKER_MANIFEST, 'application/vnd.docker.image.rootfs.diff.tar.gzip']
  ] as const) {
    await t.test(`push --format ${format}`, async (t) => {
      seen.length = 0
      const digestFile = dir(`digest-${format}`)
      await buildah('push', ...policy, '--tls-verify=false', '--format', format === 'oci' ? 'oci' : 'v2s2', '--digestfile', digestFile,
        'localhost/buildah-app:v1', `docker://${host}/buildah/app:${format}`)
      const reported = (await readFile(digestFile, 'utf8')).trim()
      t.match(reported, /^sha256:[0-9a-f]{64}$/, 'buildah wrote the digest it pushed')
      pushed[format] = reported
      const head = await manifestOf('buildah/app', format, 'HEAD', mediaType)
      t.equal(head.status, 200)
      t.equal(head.type, mediaType, 'HEAD gives the media type buildah pushed')
      t.equal(head.digest, reported, 'the registry\'s Docker-Content-Digest is the one buildah reported')
      const got = await manifestOf('buildah/app', format, 'GET', mediaType)
      t.equal(got.type, mediaType)
      t.equal(got.digest, reported)
      t.equal(`sha256:${createHash('sha256').update(got.body).digest('hex')}`, reported, 'the stored bytes hash to that digest')
      const manifest = JSON.parse(got.body.toString()) as Manifest
      t.equal(manifest.mediaType, mediaType)
      t.same(manifest.layers.map((layer) => layer.mediaType), [layerType, layerType], 'both layers, compressed on the way')
      const byDigest = await manifestOf('buildah/app', reported)
      t.equal(byDigest.status, 200, 'the manifest is also found by digest')
      t.equal(byDigest.body.toString(), got.body.toString())
      for (const blob of [manifest.config, ...manifest.layers]) {
        const response = await request(`http://${host}/v2/buildah/app/blobs/${blob.digest}`, { method: 'HEAD' })
        t.equal(response.statusCode, 200, `blob ${blob.digest} is stored`)
        await response.body.dump()
      }
      blobs[format] = [manifest.config.digest, ...manifest.layers.map((layer) => layer.digest)]
      if (format === 'docker') {
        t.equal(manifest.config.mediaType, 'application/vnd.docker.container.image.v1+json')
        // The config and the gzip layers hash the same in both formats: only the manifest differs,
        // and the blob-info cache lets buildah find the compressed layers already there.
        t.same(blobs.docker, blobs.oci, 'the Docker manifest points at the blobs the OCI push stored')
        t.same(seen.filter((entry) => entry.method === 'POST' || entry.method === 'PATCH'), [], 'so nothing is uploaded again')
      } else {
        t.equal(manifest.config.mediaType, 'application/vnd.oci.image.config.v1+json')
      }
    })
  }

  await t.test('pull back by tag and by digest after rmi', async (t) => {
    await buildah('rm', '--all')
    await buildah('rmi', '--all', '--force')
    t.equal((await buildah('images', '--quiet')).trim(), '', 'the local store is empty')
    for (const [reference, digest, mediaType] of [
      [`${host}/buildah/app:oci`, pushed.oci, OCI_MANIFEST],
      [`${host}/buildah/app@${pushed.docker}`, pushed.docker, DOCKER_MANIFEST]
    ]) {
      await buildah('pull', ...policy, '--tls-verify=false', reference)
      // Both pulls land on one local image (same config, so same ID); it reports the manifest pulled last.
      const inspected = JSON.parse(await buildah('inspect', '--type', 'image', reference)) as Inspected
      t.equal(inspected.FromImageDigest, digest, `${reference} is the manifest that was pushed`)
      t.equal((JSON.parse(inspected.Manifest) as Manifest).mediaType, mediaType)
      t.equal(inspected.OCIv1.config.Labels?.['org.example.suite'], 'buildah', `${reference} keeps the label`)
      t.ok(inspected.OCIv1.config.Env?.includes('GREETING=hello'), `${reference} keeps the env`)
      t.same(inspected.OCIv1.config.Entrypoint, ['/app/hello.txt'], `${reference} keeps the entrypoint`)
      t.equal(inspected.OCIv1.rootfs.diff_ids.length, 2, `${reference} has both layers`)
    }
    t.equal((await buildah('images', '--quiet')).trim().split('\n').length, 1, 'the two pulls share one local image')
  })

  await t.test('manifest create, add and push --all', async (t) => {
    await buildah('manifest', 'create', 'localhost/buildah-list:v1')
    await buildah('manifest', 'add', '--tls-verify=false', '--arch', 'amd64', 'localhost/buildah-list:v1', `docker://${host}/buildah/app:oci`)
    await buildah('manifest', 'add', '--tls-verify=false', '--arch', 'arm64', 'localhost/buildah-list:v1', `docker://${host}/buildah/app@${pushed.docker}`)
    const digestFile = dir('digest-list')
    seen.length = 0
    await buildah('manifest', 'push', ...policy, '--all', '--tls-verify=false', '--digestfile', digestFile, 'localhost/buildah-list:v1', `docker://${host}/buildah/list:v1`)
    const reported = (await readFile(digestFile, 'utf8')).trim()
    const got = await manifestOf('buildah/list', 'v1')
    t.equal(got.status, 200)
    t.equal(got.digest, reported, 'the list\'s digest is the one buildah reported')
    t.equal(`sha256:${createHash('sha256').update(got.body).digest('hex')}`, reported)
    const list = JSON.parse(got.body.toString()) as { mediaType: string, manifests: Array<{ digest: string, mediaType: string, platform: { architecture: string } }> }
    t.equal(got.type, OCI_INDEX, 'buildah makes an OCI index by default')
    t.equal(list.mediaType, OCI_INDEX)
    t.same(list.manifests.map((entry) => [entry.digest, entry.mediaType, entry.platform.architecture]),
      [[pushed.oci, OCI_MANIFEST, 'amd64'], [pushed.docker, DOCKER_MANIFEST, 'arm64']], 'an OCI and a Docker manifest in one index')
    for (const [digest, mediaType] of [[pushed.oci, OCI_MANIFEST], [pushed.docker, DOCKER_MANIFEST]]) {
      const child = await manifestOf('buildah/list', digest)
      t.equal(child.status, 200, `--all pushed ${digest} into the list's repository`)
      t.equal(child.type, mediaType)
    }
    const mounted = seen.filter((entry) => entry.method === 'POST' && entry.url.includes('from=buildah%2Fapp') && entry.status === 201)
    t.equal(mounted.length, 2, 'both layers were mounted from buildah/app rather than uploaded')
  })
})
