// Configurations that restrict access, or look as if they meant to, are
// understood or refused: through the compiled standalone server (dist/), each
// must exit non-zero before listening, with a message naming the key.
import t, { type Test } from 'tap'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import bcrypt from 'bcryptjs'
import { runStandaloneToExit, startStandaloneProcess, STANDALONE_SCRIPT } from '../helpers/standalone-process.js'

async function tempDir (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'standalone-refusals-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** Writes `config` (its storage root in a temporary folder) and asserts the standalone refuses it. */
async function refuses (t: Test, config: string, env: Record<string, string>, option: string, pattern: RegExp): Promise<void> {
  const dir = await tempDir(t)
  const file = join(dir, 'config.yml')
  await writeFile(file, `version: 0.1\n${config}`)
  const result = await runStandaloneToExit({ REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(dir, 'data'), ...env }, [file])
  t.equal(result.signal, null, 'exited by itself, not killed by the timeout')
  t.equal(result.code, 1, 'exits 1')
  t.notOk(result.logs.some((line) => /listening/.test(line.msg)), 'never listened')
  const fatal = result.logs.find((line) => line.level === 60)
  t.ok(fatal, 'logs a fatal line')
  t.equal(fatal?.option, option, `names ${option}`)
  t.match(fatal?.msg, /^invalid configuration: /)
  t.match(fatal?.msg, pattern)
}

if (!existsSync(STANDALONE_SCRIPT)) {
  t.fail(`${STANDALONE_SCRIPT} is missing: build first (npx tsc -p tsconfig.build.json)`)
} else {
  const htpasswd = '\n  htpasswd:\n    realm: Registry\n    path: /nonexistent/htpasswd\n'

  t.test('the control: the same file with a usable auth section starts with auth on', async (t) => {
    const dir = await tempDir(t)
    const file = join(dir, 'config.yml')
    await writeFile(join(dir, 'htpasswd'), `alice:${bcrypt.hashSync('secret', 4)}\n`)
    await writeFile(file, `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nauth:\n  htpasswd:\n    realm: Registry\n    path: ${join(dir, 'htpasswd')}\n`)
    const running = await startStandaloneProcess({ REGISTRY_LOG_LEVEL: 'info' }, [file])
    t.teardown(async () => { await running.stop('SIGKILL') })
    const catalog = await fetch(`${running.url}/v2/_catalog`)
    t.equal(catalog.status, 401, 'the catalog is not served to anyone')
    t.match(running.output(), /"auth":"htpasswd"/)
  })

  t.test('auth: {} stops start-up', async (t) => {
    await refuses(t, 'auth: {}\n', {}, 'auth', /no access controller.*refusing to start an open registry/)
  })
  t.test('auth: null stops start-up', async (t) => {
    await refuses(t, 'auth: null\n', {}, 'auth', /no access controller/)
  })
  t.test('auth: with nothing under it stops start-up', async (t) => {
    await refuses(t, 'auth:\n', {}, 'auth', /no access controller/)
  })
  t.test('Auth: (capitalised) stops start-up, naming auth', async (t) => {
    await refuses(t, `Auth:${htpasswd}`, {}, 'Auth', /resembles "auth"/)
  })
  t.test('a misspelled auht: section stops start-up, naming auth', async (t) => {
    await refuses(t, `auht:${htpasswd}`, {}, 'auht', /resembles "auth"/)
  })
  t.test('REGISTRY_AUTH="" stops start-up, naming the variable', async (t) => {
    await refuses(t, '', { REGISTRY_AUTH: '' }, 'auth', /no access controller.*REGISTRY_AUTH/)
  })
  t.test('REGISTRY_AUTH={} stops start-up, naming the variable', async (t) => {
    await refuses(t, '', { REGISTRY_AUTH: '{}' }, 'auth', /no access controller.*REGISTRY_AUTH/)
  })
  t.test('REGISTRY_AUTH="" over a file\'s working auth section stops start-up', async (t) => {
    await refuses(t, `auth:${htpasswd}`, { REGISTRY_AUTH: '' }, 'auth', /no access controller.*REGISTRY_AUTH/)
  })
  t.test('accesscontrol stops start-up: not supported yet', async (t) => {
    await refuses(t, 'accesscontrol:\n  rules: []\n', {}, 'accesscontrol', /not supported yet/)
  })
  t.test('a capitalised AccessControl stops start-up, naming accesscontrol', async (t) => {
    await refuses(t, 'AccessControl:\n  rules: []\n', {}, 'AccessControl', /resembles "accesscontrol"/)
  })
  t.test('http.tls stops start-up: not supported yet', async (t) => {
    await refuses(t, 'http:\n  tls:\n    certificate: /c.pem\n    key: /k.pem\n', {}, 'http.tls', /not supported yet/)
  })
  t.test('http.TLS stops start-up, naming http.tls', async (t) => {
    await refuses(t, 'http:\n  TLS:\n    certificate: /c.pem\n    key: /k.pem\n', {}, 'http.TLS', /resembles "http\.tls"/)
  })
  t.test('a misspelled key in an auth controller section stops start-up', async (t) => {
    await refuses(t, 'auth:\n  token:\n    realm: r\n    service: s\n    issuer: i\n    jwks: /j.json\n    isuser: j\n', {}, 'auth.token.isuser', /never ignored/)
  })
  t.test('maintenance.readonly.enable (a typo of enabled) stops start-up', async (t) => {
    await refuses(t, 'storage:\n  maintenance:\n    readonly:\n      enable: true\n', {}, 'storage.maintenance.readonly.enable', /read-only.*never ignored/)
  })
  t.test('REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLE stops start-up, naming the variable', async (t) => {
    await refuses(t, '', { REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLE: 'true' }, 'storage.maintenance.readonly.enable', /REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLE/)
  })
  t.test('storage.maintenance.readOnly stops start-up, naming readonly', async (t) => {
    await refuses(t, 'storage:\n  maintenance:\n    readOnly:\n      enabled: true\n', {}, 'storage.maintenance.readOnly', /resembles "storage\.maintenance\.readonly"/)
  })
  t.test('a top-level maintenance section stops start-up, pointing at storage.maintenance', async (t) => {
    await refuses(t, 'maintenance:\n  readonly:\n    enabled: true\n', {}, 'maintenance', /storage\.maintenance/)
  })
  t.test('strict mode: an unknown top-level key stops start-up', async (t) => {
    await refuses(t, 'colour: blue\n', { REGISTRY_CONFIGURATION_STRICT: 'true' }, 'colour', /REGISTRY_CONFIGURATION_STRICT/)
  })
}
