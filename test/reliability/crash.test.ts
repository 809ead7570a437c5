import t, { type Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { startStandaloneProcess, type RunningRegistry } from '../helpers/standalone-process.js'
import { tempDir } from '../helpers/registry.js'

const ROUNDS = 8
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'

function sha256 (content: Uint8Array): string {
  return `sha256:${createHash('sha256').update(content).digest('hex')}`
}

interface Ledger {
  /** Blobs whose push was acknowledged (201): repository and digest. */
  blobs: Array<{ name: string, digest: string }>
  /** Manifests acknowledged under a tag of their own, and not deleted. */
  manifests: Array<{ name: string, tag: string, digest: string }>
  /** The `moving` tag: its last acknowledged digest and those in flight after it. */
  moving: { acknowledged?: string, candidates: Set<string> }
}

/** Traffic against one registry until `stop()` says to end; records what was acknowledged. */
function workload (url: string, ledger: Ledger, round: number): { stop: () => void, done: Promise<void> } {
  let stopped = false
  const dispatcher = new Agent({ connections: 16 })
  const send = async (path: string, method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE', body?: Buffer, contentType = 'application/octet-stream'): Promise<number> => {
    const response = await request(url + path, { method, body, headers: body === undefined ? {} : { 'content-type': contentType }, dispatcher })
    await response.body.dump()
    return response.statusCode
  }
  const pushBlob = async (name: string, content: Buffer): Promise<string | undefined> => {
    const digest = sha256(content)
    return await send(`/v2/${name}/blobs/uploads/?digest=${digest}`, 'POST', content) === 201 ? digest : undefined
  }
  const manifestFor = async (name: string, label: string): Promise<Buffer | undefined> => {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', label }))
    const layer = randomBytes(64 * 1024 + Math.floor(Math.random() * 512 * 1024))
    const [configDigest, layerDigest] = await Promise.all([pushBlob(name, config), pushBlob(name, layer)])
    if (configDigest === undefined || layerDigest === undefined) return undefined
    return Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }]
    }))
  }
  const loops = [
    async () => { // blob commits
      for (let i = 0; !stopped; i++) {
        const name = `crash/blobs${i % 3}`
        const content = randomBytes(32 * 1024 + Math.floor(Math.random() * 2 * 1024 * 1024))
        const digest = await pushBlob(name, content)
        if (digest !== undefined) ledger.blobs.push({ name, digest })
      }
    },
    async () => { // manifest PUTs under their own tags
      for (let i = 0; !stopped; i++) {
        const name = `crash/images${i % 2}`
        const manifest = await manifestFor(name, `r${round}-${i}`)
        if (manifest === undefined) continue
        const tag = `r${round}-${i}`
        if (await send(`/v2/${name}/manifests/${tag}`, 'PUT', manifest, OCI_MANIFEST) === 201) ledger.manifests.push({ name, tag, digest: sha256(manifest) })
      }
    },
    async () => { // tag moves
      for (let i = 0; !stopped; i++) {
        const manifest = await manifestFor('crash/moving', `m${round}-${i}`)
        if (manifest === undefined) continue
        const digest = sha256(manifest)
        ledger.moving.candidates.add(digest)
        if (await send('/v2/crash/moving/manifests/latest', 'PUT', manifest, OCI_MANIFEST) === 201) {
          ledger.moving.acknowledged = digest
          ledger.moving.candidates = new Set([digest])
        }
      }
    },
    async () => { // deletes of acknowledged manifests
      while (!stopped) {
        const victim = ledger.manifests.length > 4 ? ledger.manifests[Math.floor(Math.random() * ledger.manifests.length)] : undefined
        if (victim === undefined) { await new Promise((resolve) => setTimeout(resolve, 20)); continue }
        // Out of the ledger before the request: an unanswered delete may or may not have happened.
        ledger.manifests = ledger.manifests.filter((entry) => entry !== victim)
        await send(`/v2/${victim.name}/manifests/${victim.digest}`, 'DELETE')
      }
    }
  ]
  const done = Promise.allSettled(loops.map(async (loop) => await loop())).then(async () => { await dispatcher.destroy() })
  return { stop: () => { stopped = true }, done }
}

/** Every blob file in storage hashes to its digest: nothing partial is ever under blobs/. */
async function checkBlobFiles (t: Test, root: string): Promise<number> {
  const base = join(root, 'docker', 'registry', 'v2', 'blobs', 'sha256')
  let checked = 0
  for (const prefix of await readdir(base).catch(() => [] as string[])) {
    for (const hex of await readdir(join(base, prefix))) {
      const data = await readFile(join(base, prefix, hex, 'data')).catch(() => undefined)
      if (data === undefined) continue
      checked++
      if (sha256(data) !== `sha256:${hex}`) t.fail(`blob ${hex} does not match its digest`)
    }
  }
  return checked
}

/** Every tag of every repository resolves to a manifest whose references resolve. */
async function checkRepositories (t: Test, url: string): Promise<void> {
  const catalog = await (await request(`${url}/v2/_catalog`)).body.json() as { repositories: string[] }
  for (const name of catalog.repositories) {
    const tagsResponse = await request(`${url}/v2/${name}/tags/list`)
    const tags = (await tagsResponse.body.json() as { tags: string[] }).tags
    for (const tag of tags) {
      const manifest = await request(`${url}/v2/${name}/manifests/${tag}`)
      const bytes = Buffer.from(await manifest.body.arrayBuffer())
      if (manifest.statusCode !== 200) { t.fail(`${name}:${tag} names a manifest that does not exist`); continue }
      if (sha256(bytes) !== manifest.headers['docker-content-digest']) t.fail(`${name}:${tag} serves bytes that do not match`)
      const parsed = JSON.parse(bytes.toString()) as { config: { digest: string }, layers: Array<{ digest: string }> }
      for (const { digest } of [parsed.config, ...parsed.layers]) {
        const blob = await request(`${url}/v2/${name}/blobs/${digest}`, { method: 'HEAD' })
        await blob.body.dump()
        if (blob.statusCode !== 200) t.fail(`${name}:${tag} references ${digest}, which is missing`)
      }
    }
  }
}

t.test(`SIGKILL at random moments during writes, ${ROUNDS} rounds: nothing acknowledged is lost, nothing partial is visible`, async (t) => {
  const root = await tempDir()
  const env = { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root.path, REGISTRY_HTTP_SECRET: 'crash', REGISTRY_STORAGE_DELETE_ENABLED: 'true' }
  const ledger: Ledger = { blobs: [], manifests: [], moving: { candidates: new Set() } }
  let registry: RunningRegistry | undefined
  t.teardown(async () => { await registry?.stop('SIGKILL'); await root.cleanup() })

  for (let round = 0; round < ROUNDS; round++) {
    registry = await startStandaloneProcess(env)
    const traffic = workload(registry.url, ledger, round)
    await new Promise((resolve) => setTimeout(resolve, 150 + Math.floor(Math.random() * 600)))
    await registry.stop('SIGKILL')
    traffic.stop()
    await traffic.done
  }

  registry = await startStandaloneProcess(env)
  const url = registry.url
  const blobFiles = await checkBlobFiles(t, root.path)
  t.ok(blobFiles > 0, `${blobFiles} blob files in storage, each matching its digest`)
  await checkRepositories(t, url)

  let lost = 0
  for (const { name, digest } of ledger.blobs) {
    const blob = await request(`${url}/v2/${name}/blobs/${digest}`)
    const bytes = Buffer.from(await blob.body.arrayBuffer())
    if (blob.statusCode !== 200 || sha256(bytes) !== digest) lost++
  }
  t.equal(lost, 0, `all ${ledger.blobs.length} acknowledged blob pushes are intact`)

  let lostManifests = 0
  for (const { name, tag, digest } of ledger.manifests) {
    const byTag = await request(`${url}/v2/${name}/manifests/${tag}`, { method: 'HEAD' })
    await byTag.body.dump()
    if (byTag.statusCode !== 200 || byTag.headers['docker-content-digest'] !== digest) lostManifests++
  }
  t.equal(lostManifests, 0, `all ${ledger.manifests.length} acknowledged manifests not deleted are there under their tags`)

  const moving = await request(`${url}/v2/crash/moving/manifests/latest`, { method: 'HEAD' })
  await moving.body.dump()
  if (ledger.moving.acknowledged !== undefined) {
    t.ok(ledger.moving.candidates.has(String(moving.headers['docker-content-digest'])), 'the moved tag names the last acknowledged manifest or one pushed after it')
  }
  t.ok(ledger.blobs.length > 0 && ledger.manifests.length + (ledger.moving.acknowledged === undefined ? 0 : 1) > 0, 'the workload made progress between kills')
})
