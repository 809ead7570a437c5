// The garbage-collect command on a configuration whose instances share the Redis link
// cache: what it removes must stop being served by a running instance at once.
import t from 'tap'
import { Writable } from 'node:stream'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { runGarbageCollectCommand } from '../../lib/gc/cli.js'
import { buildRegistry, tempDir } from '../helpers/registry.js'
import { imageManifest, putManifest } from '../helpers/images.js'
import { redisAddr, testRedis } from '../helpers/redis.js'

function sink (): Writable & { text: () => string } {
  const chunks: Buffer[] = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { chunks.push(chunk); done() } })
  return Object.assign(stream, { text: () => Buffer.concat(chunks).toString('utf8') })
}

t.test('an untagged manifest collected by the command is gone from a running instance on its next request', async (t) => {
  const { keyPrefix } = await testRedis(t, 'gc-cli')
  const root = await tempDir()
  t.teardown(root.cleanup)
  const app = await buildRegistry({
    storage: { filesystem: { rootDirectory: root.path } },
    redis: { addr: redisAddr(), keyPrefix },
    cache: { links: 'redis' }
  })
  t.teardown(async () => await app.close())
  const manifest = await imageManifest(app, 'team/app', { label: 'untagged' })
  t.equal((await putManifest(app, 'team/app', manifest.digest, manifest)).statusCode, 201)
  const url = `/v2/team/app/manifests/${manifest.digest}`
  t.equal((await app.inject(url)).statusCode, 200, 'served, and now cached in Redis')

  const config = join(root.path, '..', `${root.path.split('/').pop()!}.yml`)
  await writeFile(config, [
    'version: 0.1',
    'storage:',
    `  filesystem: { rootdirectory: ${root.path} }`,
    '  cache: { blobdescriptor: redis }',
    `redis: { addr: "${redisAddr()}", keyprefix: "${keyPrefix}" }`,
    ''
  ].join('\n'))
  t.teardown(async () => await rm(config, { force: true }))
  const stdout = sink()
  const stderr = sink()
  const status = await runGarbageCollectCommand(['--delete-untagged', '--grace=0s', config], { PATH: process.env.PATH ?? '' }, { stdout, stderr })
  t.equal(status, 0, stderr.text())

  const after = await app.inject(url)
  t.equal(after.statusCode, 404, 'the collected manifest is not served from the cache')
  t.match(after.body, /MANIFEST_UNKNOWN/)
})
