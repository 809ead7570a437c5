import t from 'tap'
import { execFile } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import Fastify from 'fastify'
import { request } from 'undici'
import { registry } from '../../lib/index.js'
import { OciLayout } from '../helpers/oci-layout.js'
import { tempDir } from '../helpers/registry.js'

const exec = promisify(execFile)

t.test('podman (vfs storage) pushes and pulls through the registry', async (t) => {
  const storage = await tempDir()
  const work = await tempDir()
  t.teardown(async () => { await storage.cleanup(); await work.cleanup() })
  // An isolated podman store in the test's own folder: no daemon, no host image store touched.
  const podman = async (...args: string[]): Promise<string> => (await exec('podman', [
    '--root', join(work.path, 'root'), '--runroot', join(work.path, 'runroot'), '--storage-driver', 'vfs',
    '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', ...args
  ], { timeout: 180_000, maxBuffer: 64 * 1024 * 1024 })).stdout
  await podman('--version').catch((error: Error) => { throw new Error(`podman is required for this suite (.ci/run installs it): ${error.message}`) })

  const app = Fastify()
  await app.register(registry, { storage: { filesystem: { rootDirectory: storage.path } }, uploadState: { secret: 'podman' }, delete: { enabled: true } })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => await app.close())
  const address = app.server.address()
  const host = `127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`

  // podman names an image pulled from an OCI layout after its path, which must be lower case.
  const layoutDir = join(tmpdir(), `podman-layout-${process.pid}-${Date.now()}`)
  t.teardown(async () => await rm(layoutDir, { recursive: true, force: true }))
  const layout = new OciLayout(layoutDir)
  const image = await layout.image({ layerSizes: [4096, 2 * 1024 * 1024], label: 'podman' })
  layout.tag(image.manifest, 'v1')
  await layout.save()

  await podman('pull', `oci:${layout.dir}:v1`)
  const local = (await podman('images', '--format', '{{.ID}}')).trim().split('\n')[0]
  t.ok(image.config.digest.startsWith(`sha256:${local}`), 'podman unpacked the image built for the test')

  await podman('tag', local, `${host}/podman/app:v1`)
  await podman('push', '--tls-verify=false', `${host}/podman/app:v1`)
  const tags = await request(`http://${host}/v2/podman/app/tags/list`)
  t.same(await tags.body.json(), { name: 'podman/app', tags: ['v1'] })

  await podman('rmi', '--all', '--force')
  await podman('pull', '--tls-verify=false', `${host}/podman/app:v1`)
  const pulled = JSON.parse(await podman('image', 'inspect', `${host}/podman/app:v1`)) as Array<{ Id: string, RootFS: { Layers: string[] } }>
  t.equal(`sha256:${pulled[0].Id}`, image.config.digest, 'the pulled image has the same config')
  t.equal(pulled[0].RootFS.Layers.length, 2, 'with both layers unpacked')
})
