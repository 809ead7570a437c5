// Drives the compiled standalone server (`dist/examples/standalone.js`, the
// package's bin) as a real child process. `npm test` builds dist/ first.
import t, { type Test } from 'tap'
import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, request } from 'undici'
import bcrypt from 'bcryptjs'

// STANDALONE_SCRIPT points the test at another build of the same file.
const script = process.env.STANDALONE_SCRIPT ?? fileURLToPath(new URL('../../dist/examples/standalone.js', import.meta.url))

interface LogLine { level: number, msg: string, [key: string]: unknown }

interface Running {
  child: ChildProcessByStdio<null, Readable, Readable>
  logs: LogLine[]
  stderr: () => string
  /** Resolves with the first log line matching; rejects if the process exits first. */
  waitForLog: (test: (line: LogLine) => boolean) => Promise<LogLine>
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

function run (args: string[], env: Record<string, string>): Running {
  // A clean environment: no REGISTRY_* of the machine running the tests, and no test-runner loaders.
  const child = spawn(process.execPath, [script, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const logs: LogLine[] = []
  const waiters: Array<{ test: (line: LogLine) => boolean, resolve: (line: LogLine) => void }> = []
  let stderr = ''
  let pending = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => {
    pending += chunk
    let newline: number
    while ((newline = pending.indexOf('\n')) !== -1) {
      const text = pending.slice(0, newline)
      pending = pending.slice(newline + 1)
      let line: LogLine
      try { line = JSON.parse(text) as LogLine } catch { line = { level: 0, msg: text } }
      logs.push(line)
      for (const waiter of [...waiters]) {
        if (waiter.test(line)) {
          waiters.splice(waiters.indexOf(waiter), 1)
          waiter.resolve(line)
        }
      }
    }
  })
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => { stderr += chunk })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => { resolve({ code, signal }) })
  })
  const waitForLog = async (test: (line: LogLine) => boolean): Promise<LogLine> => {
    const seen = logs.find(test)
    if (seen !== undefined) return seen
    return await Promise.race([
      new Promise<LogLine>((resolve) => { waiters.push({ test, resolve }) }),
      exited.then(({ code, signal }) => {
        throw new Error(`standalone exited (code ${code}, signal ${signal}) before the expected log line.\nstdout: ${JSON.stringify(logs)}\nstderr: ${stderr}`)
      })
    ])
  }
  return { child, logs, stderr: () => stderr, waitForLog, exited }
}

/** Starts the server on a free loopback port and returns its URL. */
async function start (t: Test, args: string[], env: Record<string, string>): Promise<{ running: Running, url: string }> {
  const running = run(args, env)
  t.teardown(async () => {
    if (running.child.exitCode === null && running.child.signalCode === null) {
      running.child.kill('SIGKILL')
      await running.exited
    }
  })
  const listening = await running.waitForLog((line) => line.msg === 'registry listening')
  return { running, url: listening.url as string }
}

async function tempDir (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'standalone-test-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

function agent (t: Test): Agent {
  const dispatcher = new Agent()
  t.teardown(async () => { await dispatcher.close() })
  return dispatcher
}

/** A registry with one upload PATCH in flight whose body never ends, so shutdown has something to wait for. */
async function stuckUpload (t: Test, env: Record<string, string>): Promise<{ running: Running, body: Readable, patch: Promise<unknown> }> {
  const dir = await tempDir(t)
  const { running, url } = await start(t, [], {
    REGISTRY_HTTP_ADDR: '127.0.0.1:0',
    REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(dir, 'data'),
    REGISTRY_HTTP_SECRET: 'test-secret',
    ...env
  })
  const dispatcher = agent(t)
  const started = await request(`${url}/v2/stuck/blobs/uploads/`, { method: 'POST', dispatcher })
  await started.body.dump()
  const location = new URL(String(started.headers.location), url).href
  const body = new Readable({ read () {} })
  body.push(Buffer.alloc(16))
  const patch = request(location, { method: 'PATCH', dispatcher, body, headers: { 'content-type': 'application/octet-stream' } }).catch((error: unknown) => error)
  return { running, body, patch }
}

if (!existsSync(script)) {
  t.fail(`${script} does not exist: run \`npm run build\` first (npm test does)`)
} else {
  t.test('serves the registry API with a distribution config file and the environment', async (t) => {
    const dir = await tempDir(t)
    const configFile = join(dir, 'config.yml')
    await writeFile(configFile, [
      'version: 0.1',
      'log:',
      '  level: info',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'from-file')}`,
      'http:',
      '  addr: 127.0.0.1:1', // overridden below
      '  secret: from-file',
      'colour: blue',
      ''
    ].join('\n'))
    const { running, url } = await start(t, ['serve', configFile], {
      REGISTRY_HTTP_ADDR: '127.0.0.1:0',
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(dir, 'data')
    })
    t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, 'logs the URL it listens on')
    t.notSame(url, 'http://127.0.0.1:1', 'the environment beat the file')
    t.ok(running.logs.some((line) => line.msg === 'registry listening' && String(line.storage).includes(join(dir, 'data'))), 'logs the storage root')
    t.ok(running.logs.some((line) => line.level === 40 && line.msg.includes('"colour"')), 'logs the unknown key as a warning')

    const dispatcher = agent(t)
    const response = await request(`${url}/v2/`, { dispatcher })
    t.equal(response.statusCode, 200)
    t.equal(response.headers['docker-distribution-api-version'], 'registry/2.0')
    await response.body.dump()

    running.child.kill('SIGTERM')
    const { code } = await running.exited
    t.equal(code, 0, 'exits 0 on SIGTERM')
    t.ok(running.logs.some((line) => line.msg === 'registry stopped'))
  })

  t.test('a bad configuration exits non-zero before listening', async (t) => {
    const dir = await tempDir(t)
    const running = run([], {
      REGISTRY_HTTP_ADDR: '127.0.0.1:0',
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(dir, 'data'),
      REGISTRY_STORAGE_DELETE_ENABLED: 'maybe'
    })
    const { code } = await running.exited
    t.not(code, 0, 'exits non-zero')
    t.notOk(running.logs.some((line) => /listening/i.test(line.msg)), 'never listened')
    const failure = running.logs.find((line) => line.level === 60)
    t.ok(failure, 'logs the failure at fatal level')
    t.match(failure?.msg, 'storage.delete.enabled', 'names the configuration key')
    t.match(failure?.msg, 'REGISTRY_STORAGE_DELETE_ENABLED', 'names the variable')
  })

  t.test('a missing config file exits non-zero before listening', async (t) => {
    const dir = await tempDir(t)
    const running = run([join(dir, 'missing.yml')], { REGISTRY_HTTP_ADDR: '127.0.0.1:0' })
    const { code } = await running.exited
    t.not(code, 0)
    t.notOk(running.logs.some((line) => /listening/i.test(line.msg)))
    t.ok(running.logs.some((line) => line.level === 60 && line.msg.includes('missing.yml')))
  })

  t.test('an htpasswd file that is missing exits non-zero before listening', async (t) => {
    const dir = await tempDir(t)
    const running = run([], {
      REGISTRY_HTTP_ADDR: '127.0.0.1:0',
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(dir, 'data'),
      REGISTRY_AUTH: 'htpasswd',
      REGISTRY_AUTH_HTPASSWD_REALM: 'Registry Realm',
      REGISTRY_AUTH_HTPASSWD_PATH: join(dir, 'no-such-htpasswd')
    })
    const { code } = await running.exited
    t.not(code, 0, 'exits non-zero')
    t.notOk(running.logs.some((line) => /listening/i.test(line.msg)), 'never listened')
    const failure = running.logs.find((line) => line.level === 60)
    t.match(failure?.msg, 'auth.htpasswd.path', 'names the option')
    t.match(failure?.msg, 'ENOENT')
  })

  t.test('a token section without a usable key exits non-zero before listening', async (t) => {
    const dir = await tempDir(t)
    await writeFile(join(dir, 'jwks.json'), '{"keys": []}')
    const running = run([], {
      REGISTRY_HTTP_ADDR: '127.0.0.1:0',
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(dir, 'data'),
      REGISTRY_AUTH_TOKEN_REALM: 'https://auth.test/token',
      REGISTRY_AUTH_TOKEN_SERVICE: 'registry.test',
      REGISTRY_AUTH_TOKEN_ISSUER: 'issuer',
      REGISTRY_AUTH_TOKEN_JWKS: join(dir, 'jwks.json')
    })
    const { code } = await running.exited
    t.not(code, 0)
    t.notOk(running.logs.some((line) => /listening/i.test(line.msg)))
    t.match(running.logs.find((line) => line.level === 60)?.msg, /auth\.token\.jwks.*has no keys/)
  })

  t.test('with htpasswd configured, clients are challenged and users let in', async (t) => {
    const dir = await tempDir(t)
    await writeFile(join(dir, 'htpasswd'), `alice:${bcrypt.hashSync('a-pass', 4).replace('$2b$', '$2y$')}\n`)
    const { running, url } = await start(t, [], {
      REGISTRY_HTTP_ADDR: '127.0.0.1:0',
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(dir, 'data'),
      REGISTRY_HTTP_SECRET: 'test-secret',
      REGISTRY_AUTH_HTPASSWD_REALM: 'Registry Realm',
      REGISTRY_AUTH_HTPASSWD_PATH: join(dir, 'htpasswd')
    })
    t.ok(running.logs.some((line) => line.msg === 'registry listening' && line.auth === 'htpasswd'), 'logs the access control')
    const dispatcher = agent(t)
    const anonymous = await request(`${url}/v2/`, { dispatcher })
    t.equal(anonymous.statusCode, 401)
    t.equal(anonymous.headers['www-authenticate'], 'Basic realm="Registry Realm"')
    await anonymous.body.dump()
    const authorization = `Basic ${Buffer.from('alice:a-pass').toString('base64')}`
    const authenticated = await request(`${url}/v2/`, { dispatcher, headers: { authorization } })
    t.equal(authenticated.statusCode, 200)
    await authenticated.body.dump()
    const wrong = await request(`${url}/v2/`, { dispatcher, headers: { authorization: `Basic ${Buffer.from('alice:nope').toString('base64')}` } })
    t.equal(wrong.statusCode, 401)
    await wrong.body.dump()
    running.child.kill('SIGTERM')
    t.equal((await running.exited).code, 0)
  })

  t.test('an address in use exits non-zero', async (t) => {
    const dir = await tempDir(t)
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    t.teardown(() => { blocker.close() })
    const { port } = blocker.address() as { port: number }
    const running = run([], { REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`, REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(dir, 'data') })
    const { code } = await running.exited
    t.not(code, 0)
    t.ok(running.logs.some((line) => line.level === 60 && /EADDRINUSE|in use/.test(line.msg)), 'logs why')
    t.notOk(running.logs.some((line) => line.msg === 'registry listening'))
  })

  t.test('SIGTERM lets an in-flight upload finish, then exits 0', async (t) => {
    const dir = await tempDir(t)
    const { running, url } = await start(t, [], {
      REGISTRY_HTTP_ADDR: '127.0.0.1:0',
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(dir, 'data'),
      REGISTRY_HTTP_SECRET: 'test-secret'
    })
    const dispatcher = agent(t)

    const started = await request(`${url}/v2/slow/upload/blobs/uploads/`, { method: 'POST', dispatcher })
    t.equal(started.statusCode, 202)
    await started.body.dump()
    const location = new URL(String(started.headers.location), url).href

    const chunk = Buffer.alloc(1024, 'x')
    const chunks = 10
    let sent = 0
    let signalled = false
    // The body trickles out over about a second; SIGTERM arrives after the second chunk.
    const body = new Readable({
      read () {
        if (sent === chunks) { this.push(null); return }
        setTimeout(() => {
          sent++
          this.push(chunk)
          if (sent === 2 && !signalled) {
            signalled = true
            // Only once the server has the PATCH in hand, so it is in flight, not refused.
            running.waitForLog((line) => line.msg === 'incoming request' && (line.req as { method?: string } | undefined)?.method === 'PATCH')
              .then(() => running.child.kill('SIGTERM'), () => {})
          }
        }, 100)
      }
    })
    const total = chunk.length * chunks
    const patch = request(location, {
      method: 'PATCH',
      dispatcher,
      body,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(total), 'content-range': `0-${total - 1}` }
    })

    await running.waitForLog((line) => line.msg.startsWith('shutting down'))
    // While draining, a new connection is refused, reset or answered 503.
    const late = await request(`${url}/v2/`, { dispatcher: agent(t) }).then(
      async (response) => { await response.body.dump(); return response.statusCode },
      (error: Error & { code?: string }) => error.code ?? error.message
    )
    t.not(late, 200, `a request after SIGTERM is not served (${late})`)
    t.equal(running.child.exitCode, null, 'still running while the upload is in flight')

    const response = await patch
    t.equal(response.statusCode, 202, 'the in-flight PATCH completed')
    t.equal(response.headers.range, `0-${total - 1}`, 'with every byte received')
    await response.body.dump()
    t.equal(sent, chunks)

    const { code } = await running.exited
    t.equal(code, 0, 'exits 0 after draining')
    t.ok(running.logs.some((line) => line.msg === 'registry stopped'))
  })

  t.test('a second signal forces exit', async (t) => {
    const { running, body, patch } = await stuckUpload(t, {})
    await sleep(200)
    running.child.kill('SIGTERM')
    await running.waitForLog((line) => line.msg.startsWith('shutting down'))
    running.child.kill('SIGINT')
    const { code } = await running.exited
    t.equal(code, 1, 'exits 1 without waiting')
    body.destroy()
    await patch
  })

  t.test('the drain timeout forces exit', async (t) => {
    const { running, body, patch } = await stuckUpload(t, { REGISTRY_HTTP_DRAINTIMEOUT: '300ms' })
    await sleep(200)
    const signalledAt = Date.now()
    running.child.kill('SIGTERM')
    const { code } = await running.exited
    t.equal(code, 1, 'exits 1 when requests are still in flight at the deadline')
    t.ok(Date.now() - signalledAt >= 250, 'after the drain timeout')
    t.ok(running.logs.some((line) => line.msg.startsWith('drain timeout')))
    body.destroy()
    await patch
  })
}
