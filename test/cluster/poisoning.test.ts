import t, { type Test } from 'tap'
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { startStandaloneProcess, type RunningRegistry } from '../helpers/standalone-process.js'
import { randomBlob, sha256, tempDir } from '../helpers/registry.js'
import { onInstance, uploadRequest } from '../helpers/http-upload.js'

/**
 * The attack of issue 20: two instances on one filesystem root and secret. An
 * upload of a known blob is sent whole to instance one; a second PATCH to the
 * same upload, with the same `_state`, is opened on instance two and left
 * half-sent while instance one commits; then its last bytes arrive. No byte of
 * that second PATCH may ever reach the committed blob.
 */

const BLOB_SIZE = 4096

interface DrippingPatch {
  /** Sends the rest of the declared body. */
  finish: () => void
  /** The answer, once the server gives one (undefined when the connection died). */
  answer: Promise<{ status: number, body: string } | undefined>
  request: ClientRequest
}

/** A PATCH declaring 8 bytes that sends 4 now and the other 4 on `finish()`. */
function drippingPatch (location: string): DrippingPatch {
  const url = new URL(location)
  const req = httpRequest({
    host: url.hostname,
    port: url.port,
    path: url.pathname + url.search,
    method: 'PATCH',
    headers: { 'content-type': 'application/octet-stream', 'content-length': '8' }
  })
  const answer = (async () => {
    try {
      const [response] = await once(req, 'response') as [IncomingMessage]
      let body = ''
      for await (const chunk of response) body += String(chunk)
      return { status: response.statusCode ?? 0, body }
    } catch {
      return undefined
    }
  })()
  req.on('error', () => {})
  req.write(Buffer.from('EVIL'))
  return { finish: () => { req.end(Buffer.from('BYTE')) }, answer, request: req }
}

async function pull (base: string, name: string, digest: string): Promise<{ status: number, content: Buffer }> {
  const response = await request(`${base}/v2/${name}/blobs/${digest}`)
  return { status: response.statusCode, content: Buffer.from(await response.body.arrayBuffer()) }
}

/** Every repository that can see the blob is served exactly its bytes, or nothing at all. */
async function assertNeverPoisoned (t: Test, bases: string[], names: string[], digest: string, content: Buffer): Promise<void> {
  for (const base of bases) {
    for (const name of names) {
      const pulled = await pull(base, name, digest)
      if (pulled.status === 200) {
        t.equal(pulled.content.length, content.length, `${name} on ${base}: the blob keeps its size`)
        t.equal(sha256(pulled.content), digest, `${name} on ${base}: the bytes served match the digest`)
      } else {
        t.equal(pulled.status, 404, `${name} on ${base}: not there rather than corrupt`)
      }
    }
  }
}

/** A victim's genuine push of the same layer, monolithic, then a pull of it. */
async function assertVictimGetsGenuineBytes (t: Test, base: string, digest: string, content: Buffer): Promise<void> {
  const push = await request(`${base}/v2/victim/app/blobs/uploads/?digest=${digest}`, { method: 'POST', body: content, headers: { 'content-type': 'application/octet-stream' } })
  await push.body.text()
  t.equal(push.statusCode, 201, 'the victim\'s push is accepted')
  const pulled = await pull(base, 'victim/app', digest)
  t.equal(pulled.status, 200)
  t.ok(pulled.content.equals(content), 'the victim is served the genuine bytes')
}

async function twoInstances (t: Test): Promise<{ one: RunningRegistry, two: RunningRegistry }> {
  const root = await tempDir()
  const env = { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root.path, REGISTRY_HTTP_SECRET: 'poisoning' }
  const [one, two] = await Promise.all([startStandaloneProcess(env), startStandaloneProcess(env)])
  t.teardown(async () => {
    await one.stop('SIGKILL')
    await two.stop('SIGKILL')
    await root.cleanup()
  })
  return { one, two }
}

/** Step 1: the whole blob in one PATCH to instance one; resolves with the Location carrying its `_state`. */
async function uploadWhole (t: Test, base: string, content: Buffer): Promise<string> {
  const start = await uploadRequest(`${base}/v2/attacker/base/blobs/uploads/`, 'POST')
  t.equal(start.status, 202)
  const patch = await uploadRequest(start.location, 'PATCH', content)
  t.equal(patch.status, 202)
  return patch.location
}

/**
 * Steps 1 and 2 of the attack: the whole blob sent to instance one, then a PATCH
 * to the same upload opened on instance two and left half-sent, long enough for
 * instance two to be inside it.
 */
async function halfSentPatch (t: Test): Promise<{ one: RunningRegistry, two: RunningRegistry, content: Buffer, digest: string, location: string, drip: DrippingPatch }> {
  const { one, two } = await twoInstances(t)
  const { content, digest } = randomBlob(BLOB_SIZE)
  const location = await uploadWhole(t, one.url, content)
  const drip = drippingPatch(onInstance(location, two.url))
  await sleep(300) // instance two is now inside its PATCH, holding the upload's writer lock
  return { one, two, content, digest, location, drip }
}

t.test('a half-sent PATCH on a second instance never reaches the blob the first instance commits', async (t) => {
  const { one, two, content, digest, location, drip } = await halfSentPatch(t)
  const put = uploadRequest(`${location}&digest=${digest}`, 'PUT')
  await sleep(300)
  drip.finish()
  const [dripAnswer, putAnswer] = await Promise.all([drip.answer, put])

  t.ok(dripAnswer !== undefined && [202, 404].includes(dripAnswer.status), `the second PATCH gets an ordinary answer: ${JSON.stringify(dripAnswer)}`)
  if (putAnswer.status === 201) {
    t.equal(dripAnswer?.status, 404, 'a commit can only succeed if the late writer was refused')
  } else {
    t.equal(putAnswer.status, 400, `the commit is refused: ${putAnswer.body}`)
    t.match(putAnswer.body, /BLOB_UPLOAD_INVALID|DIGEST_INVALID/)
  }
  await assertNeverPoisoned(t, [one.url, two.url], ['attacker/base'], digest, content)
  await assertVictimGetsGenuineBytes(t, two.url, digest, content)
  await assertNeverPoisoned(t, [one.url, two.url], ['attacker/base', 'victim/app'], digest, content)
})

t.test('the late writer waits for a commit in progress, then finds the upload gone', async (t) => {
  const { one, two } = await twoInstances(t)
  const { content, digest } = randomBlob(BLOB_SIZE)
  // All but the last 8 bytes in a PATCH; the PUT carries those 8, slowly, so the commit holds the lock first.
  const start = await uploadRequest(`${one.url}/v2/attacker/base/blobs/uploads/`, 'POST')
  const patch = await uploadRequest(start.location, 'PATCH', content.subarray(0, BLOB_SIZE - 8))
  t.equal(patch.status, 202)
  const putUrl = new URL(`${patch.location}&digest=${digest}`)
  const putRequest = httpRequest({ host: putUrl.hostname, port: putUrl.port, path: putUrl.pathname + putUrl.search, method: 'PUT', headers: { 'content-type': 'application/octet-stream', 'content-length': '8' } })
  const putAnswer = (async () => {
    const [response] = await once(putRequest, 'response') as [IncomingMessage]
    for await (const _ of response) { /* drain */ }
    return response.statusCode
  })()
  putRequest.write(content.subarray(BLOB_SIZE - 8, BLOB_SIZE - 4))
  await sleep(300)
  const drip = drippingPatch(onInstance(patch.location, two.url))
  await sleep(300)
  putRequest.end(content.subarray(BLOB_SIZE - 4))
  t.equal(await putAnswer, 201, 'the commit completes')
  drip.finish()
  const dripAnswer = await drip.answer
  t.ok(dripAnswer !== undefined && [404, 416].includes(dripAnswer.status), `the late writer is refused: ${JSON.stringify(dripAnswer)}`)
  await assertNeverPoisoned(t, [one.url, two.url], ['attacker/base'], digest, content)
  await assertVictimGetsGenuineBytes(t, one.url, digest, content)
})

t.test('SIGKILL of the instance holding the half-sent PATCH: its lock goes with it, the commit is clean', async (t) => {
  const { one, two, content, digest, location, drip } = await halfSentPatch(t)
  await two.stop('SIGKILL')
  t.equal(await drip.answer, undefined, 'the killed instance never answers')
  const put = await uploadRequest(`${location}&digest=${digest}`, 'PUT')
  t.equal(put.status, 201, `the commit goes ahead once the killed writer's lock is gone: ${put.body}`)
  await assertNeverPoisoned(t, [one.url], ['attacker/base'], digest, content)
  await assertVictimGetsGenuineBytes(t, one.url, digest, content)
})

t.test('SIGKILL of the committing instance while it waits for the lock: nothing half-visible, the victim still gets the genuine bytes', async (t) => {
  const { one, two, content, digest, location, drip } = await halfSentPatch(t)
  const put = uploadRequest(`${location}&digest=${digest}`, 'PUT').catch(() => undefined)
  await sleep(300)
  await one.stop('SIGKILL')
  await put
  drip.finish()
  const dripAnswer = await drip.answer
  t.equal(dripAnswer?.status, 202, 'the second PATCH completes on the surviving instance')
  await assertNeverPoisoned(t, [two.url], ['attacker/base'], digest, content)
  // The attacker now tries to commit the tampered upload: its bytes are not the digest's.
  const bare = new URL(onInstance(location, two.url))
  bare.search = ''
  const tampered = await uploadRequest(`${bare.href}?digest=${digest}`, 'PUT')
  t.not(tampered.status, 201, 'the tampered upload does not commit')
  await assertNeverPoisoned(t, [two.url], ['attacker/base'], digest, content)
  await assertVictimGetsGenuineBytes(t, two.url, digest, content)
})
