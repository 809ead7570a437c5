// `fastify-oci-registry garbage-collect`: the compiled bin (`dist/examples/standalone.js`,
// built by `npm test`) spawned as a real process on a configuration file, and the
// command in-process for what a terminal sees.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { FilesystemDriver } from '../../lib/storage/filesystem.js'
import { parseDigest } from '../../lib/digest.js'
import { paths } from '../../lib/store/paths.js'
import { runGarbageCollectCommand } from '../../lib/gc/cli.js'
import { buildRegistry, pushBlob, randomBlob, tempDir } from '../helpers/registry.js'
import { pushImage } from '../helpers/images.js'

// STANDALONE_SCRIPT points the test at another build of the same file.
const script = process.env.STANDALONE_SCRIPT ?? fileURLToPath(new URL('../../dist/examples/standalone.js', import.meta.url))

interface Run { code: number | null, stdout: string, stderr: string }

async function run (args: string[], env: Record<string, string> = {}): Promise<Run> {
  // A clean environment: no REGISTRY_* of the machine running the tests, and no test-runner loaders.
  const child = spawn(process.execPath, [script, 'garbage-collect', ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const code = await new Promise<number | null>((resolve) => { child.on('exit', (exitCode) => { resolve(exitCode) }) })
  return { code, stdout, stderr }
}

/** A registry root holding one image and one orphan blob, and a configuration file naming it. */
async function registryRoot (t: Test): Promise<{ root: string, config: string, orphan: string, app: FastifyInstance }> {
  const dir = await tempDir('oci-gc-cli-')
  const root = join(dir.path, 'data')
  const app = await buildRegistry({ storage: { filesystem: { rootDirectory: root } } })
  t.teardown(async () => { await app.close(); await dir.cleanup() })
  await pushImage(app, 'cli/app', 'v1')
  const orphan = randomBlob(4096)
  await pushBlob(app, 'cli/app', orphan.content)
  const config = join(dir.path, 'config.yml')
  await writeFile(config, `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${root}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:0\n  secret: not-used-here\n`)
  return { root, config, orphan: orphan.digest, app }
}

async function blobExists (root: string, digest: string): Promise<boolean> {
  return await new FilesystemDriver({ rootDirectory: root }).stat(paths.blobData(parseDigest(digest)!)).then(() => true, () => false)
}

t.test('dry run, then a real run, on a configuration file', async (t) => {
  const { root, config, orphan, app } = await registryRoot(t)

  const dry = await run(['--dry-run', '--grace=0', config])
  t.equal(dry.code, 0, dry.stderr)
  t.match(dry.stdout, /garbage-collect dry run finished in .*: nothing was changed/)
  t.match(dry.stdout, /blobs to delete: +1 \(4\.0 KiB to free\)/)
  t.match(dry.stdout, /links to remove: +1/)
  t.ok(await blobExists(root, orphan), 'the dry run deleted nothing')
  // Not a terminal: one plain line per phase, no carriage returns.
  t.notMatch(dry.stderr, /\r/)
  t.match(dry.stderr, /^garbage-collect \(dry run\) on filesystem .*data, grace period 0 ms$/m)
  t.match(dry.stderr, /^mark: 1 repository, 1 manifest read$/m)
  t.match(dry.stderr, /^scan: 4 blobs \(3 referenced\), 1 to delete \(4\.0 KiB to free\)$/m)
  t.match(dry.stderr, /^links: 1 dangling link removed$/m)

  const real = await run(['--grace', '0s', config])
  t.equal(real.code, 0, real.stderr)
  t.match(real.stdout, /^garbage-collect finished in /)
  t.match(real.stdout, /blobs deleted: +1 \(4\.0 KiB freed\)/)
  t.match(real.stdout, /links removed: +1/)
  t.match(real.stdout, /blobs: +4 \(3 referenced, 0 within the grace period of 0 ms\)/)
  t.match(real.stderr, /^quarantine: setting aside 1 blob \(4\.0 KiB\)$/m)
  t.match(real.stderr, /^delete: 1\/1 blob deleted, 4\.0 KiB freed$/m)
  t.notOk(await blobExists(root, orphan), 'the orphan is gone')
  t.equal((await app.inject({ method: 'GET', url: '/v2/cli/app/manifests/v1' })).statusCode, 200, 'the image stays')
})

t.test('the default grace period keeps what was just pushed; REGISTRY_* variables configure the storage', async (t) => {
  const { root, orphan } = await registryRoot(t)
  const result = await run(['-m'], { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root })
  t.equal(result.code, 0, result.stderr)
  t.match(result.stderr, /grace period 1h, deleting untagged manifests/)
  t.match(result.stdout, /blobs deleted: +0 /)
  t.match(result.stdout, /1 within the grace period of 1h/)
  t.match(result.stdout, /manifests: +1 \(1 kept, 0 untagged deleted\)/)
  t.ok(await blobExists(root, orphan))

  const viaPath = await run(['--dry-run', '--grace=0'], { REGISTRY_CONFIGURATION_PATH: join(root, '..', 'config.yml') })
  t.equal(viaPath.code, 0, viaPath.stderr)
  t.match(viaPath.stdout, /blobs to delete: +1 /, 'REGISTRY_CONFIGURATION_PATH names the file')
})

t.test('usage errors exit 2, failures exit 1, --help exits 0', async (t) => {
  const { config } = await registryRoot(t)
  for (const args of [['--frobnicate', config], ['--grace=soon', config], ['--grace'], ['a.yml', 'b.yml'], ['-x']]) {
    const result = await run(args)
    t.equal(result.code, 2, `${args.join(' ')} is a usage error`)
    t.match(result.stderr, /^fastify-oci-registry garbage-collect: .+\n\nUsage: fastify-oci-registry garbage-collect/)
    t.equal(result.stdout, '')
  }

  const help = await run(['--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /^Usage: fastify-oci-registry garbage-collect \[options\] \[config\.yml\]/)
  t.match(help.stdout, /--delete-untagged/)

  const missingFile = await run(['/nonexistent/config.yml'])
  t.equal(missingFile.code, 1)
  t.match(missingFile.stderr, /invalid configuration: .*cannot be read/)

  const missingRoot = await run([], { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/nonexistent/registry' })
  t.equal(missingRoot.code, 1)
  t.match(missingRoot.stderr, /storage\.filesystem\.rootdirectory.*\/nonexistent\/registry.*cannot be read/)

  const inmemory = await run([], { REGISTRY_STORAGE: 'inmemory' })
  t.equal(inmemory.code, 1)
  t.match(inmemory.stderr, /inmemory/)

  const badConfig = await run([config], { REGISTRY_HTTP_ADDR: 'no port' })
  t.equal(badConfig.code, 1, 'the configuration is checked as the server checks it')
  t.match(badConfig.stderr, /invalid configuration: .*http\.addr/)
})

/** A stream that records what is written, as a terminal or not. */
function recorder (isTTY: boolean): { write: (text: string) => boolean, isTTY: boolean, columns: number, text: () => string } {
  let text = ''
  return { write: (chunk: string) => { text += chunk; return true }, isTTY, columns: 200, text: () => text }
}

t.test('on a terminal, progress is one line rewritten in place', async (t) => {
  const { root } = await registryRoot(t)
  const stdout = recorder(false)
  const stderr = recorder(true)
  const status = await runGarbageCollectCommand(['--grace=0'], { PATH: '', REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root }, { stdout, stderr })
  t.equal(status, 0)
  const [banner, ...rest] = stderr.text().split('\n')
  t.match(banner, /^garbage-collect on filesystem /)
  t.equal(rest.length, 1, 'after the banner, no new lines: every update starts with a carriage return')
  const updates = rest[0].split('\r\x1b[K').filter((update) => update !== '')
  t.ok(updates.length >= 3, 'several updates')
  t.ok(updates.some((update) => update.startsWith('mark: ')))
  t.ok(updates.some((update) => update.startsWith('delete: ')))
  t.ok(stderr.text().endsWith('\r\x1b[K'), 'the progress line is cleared at the end')
  t.match(stdout.text(), /blobs deleted: +1 \(4\.0 KiB freed\)/)
})
