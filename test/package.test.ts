import t from 'tap'
import { execFile } from 'node:child_process'
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { tempDir } from './helpers/registry.js'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')

// What users get from npm: the packed tarball installed into a fresh app, types included.
t.test('the packed package installs, type-checks and mounts in a fresh Fastify app', async (t) => {
  const work = await tempDir('oci-registry-pack-')
  t.teardown(work.cleanup)
  // dist/ is fresh: `npm test` builds before running tap.
  await run('npm', ['pack', '--ignore-scripts', '--pack-destination', work.path], { cwd: root })
  const tarball = (await readdir(work.path)).find((file) => file.endsWith('.tgz'))
  t.ok(tarball, 'npm pack produced a tarball')

  const app = join(work.path, 'app')
  await run('mkdir', ['-p', app])
  const rootPackage = JSON.parse(await (await import('node:fs/promises')).readFile(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string>, devDependencies: Record<string, string> }
  await writeFile(join(app, 'package.json'), JSON.stringify({
    name: 'consumer',
    private: true,
    type: 'module',
    dependencies: { 'fastify-oci-registry': `file:../${tarball}`, fastify: rootPackage.dependencies.fastify, '@types/node': rootPackage.devDependencies['@types/node'] },
    overrides: { 'light-my-request': '6.6.0' }
  }))
  // Install scripts run, as for a user: fs-ext (the upload fence's flock) builds its native addon.
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: app, timeout: 180_000 })

  const files = (await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root })).stdout
  const packed = (JSON.parse(files) as Array<{ files: Array<{ path: string }> }>)[0].files.map((file) => file.path)
  t.ok(packed.includes('dist/lib/index.d.ts'), 'declarations ship')
  t.notOk(packed.some((path) => path.startsWith('test/') || path.startsWith('dist/test/')), 'tests do not ship')

  await writeFile(join(app, 'consumer.ts'), `
import Fastify from 'fastify'
import registry, { type RegistryOptions, type StorageDriver, InMemoryDriver, RegistryError } from 'fastify-oci-registry'
import { buildPath, routes, type RouteName } from 'fastify-oci-registry/routes'
import { ErrorCodes, type ErrorCode } from 'fastify-oci-registry/errors'

const driver: StorageDriver = new InMemoryDriver()
const options: RegistryOptions = { storage: driver, uploadState: { secret: 'x' }, delete: { enabled: true } }
const route: RouteName = 'blob'
const code: ErrorCode = 'BLOB_UNKNOWN'
const app = Fastify()
await app.register(registry, options)
const response = await app.inject({ method: 'GET', url: buildPath('base') })
const error = new RegistryError(code)
console.log(JSON.stringify({
  status: response.statusCode,
  version: response.headers['docker-distribution-api-version'],
  blobPath: buildPath(route, { name: 'a/b', digest: 'sha256:' + '0'.repeat(64) }),
  routes: routes.length,
  status404: ErrorCodes.BLOB_UNKNOWN.status,
  errorStatus: error.status
}))
await app.close()
`)
  await writeFile(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'out', skipLibCheck: false, types: ['node'] },
    files: ['consumer.ts']
  }))
  const compiled = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: app }).then(() => 'ok', (error: { stdout?: string }) => error.stdout ?? String(error))
  t.equal(compiled, 'ok', 'a strict consumer type-checks against the shipped declarations')

  const { stdout } = await run(process.execPath, ['out/consumer.js'], { cwd: app })
  const result = JSON.parse(stdout) as Record<string, unknown>
  t.same(result, {
    status: 200,
    version: 'registry/2.0',
    blobPath: `/v2/a/b/blobs/sha256:${'0'.repeat(64)}`,
    routes: 8,
    status404: 404,
    errorStatus: 404
  })

  const bin = await run(process.execPath, [join(app, 'node_modules', '.bin', 'fastify-oci-registry'), '--help'], { cwd: app }).then((r) => r.stdout + r.stderr, (error: { stdout?: string, stderr?: string }) => `${error.stdout ?? ''}${error.stderr ?? ''}`)
  t.match(bin, /usage|config/i, 'the bin is installed and runs')
})
