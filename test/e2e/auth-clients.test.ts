// Real clients log in to the registry: HTTP Basic against a htpasswd file, and
// the full Bearer flow through the example token server (examples/token-server.ts).
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import bcrypt from 'bcryptjs'
import Fastify, { type FastifyInstance } from 'fastify'
import { request } from 'undici'
import { registry, type RegistryOptions } from '../../lib/index.js'
import { buildTokenServer } from '../../examples/token-server.js'
import { OciLayout, type BuiltImage } from '../helpers/oci-layout.js'
import { tempDir } from '../helpers/registry.js'
import { makeTokenPki } from '../helpers/token-pki.js'

const exec = promisify(execFile)

interface Seen { method: string, url: string, status: number, authorization: string }

function portOf (app: FastifyInstance): number {
  const address = app.server.address()
  return typeof address === 'object' && address !== null ? address.port : 0
}

/** The registry on filesystem storage in `root`, listening on a free loopback port, recording every response. */
async function startRegistry (t: Test, root: string, auth: RegistryOptions['auth']): Promise<{ host: string, seen: Seen[] }> {
  const seen: Seen[] = []
  const app = Fastify()
  app.addHook('onResponse', async (request, reply) => {
    seen.push({ method: request.method, url: request.url, status: reply.statusCode, authorization: request.headers.authorization?.split(' ')[0] ?? '' })
  })
  await app.register(registry, { storage: { filesystem: { rootDirectory: root } }, uploadState: { secret: 'auth-clients' }, auth })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => await app.close())
  return { host: `127.0.0.1:${portOf(app)}`, seen }
}

/** Clients run isolated: their own podman store, and auth files in the test's folder, never the machine's. */
async function clients (work: string): Promise<{
  skopeo: (...args: string[]) => Promise<string>
  podman: (...args: string[]) => Promise<string>
  podmanAuthFile: string
}> {
  // Both read REGISTRY_AUTH_FILE unless told otherwise: an empty one, so "no credentials" means none.
  // podman is always given --authfile for its logins.
  const emptyAuthFile = join(work, 'no-auth.json')
  await writeFile(emptyAuthFile, JSON.stringify({ auths: {} }))
  const env = { ...process.env, REGISTRY_AUTH_FILE: emptyAuthFile }
  const options = { timeout: 180_000, maxBuffer: 64 * 1024 * 1024, env }
  return {
    skopeo: async (...args) => (await exec('skopeo', ['--insecure-policy', ...args], options)).stdout,
    podman: async (...args) => (await exec('podman', [
      '--root', join(work, 'root'), '--runroot', join(work, 'runroot'), '--storage-driver', 'vfs',
      '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', ...args
    ], options)).stdout,
    podmanAuthFile: join(work, 'podman-auth.json')
  }
}

/** An OCI layout under a lower-case temporary path (podman names images pulled from a layout after it). */
async function testImage (t: Test, label: string): Promise<{ layout: OciLayout, image: BuiltImage }> {
  const dir = join(tmpdir(), `auth-layout-${label}-${process.pid}-${Date.now()}`)
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  const layout = new OciLayout(dir)
  const image = await layout.image({ layerSizes: [4096, 64 * 1024], label })
  layout.tag(image.manifest, 'v1')
  await layout.save()
  return { layout, image }
}

async function failure (promise: Promise<unknown>): Promise<string> {
  return await promise.then(() => '', (error: Error & { stderr?: string }) => `${error.message}\n${error.stderr ?? ''}`)
}

async function htpasswdFile (path: string, users: Record<string, string>): Promise<string> {
  await writeFile(path, Object.entries(users).map(([user, password]) => `${user}:${bcrypt.hashSync(password, 5)}\n`).join(''))
  return path
}

t.test('preconditions', async (t) => {
  for (const tool of ['skopeo', 'podman', 'openssl']) {
    await exec(tool, [tool === 'openssl' ? 'version' : '--version']).catch((error: Error) => {
      throw new Error(`${tool} is required for this suite (.ci/run installs it): ${error.message}`)
    })
  }
  t.pass('skopeo, podman and openssl are installed')
})

t.test('htpasswd: skopeo and podman authenticate with Basic credentials', async (t) => {
  const storage = await tempDir()
  const work = await tempDir()
  t.teardown(async () => { await storage.cleanup(); await work.cleanup() })
  const path = await htpasswdFile(join(work.path, 'htpasswd'), { alice: 'alice-pass' })
  const { host, seen } = await startRegistry(t, storage.path, { htpasswd: { realm: 'test-realm', path } })
  const { skopeo, podman, podmanAuthFile } = await clients(work.path)
  const { layout, image } = await testImage(t, 'basic')
  const ref = (name: string): string => `docker://${host}/${name}`

  await t.test('skopeo without credentials is refused', async (t) => {
    const refused = await failure(skopeo('copy', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, ref('basic/app:v1')))
    t.match(refused, /401|unauthorized|authentication required/i, 'the push fails as unauthorized')
    const challenge = await request(`http://${host}/v2/`)
    t.equal(challenge.statusCode, 401, 'the base route needs credentials')
    t.equal(challenge.headers['www-authenticate'], 'Basic realm="test-realm"', 'and names the Basic realm')
    await challenge.body.dump()
  })

  await t.test('skopeo pushes with --dest-creds and pulls with --src-creds', async (t) => {
    await skopeo('copy', '--dest-tls-verify=false', '--dest-creds', 'alice:alice-pass', `oci:${layout.dir}:v1`, ref('basic/app:v1'))
    t.ok(seen.some((entry) => entry.method === 'PUT' && entry.url === '/v2/basic/app/manifests/v1' && entry.status === 201 && entry.authorization === 'Basic'), 'the manifest was put with Basic credentials')
    const inspected = JSON.parse(await skopeo('inspect', '--tls-verify=false', '--creds', 'alice:alice-pass', ref('basic/app:v1'))) as { Digest: string }
    t.equal(inspected.Digest, image.manifest.digest, 'inspect with --creds sees the pushed manifest')
    const out = join(work.path, 'pulled')
    await skopeo('copy', '--src-tls-verify=false', '--src-creds', 'alice:alice-pass', ref('basic/app:v1'), `oci:${out}:v1`)
    const pulled = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> }
    t.equal(pulled.manifests[0].digest, image.manifest.digest, 'the pulled manifest is the pushed one')
    const wrong = await failure(skopeo('inspect', '--tls-verify=false', '--creds', 'alice:wrong', ref('basic/app:v1')))
    t.match(wrong, /401|unauthorized|authentication required/i, 'a wrong password is refused')
    t.match(await failure(skopeo('inspect', '--tls-verify=false', ref('basic/app:v1'))), /401|unauthorized|authentication required/i, 'pull without credentials is refused')
  })

  await t.test('podman login, push and pull', async (t) => {
    t.match(await failure(podman('login', '--tls-verify=false', '--authfile', podmanAuthFile, '-u', 'alice', '-p', 'wrong', host)), /401|unauthorized|invalid username\/password/i, 'a wrong password does not log in')
    await podman('login', '--tls-verify=false', '--authfile', podmanAuthFile, '-u', 'alice', '-p', 'alice-pass', host)
    const stored = JSON.parse(await readFile(podmanAuthFile, 'utf8')) as { auths: Record<string, { auth: string }> }
    t.equal(Buffer.from(stored.auths[host].auth, 'base64').toString(), 'alice:alice-pass', 'the login is kept in the test\'s auth file')
    await podman('pull', `oci:${layout.dir}:v1`)
    const local = (await podman('images', '--format', '{{.ID}}')).trim().split('\n')[0]
    await podman('tag', local, `${host}/basic/podman:v1`)
    await podman('push', '--tls-verify=false', '--authfile', podmanAuthFile, `${host}/basic/podman:v1`)
    await podman('rmi', '--all', '--force')
    await podman('pull', '--tls-verify=false', '--authfile', podmanAuthFile, `${host}/basic/podman:v1`)
    const pulled = JSON.parse(await podman('image', 'inspect', `${host}/basic/podman:v1`)) as Array<{ Id: string }>
    t.equal(`sha256:${pulled[0].Id}`, image.config.digest, 'the pulled image is the pushed one')
    await podman('logout', '--authfile', podmanAuthFile, host)
    await podman('rmi', '--all', '--force')
    t.match(await failure(podman('pull', '--tls-verify=false', '--authfile', podmanAuthFile, `${host}/basic/podman:v1`)), /401|unauthorized|authentication required/i, 'after logout, pulling is refused')
  })
})

t.test('token: skopeo and podman go through the Bearer flow of the example token server', async (t) => {
  const storage = await tempDir()
  const work = await tempDir()
  t.teardown(async () => { await storage.cleanup(); await work.cleanup() })
  const pki = await makeTokenPki(work.path, 'ec')
  const htpasswd = await htpasswdFile(join(work.path, 'htpasswd'), { alice: 'alice-pass', bob: 'bob-pass' })

  const tokenRequests: Array<{ method: string, query: Record<string, unknown>, status: number, authorization: string }> = []
  const tokenMethods = new Set<string>()
  const tokenServer = await buildTokenServer({
    privateKey: pki.leafKeyPem,
    certificates: await readFile(pki.chainPath),
    issuer: 'test-token-issuer',
    service: 'test-registry',
    htpasswd,
    acl: [
      { account: 'alice', name: '*', actions: ['*'] },
      { account: 'bob', name: '*', actions: ['pull'] }
    ]
  })
  tokenServer.addHook('onResponse', async (request, reply) => {
    tokenMethods.add(request.method)
    tokenRequests.push({ method: request.method, query: request.query as Record<string, unknown>, status: reply.statusCode, authorization: request.headers.authorization?.split(' ')[0] ?? '' })
  })
  await tokenServer.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => await tokenServer.close())
  const realm = `http://127.0.0.1:${portOf(tokenServer)}/token`

  const { host, seen } = await startRegistry(t, storage.path, {
    token: { realm, service: 'test-registry', issuer: 'test-token-issuer', rootCertBundle: pki.caPath }
  })
  const { skopeo, podman, podmanAuthFile } = await clients(work.path)
  const { layout, image } = await testImage(t, 'token')
  const ref = (name: string): string => `docker://${host}/${name}`

  await t.test('the registry challenges with the token server as realm', async (t) => {
    const challenge = await request(`http://${host}/v2/`)
    t.equal(challenge.statusCode, 401, 'the base route needs a token')
    t.match(challenge.headers['www-authenticate'], new RegExp(`^Bearer realm="${realm}",service="test-registry"`), 'the challenge sends clients to the token server')
    await challenge.body.dump()
    t.match(await failure(skopeo('copy', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, ref('token/app:v1'))), /401|403|unauthorized|denied|authentication required/i, 'an anonymous push is refused')
  })

  await t.test('skopeo pushes and pulls with tokens', async (t) => {
    tokenRequests.length = 0
    seen.length = 0
    await skopeo('copy', '--dest-tls-verify=false', '--dest-creds', 'alice:alice-pass', `oci:${layout.dir}:v1`, ref('token/app:v1'))
    const pushToken = tokenRequests.find((entry) => entry.status === 200 && String(entry.query.scope).includes('repository:token/app:') && String(entry.query.scope).includes('push'))
    t.ok(pushToken, 'skopeo asked the token server for push access')
    t.equal(pushToken?.authorization, 'Basic', 'with Basic credentials')
    t.equal(pushToken?.query.service, 'test-registry', 'naming the service of the challenge')
    t.ok(seen.some((entry) => entry.url === '/v2/token/app/manifests/v1' && entry.method === 'PUT' && entry.status === 201 && entry.authorization === 'Bearer'), 'the manifest was put with a Bearer token')

    const inspected = JSON.parse(await skopeo('inspect', '--tls-verify=false', '--creds', 'bob:bob-pass', ref('token/app:v1'))) as { Digest: string }
    t.equal(inspected.Digest, image.manifest.digest, 'a pull-only user reads the manifest')
    const out = join(work.path, 'pulled')
    await skopeo('copy', '--src-tls-verify=false', '--src-creds', 'bob:bob-pass', ref('token/app:v1'), `oci:${out}:v1`)
    const pulled = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> }
    t.equal(pulled.manifests[0].digest, image.manifest.digest, 'and pulls the image')

    const denied = await failure(skopeo('copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--src-creds', 'bob:bob-pass', '--dest-creds', 'bob:bob-pass', ref('token/app:v1'), ref('token/app:bob')))
    t.match(denied, /401|403|unauthorized|denied|insufficient/i, 'a pull-only user cannot push')
    const bobAsked = tokenRequests.filter((entry) => entry.query.account === 'bob' && String(entry.query.scope).includes('push'))
    t.ok(bobAsked.length > 0 && bobAsked.every((entry) => entry.status === 200), 'the token server answered bob\'s push request with a narrower token, not an error')
    const tags = JSON.parse(await skopeo('list-tags', '--tls-verify=false', '--creds', 'alice:alice-pass', ref('token/app'))) as { Tags: string[] }
    t.same(tags.Tags, ['v1'], 'nothing was tagged by the refused push')

    t.match(await failure(skopeo('inspect', '--tls-verify=false', '--creds', 'bob:wrong', ref('token/app:v1'))), /401|unauthorized|invalid/i, 'a wrong password gets no token')
  })

  await t.test('podman logs in through the token server, pushes and pulls', async (t) => {
    tokenRequests.length = 0
    t.match(await failure(podman('login', '--tls-verify=false', '--authfile', podmanAuthFile, '-u', 'alice', '-p', 'wrong', host)), /401|unauthorized|invalid username\/password/i, 'a wrong password does not log in')
    t.ok(tokenRequests.some((entry) => entry.status === 401), 'the token server refused it')
    await podman('login', '--tls-verify=false', '--authfile', podmanAuthFile, '-u', 'alice', '-p', 'alice-pass', host)
    t.ok(tokenRequests.some((entry) => entry.status === 200 && entry.query.account === 'alice'), 'login fetched a token for alice')
    await podman('pull', `oci:${layout.dir}:v1`)
    const local = (await podman('images', '--format', '{{.ID}}')).trim().split('\n')[0]
    await podman('tag', local, `${host}/token/podman:v1`)
    await podman('push', '--tls-verify=false', '--authfile', podmanAuthFile, `${host}/token/podman:v1`)
    await podman('rmi', '--all', '--force')
    await podman('pull', '--tls-verify=false', '--authfile', podmanAuthFile, `${host}/token/podman:v1`)
    const pulled = JSON.parse(await podman('image', 'inspect', `${host}/token/podman:v1`)) as Array<{ Id: string }>
    t.equal(`sha256:${pulled[0].Id}`, image.config.digest, 'the pulled image is the pushed one')

    await podman('login', '--tls-verify=false', '--authfile', podmanAuthFile, '-u', 'bob', '-p', 'bob-pass', host)
    await podman('tag', `${host}/token/podman:v1`, `${host}/token/podman:bob`)
    t.match(await failure(podman('push', '--tls-verify=false', '--authfile', podmanAuthFile, `${host}/token/podman:bob`)), /401|403|unauthorized|denied|insufficient/i, 'a pull-only user cannot push')
    await podman('rmi', '--all', '--force')
    await podman('pull', '--tls-verify=false', '--authfile', podmanAuthFile, `${host}/token/podman:v1`)
    const again = JSON.parse(await podman('image', 'inspect', `${host}/token/podman:v1`)) as Array<{ Id: string }>
    t.equal(`sha256:${again[0].Id}`, image.config.digest, 'but can pull')
  })

  await t.test('both clients asked for tokens with GET only', async (t) => {
    // Neither skopeo nor podman holds an OAuth2 refresh token here, so neither uses the POST form.
    t.same([...tokenMethods], ['GET'], 'no POST form was used')
  })
})
