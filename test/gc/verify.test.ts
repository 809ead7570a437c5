import t from 'tap'
import { spawnSync } from 'node:child_process'
import { appendFile, mkdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { buildRegistry, pushBlob, randomBlob, tempDir } from '../helpers/registry.js'
import { EXIT_CORRUPT, runVerifyCommand } from '../../lib/gc/verify-cli.js'
import { EXIT_OK } from '../../lib/gc/cli.js'
import { STANDALONE_SCRIPT } from '../helpers/standalone-process.js'

function blobFile (root: string, digest: string): string {
  const hex = digest.slice('sha256:'.length)
  return join(root, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data')
}

function captured (): { stream: { write: (text: string) => boolean }, text: () => string } {
  let text = ''
  return { stream: { write: (chunk: string) => { text += chunk; return true } }, text: () => text }
}

async function verify (root: string, args: string[] = []): Promise<{ status: number, stdout: string, stderr: string }> {
  const stdout = captured()
  const stderr = captured()
  const status = await runVerifyCommand(args, { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root }, { stdout: stdout.stream, stderr: stderr.stream })
  return { status, stdout: stdout.text(), stderr: stderr.text() }
}

t.test('verify reports a blob whose bytes do not match its digest; --repair sets it aside until a genuine push', async (t) => {
  const root = await tempDir()
  t.teardown(root.cleanup)
  const app = await buildRegistry({ storage: { filesystem: { rootDirectory: root.path } } })
  t.teardown(async () => { await app.close() })
  const good = randomBlob(64 * 1024)
  const bad = randomBlob(64 * 1024)
  await pushBlob(app, 'verify/me', good.content)
  await pushBlob(app, 'verify/me', bad.content)

  const clean = await verify(root.path)
  t.equal(clean.status, EXIT_OK, clean.stderr)
  t.match(clean.stdout, /2 blobs .* read, 0 corrupt/)

  await appendFile(blobFile(root.path, bad.digest), 'poison')
  const found = await verify(root.path)
  t.equal(found.status, EXIT_CORRUPT)
  t.match(found.stdout, `corrupt ${bad.digest}`)
  t.notMatch(found.stdout, good.digest, 'the intact blob is not reported')
  t.equal((await stat(blobFile(root.path, bad.digest))).size, bad.content.length + 6, 'without --repair nothing changes')

  const repaired = await verify(root.path, ['--repair'])
  t.equal(repaired.status, EXIT_CORRUPT)
  t.match(repaired.stdout, 'moved to data.corrupt')
  await t.rejects(stat(blobFile(root.path, bad.digest)), { code: 'ENOENT' }, 'the corrupt data is no longer at its name')
  t.ok((await stat(`${blobFile(root.path, bad.digest)}.corrupt`)).isFile(), 'it is kept beside it for a look')
  const gone = await app.inject({ method: 'GET', url: `/v2/verify/me/blobs/${bad.digest}` })
  t.equal(gone.statusCode, 404, 'a pull answers BLOB_UNKNOWN rather than wrong bytes')

  await pushBlob(app, 'verify/again', bad.content)
  const pulled = await app.inject({ method: 'GET', url: `/v2/verify/me/blobs/${bad.digest}` })
  t.equal(pulled.statusCode, 200)
  t.ok(pulled.rawPayload.equals(bad.content), 'the genuine push restores the blob everywhere it is linked')
  t.equal((await verify(root.path)).status, EXIT_OK)
})

t.test('verify answers usage errors and a missing root as failures', async (t) => {
  t.equal((await verify('/nonexistent/registry-root')).status, 1)
  t.equal((await verify('/tmp', ['--bogus'])).status, 2)
})

t.test('a commit that finds a corrupt copy in place replaces it with the verified upload', async (t) => {
  const root = await tempDir()
  t.teardown(root.cleanup)
  const app = await buildRegistry({ storage: { filesystem: { rootDirectory: root.path } } })
  t.teardown(async () => { await app.close() })
  for (const [label, corrupt] of [
    ['a copy of another size', (content: Buffer) => Buffer.concat([content, Buffer.from('poison')])],
    ['a copy of the same size with other bytes', (content: Buffer) => Buffer.alloc(content.length, 7)]
  ] as const) {
    const { content, digest } = randomBlob(32 * 1024)
    const file = blobFile(root.path, digest)
    await mkdir(join(file, '..'), { recursive: true })
    await writeFile(file, corrupt(content))
    await pushBlob(app, 'victim/app', content)
    const pulled = await app.inject({ method: 'GET', url: `/v2/victim/app/blobs/${digest}` })
    t.equal(pulled.statusCode, 200, label)
    t.ok(pulled.rawPayload.equals(content), `${label}: the genuine bytes are served`)
  }
})

t.test('the bin runs verify: exit 3 and the digest on stdout for a corrupt blob', async (t) => {
  const root = await tempDir()
  t.teardown(root.cleanup)
  const app = await buildRegistry({ storage: { filesystem: { rootDirectory: root.path } } })
  const { content, digest } = randomBlob(4096)
  await pushBlob(app, 'bin/verify', content)
  await app.close()
  await appendFile(blobFile(root.path, digest), 'x')
  const run = spawnSync(process.execPath, [STANDALONE_SCRIPT, 'verify'], { env: { ...process.env, REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root.path }, encoding: 'utf8' })
  t.equal(run.status, EXIT_CORRUPT, run.stderr)
  t.match(run.stdout, `corrupt ${digest}`)
})
