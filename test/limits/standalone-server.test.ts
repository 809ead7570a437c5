// The standalone's listener: the header size limit (large Bearer tokens fit,
// larger heads get 431), http.timeout.read (headers) and http.timeout.idle
// (kept-alive connections). Through the compiled standalone process.
import t, { type Test } from 'tap'
import { connect, type Socket } from 'node:net'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { claims, ISSUER, makeCertificates, REALM, SERVICE, signToken, x5cEntry } from '../helpers/auth.js'
import { startStandaloneProcess, type RunningRegistry } from '../helpers/standalone-process.js'
import { DEFAULT_MAX_HEADER_BYTES } from '../../examples/standalone.js'

async function standalone (t: Test, env: Record<string, string> = {}): Promise<RunningRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'standalone-server-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const running = await startStandaloneProcess({ REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(dir, 'data'), REGISTRY_HTTP_SECRET: 'standalone-server', ...env })
  t.teardown(async () => { await running.stop('SIGKILL') })
  return running
}

/** A raw connection to the registry, collecting what it answers. */
async function rawConnection (url: string): Promise<{ socket: Socket, received: () => string, closed: Promise<void>, isClosed: () => boolean }> {
  const { hostname, port } = new URL(url)
  const socket = connect(Number(port), hostname)
  await once(socket, 'connect')
  let received = ''
  let isClosed = false
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => { received += chunk })
  socket.on('error', () => {})
  const closed = once(socket, 'close').then(() => { isClosed = true })
  return { socket, received: () => received, closed, isClosed: () => isClosed }
}

t.test('the default header limit fits tokens of 300 KB, as distribution does', async (t) => {
  t.equal(DEFAULT_MAX_HEADER_BYTES, 512 * 1024)
})

t.test('a valid Bearer token of about 300 KB is accepted; a head over the limit gets 431', async (t) => {
  const certs = await makeCertificates()
  t.teardown(async () => { await rm(certs.dir, { recursive: true, force: true }) })
  const running = await standalone(t, {
    REGISTRY_AUTH_TOKEN_REALM: REALM,
    REGISTRY_AUTH_TOKEN_SERVICE: SERVICE,
    REGISTRY_AUTH_TOKEN_ISSUER: ISSUER,
    REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE: certs.bundlePath
  })
  // A token with thousands of scopes, as a token server grants for a big CI job.
  const access = Array.from({ length: 3600 }, (_, i) => ({ type: 'repository', name: `team/project-${String(i).padStart(5, '0')}`, actions: ['pull', 'push'] }))
  const token = signToken(certs.ecLeaf, claims(access), { x5c: [x5cEntry(certs.ecLeaf.certPem)] })
  t.ok(token.length > 250_000 && token.length < 400_000, `the token is ${token.length} bytes`)

  const anonymous = await request(`${running.url}/v2/`)
  await anonymous.body.dump()
  t.equal(anonymous.statusCode, 401, 'token auth is on')

  const big = await request(`${running.url}/v2/`, { headers: { authorization: `Bearer ${token}` } })
  await big.body.dump()
  t.equal(big.statusCode, 200, 'the large token is read and verified')

  const pull = await request(`${running.url}/v2/team/project-03599/tags/list`, { headers: { authorization: `Bearer ${token}` } })
  await pull.body.dump()
  t.equal(pull.statusCode, 404, 'its last scope is honoured (NAME_UNKNOWN, not 401)')

  const tooBig = await request(`${running.url}/v2/`, { headers: { authorization: `Bearer ${token}`, 'x-padding': 'p'.repeat(DEFAULT_MAX_HEADER_BYTES) } }).then(async (response) => {
    await response.body.dump()
    return response.statusCode
  }, (error: Error) => error)
  t.equal(tooBig, 431, 'a head over the limit gets 431')
})

t.test('http.maxheaderbytes sets the limit', async (t) => {
  const running = await standalone(t, { REGISTRY_HTTP_MAXHEADERBYTES: String(64 * 1024) })
  const small = await request(`${running.url}/v2/`, { headers: { 'x-padding': 'p'.repeat(32 * 1024) } })
  await small.body.dump()
  t.equal(small.statusCode, 200)
  const large = await request(`${running.url}/v2/`, { headers: { 'x-padding': 'p'.repeat(100 * 1024) } })
  await large.body.dump()
  t.equal(large.statusCode, 431, '100 KB over a limit of 64 KiB')
})

t.test('http.timeout.read: headers not complete in time get 408 and the connection closed', async (t) => {
  const running = await standalone(t, { REGISTRY_HTTP_TIMEOUT_READ: '1s' })
  const connection = await rawConnection(running.url)
  connection.socket.write('GET /v2/ HTTP/1.1\r\nHost: registry\r\n')
  // A header byte every 200 ms: a slowloris that never finishes its head.
  for (let i = 0; i < 100 && !connection.isClosed(); i++) {
    connection.socket.write(i === 0 ? 'X-Slow: ' : 'a')
    await sleep(200)
  }
  t.ok(connection.isClosed(), 'the server closed the connection')
  t.match(connection.received(), /^HTTP\/1\.1 408/, 'with 408 Request Timeout')
})

t.test('with the default read timeout, a head sent slowly over a few seconds is served', async (t) => {
  const running = await standalone(t)
  const connection = await rawConnection(running.url)
  const head = 'GET /v2/ HTTP/1.1\r\nHost: registry\r\nConnection: close\r\n\r\n'
  for (const part of head.match(/.{1,8}/gs) ?? []) {
    connection.socket.write(part)
    await sleep(300)
  }
  await Promise.race([connection.closed, sleep(10_000)])
  t.match(connection.received(), /^HTTP\/1\.1 200/)
})

t.test('http.timeout.idle: a kept-alive connection idle past it is closed', async (t) => {
  const running = await standalone(t, { REGISTRY_HTTP_TIMEOUT_IDLE: '1s' })
  const connection = await rawConnection(running.url)
  connection.socket.write('GET /v2/ HTTP/1.1\r\nHost: registry\r\n\r\n')
  await Promise.race([connection.closed, sleep(10_000)])
  t.ok(connection.isClosed(), 'closed by the server after the idle timeout')
  t.match(connection.received(), /^HTTP\/1\.1 200/, 'after answering the request')
  t.match(connection.received().toLowerCase(), /keep-alive: timeout=1/, 'and told the client the timeout')
})
