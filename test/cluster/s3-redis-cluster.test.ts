// Scale-out (issue 8): three standalone registry processes on loopback, configured by one
// distribution-style YAML file, sharing a fresh bucket on a real Ceph RADOS Gateway, one
// Redis (the link cache, `storage.cache.blobdescriptor: redis`, under a key prefix unique
// to this run) and the HMAC secret (`http.secret`). Each instance is reached directly,
// as a load balancer without sticky sessions would spread the requests.
//
// Redis upload state (`uploadState: { redis: true }`) is not exercised here: no YAML key or
// REGISTRY_* variable selects it, so the standalone cannot be configured with it.
import t from 'tap'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { request } from 'undici'
import { OciLayout } from '../helpers/oci-layout.js'
import { randomBlob, sha256, tempDir } from '../helpers/registry.js'
import { onInstance, uploadRequest } from '../helpers/http-upload.js'
import { bodyKillingMidway, startStandaloneProcess, type RunningRegistry } from '../helpers/standalone-process.js'
import { S3_ACCESS_KEY, S3_ENDPOINT, S3_REGION, S3_SECRET_KEY, createTestBucket } from '../helpers/ceph.js'
import { REDIS_URL, redisAddr, testRedis } from '../helpers/redis.js'

const exec = promisify(execFile)
const MiB = 1024 * 1024
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'

async function skopeo (...args: string[]): Promise<string> {
  const { stdout } = await exec('skopeo', ['--insecure-policy', ...args], { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 })
  return stdout
}

/** The registry configuration every instance reads: only `http.addr` differs, set per process by the helper. */
function clusterConfig (options: { bucket: string, keyPrefix: string, secret: string }): string {
  const redis = new URL(REDIS_URL)
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    'http:',
    `  secret: ${JSON.stringify(options.secret)}`,
    'storage:',
    '  s3:',
    `    region: ${JSON.stringify(S3_REGION)}`,
    `    regionendpoint: ${JSON.stringify(S3_ENDPOINT)}`,
    `    bucket: ${JSON.stringify(options.bucket)}`,
    `    accesskey: ${JSON.stringify(S3_ACCESS_KEY)}`,
    `    secretkey: ${JSON.stringify(S3_SECRET_KEY)}`,
    '    forcepathstyle: true',
    '    rootdirectory: /registry',
    `    chunksize: ${5 * MiB}`,
    '  delete:',
    '    enabled: true',
    '  cache:',
    '    blobdescriptor: redis',
    'redis:',
    `  addr: ${JSON.stringify(redisAddr())}`,
    ...(redis.password === '' ? [] : [`  password: ${JSON.stringify(decodeURIComponent(redis.password))}`]),
    ...(redis.username === '' ? [] : [`  username: ${JSON.stringify(decodeURIComponent(redis.username))}`]),
    `  keyprefix: ${JSON.stringify(options.keyPrefix)}`,
    ''
  ].join('\n')
}

/** GET (or HEAD) a manifest; the digest it answers with, or the status when it is not 200. */
async function manifestDigest (base: string, name: string, reference: string, method: 'GET' | 'HEAD' = 'GET'): Promise<string | number> {
  const response = await request(`${base}/v2/${name}/manifests/${reference}`, { method, headers: { accept: OCI_MANIFEST } })
  const body = Buffer.from(await response.body.arrayBuffer())
  if (response.statusCode !== 200) return response.statusCode
  const digest = String(response.headers['docker-content-digest'])
  if (method === 'GET' && sha256(body) !== digest) return `body ${sha256(body)} under header ${digest}`
  return digest
}

/** The digest of a blob's bytes as served (following the registry's redirect to S3, as clients do), or the status when it is not 200. */
async function blobDigest (base: string, name: string, digest: string): Promise<string | number> {
  const response = await fetch(`${base}/v2/${name}/blobs/${digest}`)
  const body = Buffer.from(await response.arrayBuffer())
  return response.status === 200 ? sha256(body) : response.status
}

/** A small image (config and one layer, pushed monolithically) and its manifest under `tag`, all through `base`. */
async function pushSmallImage (base: string, name: string, tag: string, label: string): Promise<{ digest: string, blobs: string[] }> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { label } }, rootfs: { type: 'layers', diff_ids: [] } }))
  const layer = randomBytes(1024 + Math.floor(Math.random() * 1024))
  for (const content of [config, layer]) {
    const pushed = await uploadRequest(`${base}/v2/${name}/blobs/uploads/?digest=${sha256(content)}`, 'POST', content)
    if (pushed.status !== 201) throw new Error(`blob push through ${base}: ${pushed.status} ${pushed.body}`)
  }
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }]
  }))
  const response = await request(`${base}/v2/${name}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { 'content-type': OCI_MANIFEST } })
  const text = await response.body.text()
  if (response.statusCode !== 201) throw new Error(`manifest push through ${base}: ${response.statusCode} ${text}`)
  return { digest: sha256(manifest), blobs: [sha256(config), sha256(layer)] }
}

/** The first and last byte of a `Range: 0-N` answer as a byte count. */
function rangeLength (range: string | undefined): number {
  const match = /^0-(\d+)$/.exec(range ?? '')
  return match === null ? -1 : Number(match[1]) + 1
}

t.test('three registry processes on one S3 bucket and one Redis', async (t) => {
  await exec('skopeo', ['--version']).catch(() => { throw new Error('skopeo is required for this suite (.ci/run installs it)') })
  const redis = await testRedis(t, 'cluster') // fails clearly when no Redis answers; deletes its keys at the end
  const s3 = await createTestBucket('oci-cluster')
  t.teardown(s3.remove)
  const work = await tempDir()
  t.teardown(work.cleanup)

  const configFile = join(work.path, 'config.yml')
  await writeFile(configFile, clusterConfig({ bucket: s3.bucket, keyPrefix: redis.keyPrefix, secret: randomBytes(16).toString('hex') }))
  const nodes: RunningRegistry[] = []
  t.teardown(async () => { for (const node of nodes) await node.stop() })
  nodes.push(...await Promise.all([0, 1, 2].map(async () => await startStandaloneProcess({}, [configFile]))))
  const urls = nodes.map((node) => node.url)
  const label = (url: string): string => `instance ${urls.indexOf(url) + 1}`
  const ref = (url: string, name: string): string => `docker://${new URL(url).host}/${name}`

  const layout = new OciLayout(join(work.path, 'layout'))
  const image = await layout.image({ layerSizes: [2048, 11 * MiB + 7, 300 * 1024, 4096], label: 'cluster' })
  layout.tag(image.manifest, 'v1')
  await layout.save()

  /** Everything acknowledged so far, checked again after an instance dies. */
  const acknowledged: Array<{ name: string, tag?: string, manifest?: string, blobs: string[] }> = []

  await t.test('skopeo pushes a multi-layer image through instance 1 and pulls it through instance 2', async (t) => {
    await skopeo('copy', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, ref(urls[0], 'apps/web:v1'))
    const out = join(work.path, 'pulled')
    await skopeo('copy', '--src-tls-verify=false', ref(urls[1], 'apps/web:v1'), `oci:${out}:back`)
    const pulled = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> }
    t.equal(pulled.manifests[0].digest, image.manifest.digest, 'the manifest digest pulled is the one pushed')
    for (const blob of [image.config, ...image.layers]) {
      const bytes = await readFile(join(out, 'blobs', 'sha256', blob.digest.slice(7)))
      t.equal(sha256(bytes), blob.digest, `blob ${blob.digest.slice(7, 19)} (${blob.size} bytes) arrives intact`)
    }
    const raw = await skopeo('inspect', '--raw', '--tls-verify=false', ref(urls[2], 'apps/web:v1'))
    t.equal(raw, image.manifestBytes.toString(), 'instance 3 serves the exact manifest bytes')
    acknowledged.push({ name: 'apps/web', tag: 'v1', manifest: image.manifest.digest, blobs: [image.config, ...image.layers].map((blob) => blob.digest) })
  })

  await t.test('a chunked upload whose every request goes to the next instance', async (t) => {
    const { content, digest } = randomBlob(6 * MiB + 11)
    const chunk = 1536 * 1024
    let turn = 0
    const next = (): string => urls[turn++ % urls.length]
    const start = await uploadRequest(`${next()}/v2/apps/chunked/blobs/uploads/`, 'POST')
    t.equal(start.status, 202, start.body)
    let location = start.location
    let offset = 0
    // Every chunk but the last goes as a PATCH; the last rides on the final PUT.
    while (content.length - offset > chunk) {
      const instance = next()
      const end = offset + chunk
      const patch = await uploadRequest(onInstance(location, instance), 'PATCH', content.subarray(offset, end), { 'content-range': `${offset}-${end - 1}` })
      t.equal(patch.status, 202, `PATCH ${offset}-${end - 1} on ${label(instance)}: ${patch.body}`)
      t.equal(patch.range, `0-${end - 1}`)
      location = patch.location
      offset = end
      const status = await uploadRequest(onInstance(location, urls[turn % urls.length]), 'GET')
      t.equal(status.range, `0-${end - 1}`, `the next instance sees ${end} bytes`)
    }
    const last = next()
    const put = await uploadRequest(`${onInstance(location, last)}&digest=${digest}`, 'PUT', content.subarray(offset), { 'content-range': `${offset}-${content.length - 1}` })
    t.equal(put.status, 201, `final PUT with the last ${content.length - offset} bytes on ${label(last)}: ${put.body}`)
    t.ok(turn > urls.length, `the upload went round all ${urls.length} instances (${turn} requests)`)
    for (const url of urls) t.equal(await blobDigest(url, 'apps/chunked', digest), digest, `${label(url)} serves the blob`)
    acknowledged.push({ name: 'apps/chunked', blobs: [digest] })
  })

  await t.test('a tag moved through one instance is served by the other two on their very next request', async (t) => {
    const name = 'apps/moving'
    // Every instance looks first, so each has "no such tag" in the cache it consults.
    for (const url of urls) t.equal(await manifestDigest(url, name, 'latest'), 404, `${label(url)}: no tag yet`)
    let previous: string | undefined
    for (let round = 0; round < 6; round++) {
      const writer = urls[round % urls.length]
      const pushed = await pushSmallImage(writer, name, 'latest', `round ${round}`)
      t.not(pushed.digest, previous)
      previous = pushed.digest
      for (const reader of urls.filter((url) => url !== writer)) {
        t.equal(await manifestDigest(reader, name, 'latest'), pushed.digest, `round ${round}, written through ${label(writer)}: GET on ${label(reader)}`)
        t.equal(await manifestDigest(reader, name, 'latest', 'HEAD'), pushed.digest, `round ${round}: HEAD on ${label(reader)}`)
      }
      t.equal(await manifestDigest(writer, name, 'latest', 'HEAD'), pushed.digest, `round ${round}: the writer too`)
      if (round === 5) acknowledged.push({ name, tag: 'latest', manifest: pushed.digest, blobs: pushed.blobs })
    }
    const keys: string[] = []
    let cursor = '0'
    do {
      const [nextCursor, found] = await redis.client.scan(cursor, 'MATCH', `${redis.keyPrefix}link:*`, 'COUNT', 1000)
      cursor = nextCursor
      keys.push(...found)
    } while (cursor !== '0')
    t.ok(keys.some((key) => key.includes('/apps/moving/_manifests/tags/latest/current/link')), 'the tag link is cached in Redis under this run\'s prefix')
  })

  await t.test('an instance killed with SIGKILL mid-push: acknowledged data stays whole, the upload continues elsewhere', async (t) => {
    const [victim, survivors] = [nodes[0], nodes.slice(1).map((node) => node.url)]
    const { content, digest } = randomBlob(24 * MiB + 5)
    const first = 5 * MiB
    const start = await uploadRequest(`${victim.url}/v2/apps/crash/blobs/uploads/`, 'POST')
    t.equal(start.status, 202)
    const acked = await uploadRequest(onInstance(start.location, survivors[0]), 'PATCH', content.subarray(0, first), { 'content-range': `0-${first - 1}` })
    t.equal(acked.status, 202, acked.body)

    // Stream the rest to the victim slowly; kill it once half of that is on its way.
    const { body, sent: sentSoFar } = bodyKillingMidway(content, first, 10 * MiB, victim.child)
    const interrupted = await request(onInstance(acked.location, victim.url), { method: 'PATCH', body, headers: { 'content-type': 'application/octet-stream', 'content-range': `${first}-${content.length - 1}` } })
      .then(async (response) => { await response.body.dump(); return response.statusCode }, (error: Error) => error)
    t.type(interrupted, Error, 'the client saw the connection die')
    t.equal(await victim.stop('SIGKILL'), null, 'the victim is gone')
    const sent = sentSoFar()
    t.ok(sent > first && sent < content.length, `killed after ${sent} of ${content.length} bytes were sent`)

    for (const url of survivors) {
      for (const item of acknowledged) {
        if (item.tag !== undefined) t.equal(await manifestDigest(url, item.name, item.tag), item.manifest, `${label(url)}: ${item.name}:${item.tag}`)
        for (const blob of item.blobs) t.equal(await blobDigest(url, item.name, blob), blob, `${label(url)}: ${item.name} blob ${blob.slice(7, 19)}`)
      }
    }
    const out = join(work.path, 'after-kill')
    await skopeo('copy', '--src-tls-verify=false', ref(survivors[1], 'apps/web:v1'), `oci:${out}:back`)
    const pulled = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> }
    t.equal(pulled.manifests[0].digest, image.manifest.digest, 'skopeo pulls the first image through a survivor')

    // Resume where storage says the upload stands: an unfinished multipart upload is invisible, so exactly the acknowledged bytes.
    const status = await uploadRequest(onInstance(acked.location, survivors[1]), 'GET')
    t.equal(status.status, 204, `a survivor knows the upload: ${status.body}`)
    const committed = rangeLength(status.range)
    t.equal(committed, first, `it holds the ${first} acknowledged bytes (Range ${String(status.range)})`)
    const rest = await uploadRequest(onInstance(status.location, survivors[0]), 'PATCH', content.subarray(committed), { 'content-range': `${committed}-${content.length - 1}` })
    t.equal(rest.status, 202, `the rest goes to the other survivor: ${rest.body}`)
    const put = await uploadRequest(`${onInstance(rest.location, survivors[1])}&digest=${digest}`, 'PUT')
    t.equal(put.status, 201, `completed with the digest verified: ${put.body}`)
    for (const url of survivors) t.equal(await blobDigest(url, 'apps/crash', digest), digest, `${label(url)} serves the resumed blob`)

    // And the cluster of two still takes new images and moves tags.
    const pushed = await pushSmallImage(survivors[0], 'apps/moving', 'latest', 'after the kill')
    t.equal(await manifestDigest(survivors[1], 'apps/moving', 'latest'), pushed.digest, 'a tag moved after the kill is seen by the other survivor')
  })

  for (const node of nodes.slice(1)) t.notMatch(node.output(), /"level":(50|60)/, `no errors logged by instance ${nodes.indexOf(node) + 1}`)
})
