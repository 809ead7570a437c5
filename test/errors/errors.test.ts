import t from 'tap'
import { readFile, readdir } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as errors from '../../errors/index.js'
import { ErrorCodes, RegistryError, isRegistryError, toEnvelope, type ErrorCode } from '../../errors/index.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

const SPEC_STATUS: Record<string, number> = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  TAG_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  RANGE_INVALID: 416,
  PAGINATION_NUMBER_INVALID: 400,
  UNAVAILABLE: 503,
  UNKNOWN: 500
}

t.test('ErrorCodes: exactly the spec codes, each with its status', async (t) => {
  t.strictSame(Object.keys(ErrorCodes).sort(), Object.keys(SPEC_STATUS).sort(), 'the same set of codes')
  for (const [code, status] of Object.entries(SPEC_STATUS)) {
    const descriptor = ErrorCodes[code as ErrorCode]
    t.equal(descriptor.code, code, `${code}.code is its key`)
    t.equal(descriptor.status, status, `${code} -> ${status}`)
    t.type(descriptor.message, 'string')
    t.ok(descriptor.message.length > 0, `${code} has a message`)
    t.ok(Object.isFrozen(descriptor), `${code} descriptor frozen`)
  }
  t.ok(Object.isFrozen(ErrorCodes), 'table frozen')
  t.throws(() => { (ErrorCodes.BLOB_UNKNOWN as { status: number }).status = 200 }, TypeError, 'status cannot be changed')
  t.equal(ErrorCodes.BLOB_UNKNOWN.status, 404)
  t.equal(new Set(Object.values(ErrorCodes).map((d) => d.message)).size, Object.keys(ErrorCodes).length, 'messages are distinct')
})

t.test('RegistryError: defaults from the code table', async (t) => {
  for (const code of Object.keys(SPEC_STATUS) as ErrorCode[]) {
    const error = new RegistryError(code)
    t.ok(error instanceof Error, `${code} is an Error`)
    t.ok(error instanceof RegistryError)
    t.equal(error.name, 'RegistryError')
    t.equal(error.code, code)
    t.equal(error.status, SPEC_STATUS[code], `${code} status`)
    t.equal(error.message, ErrorCodes[code].message, `${code} default message`)
    t.equal(error.detail, undefined)
    t.strictSame(error.headers, {})
    t.notOk('cause' in error, 'no cause unless given')
    t.type(error.stack, 'string')
  }
})

t.test('RegistryError: overrides', async (t) => {
  const cause = new Error('disk on fire')
  const error = new RegistryError('SIZE_INVALID', {
    message: 'too big',
    status: 413,
    detail: { limit: 10 },
    headers: { 'Retry-After': '5' },
    cause
  })
  t.equal(error.code, 'SIZE_INVALID')
  t.equal(error.message, 'too big')
  t.equal(error.status, 413)
  t.strictSame(error.detail, { limit: 10 })
  t.strictSame(error.headers, { 'Retry-After': '5' })
  t.equal(error.cause, cause)

  t.equal(new RegistryError('UNKNOWN', { message: '' }).message, '', 'an empty message is kept, not defaulted')
  t.equal(new RegistryError('UNKNOWN', { status: 0 }).status, 0, 'status 0 is kept (?? not ||)')
  t.equal(new RegistryError('UNKNOWN', { detail: null }).detail, null, 'null detail kept')
  t.equal(new RegistryError('UNKNOWN', { detail: 0 }).detail, 0)
  t.equal(new RegistryError('UNKNOWN', { cause: 'text' }).cause, 'text', 'non-Error cause')
  t.equal(new RegistryError('UNKNOWN', { cause: null }).cause, null, 'null cause is a cause')
  t.notOk('cause' in new RegistryError('UNKNOWN', { cause: undefined }), 'undefined cause is no cause')
  t.equal(new RegistryError('UNAUTHORIZED', { headers: { 'WWW-Authenticate': 'Basic realm="r"' } }).status, 401, 'headers do not change status')
  // each error gets its own headers object
  const a = new RegistryError('DENIED')
  const b = new RegistryError('DENIED')
  a.headers.X = '1'
  t.strictSame(b.headers, {}, 'default headers are not shared')
})

t.test('isRegistryError', async (t) => {
  t.equal(isRegistryError(new RegistryError('UNKNOWN')), true)
  t.equal(isRegistryError(new Error('x')), false)
  t.equal(isRegistryError({ code: 'UNKNOWN', status: 500, message: 'x', name: 'RegistryError' }), false, 'a look-alike object is not one')
  t.equal(isRegistryError(undefined), false)
  t.equal(isRegistryError(null), false)
  t.equal(isRegistryError('RegistryError'), false)
  class Sub extends RegistryError {}
  t.equal(isRegistryError(new Sub('DENIED')), true, 'subclasses count')
})

t.test('toEnvelope', async (t) => {
  t.strictSame(toEnvelope(new RegistryError('BLOB_UNKNOWN')), {
    errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry' }]
  })
  const single = toEnvelope(new RegistryError('BLOB_UNKNOWN'))
  t.notOk('detail' in single.errors[0], 'detail omitted when undefined')
  t.strictSame(Object.keys(single), ['errors'], 'only an errors key')

  t.strictSame(toEnvelope(new RegistryError('NAME_INVALID', { message: 'bad name', detail: { name: 'A' } })), {
    errors: [{ code: 'NAME_INVALID', message: 'bad name', detail: { name: 'A' } }]
  })
  const nullDetail = toEnvelope(new RegistryError('UNKNOWN', { detail: null })).errors[0]
  t.ok('detail' in nullDetail, 'null detail kept')
  t.equal(nullDetail.detail, null)
  t.equal(toEnvelope(new RegistryError('UNKNOWN', { detail: '' })).errors[0].detail, '', 'empty string detail kept')

  const several = toEnvelope(
    new RegistryError('MANIFEST_BLOB_UNKNOWN', { detail: { digest: 'sha256:1' } }),
    new RegistryError('MANIFEST_BLOB_UNKNOWN', { detail: { digest: 'sha256:2' } }),
    new RegistryError('DENIED')
  )
  t.strictSame(several, {
    errors: [
      { code: 'MANIFEST_BLOB_UNKNOWN', message: ErrorCodes.MANIFEST_BLOB_UNKNOWN.message, detail: { digest: 'sha256:1' } },
      { code: 'MANIFEST_BLOB_UNKNOWN', message: ErrorCodes.MANIFEST_BLOB_UNKNOWN.message, detail: { digest: 'sha256:2' } },
      { code: 'DENIED', message: ErrorCodes.DENIED.message }
    ]
  }, 'several errors, in order')
  t.strictSame(toEnvelope(), { errors: [] }, 'no errors')

  // status, headers, cause and stack never leak into the body
  const leaky = toEnvelope(new RegistryError('UNAUTHORIZED', { status: 401, headers: { 'WWW-Authenticate': 'x' }, cause: new Error('secret') }))
  t.strictSame(Object.keys(leaky.errors[0]).sort(), ['code', 'message'])
  t.notMatch(JSON.stringify(leaky), /secret|WWW-Authenticate|401|stack/)
  t.equal(JSON.stringify(toEnvelope(new RegistryError('TAG_INVALID', { detail: { tag: 'x' } }))),
    '{"errors":[{"code":"TAG_INVALID","message":"manifest tag did not match URI","detail":{"tag":"x"}}]}', 'serialised shape and key order')
})

t.test('errors/index exports', async (t) => {
  t.strictSame(Object.keys(errors).sort(), ['ErrorCodes', 'RegistryError', 'isRegistryError', 'toEnvelope'])
})

/** Every import/export-from statement of a TypeScript source, with its specifier and whether it is type-only. */
function importsOf (source: string): Array<{ specifier: string, typeOnly: boolean, statement: string }> {
  const found: Array<{ specifier: string, typeOnly: boolean, statement: string }> = []
  const withoutComments = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '')
  const statement = /(^|[\n;])\s*(import|export)\s+([\s\S]*?)\s*from\s*['"]([^'"]+)['"]/g
  for (const match of withoutComments.matchAll(statement)) {
    const clause = match[3]
    let typeOnly = /^type\s/.test(clause)
    if (!typeOnly) {
      const braces = /^\{([\s\S]*)\}$/.exec(clause.trim())
      if (braces !== null) {
        const names = braces[1].split(',').map((s) => s.trim()).filter((s) => s !== '')
        typeOnly = names.length > 0 && names.every((name) => /^type\s/.test(name))
      }
    }
    found.push({ specifier: match[4], typeOnly, statement: match[0].trim() })
  }
  for (const match of withoutComments.matchAll(/(^|[\n;])\s*import\s*['"]([^'"]+)['"]/g)) {
    found.push({ specifier: match[2], typeOnly: false, statement: match[0].trim() })
  }
  for (const match of withoutComments.matchAll(/\b(?:import|require)\s*\(\s*['"]([^'"]+)['"]/g)) {
    found.push({ specifier: match[1], typeOnly: false, statement: match[0].trim() })
  }
  return found
}

t.test('importsOf understands the forms it must (self-check)', async (t) => {
  t.strictSame(importsOf("import type { A } from 'fastify'").map((i) => i.typeOnly), [true])
  t.strictSame(importsOf("import { type A, type B } from 'fastify'").map((i) => i.typeOnly), [true])
  t.strictSame(importsOf("import { type A, B } from 'fastify'").map((i) => i.typeOnly), [false])
  t.strictSame(importsOf("import fastify from 'fastify'").map((i) => [i.specifier, i.typeOnly]), [['fastify', false]])
  t.strictSame(importsOf("import {\n  x\n} from '../lib/app.js'").map((i) => [i.specifier, i.typeOnly]), [['../lib/app.js', false]])
  t.strictSame(importsOf("export { x } from '../lib/app.js'").map((i) => [i.specifier, i.typeOnly]), [['../lib/app.js', false]])
  t.strictSame(importsOf("import 'fastify'").map((i) => [i.specifier, i.typeOnly]), [['fastify', false]])
  t.strictSame(importsOf("const f = await import('fastify')").map((i) => [i.specifier, i.typeOnly]), [['fastify', false]])
})

t.test('errors/ and the client-safe routes/ modules import nothing from the server at run time', async (t) => {
  const errorFiles = (await readdir(join(ROOT, 'errors'))).filter((f) => f.endsWith('.ts')).map((f) => join(ROOT, 'errors', f))
  t.ok(errorFiles.length >= 4, 'errors/ has its modules')
  const entryFiles = [
    ...errorFiles,
    join(ROOT, 'routes/index.ts'),
    join(ROOT, 'routes/table.ts'),
    join(ROOT, 'routes/url-builder.ts'),
    join(ROOT, 'routes/access.ts')
  ]
  // Follow every run-time relative import from these files: the closure must stay in errors/ and routes/.
  const seen = new Set<string>()
  const queue = [...entryFiles]
  while (queue.length > 0) {
    const file = queue.shift()!
    if (seen.has(file)) continue
    seen.add(file)
    const where = relative(ROOT, file)
    const source = await readFile(file, 'utf8')
    for (const { specifier, typeOnly, statement } of importsOf(source)) {
      if (typeOnly) continue
      if (specifier.startsWith('.')) {
        const target = resolve(dirname(file), specifier).replace(/\.js$/, '.ts')
        const targetRel = relative(ROOT, target)
        t.notOk(targetRel.startsWith('lib/'), `${where}: no run-time import of lib/ (${statement})`)
        t.ok(/^(errors|routes)\//.test(targetRel), `${where}: run-time import stays in errors/ or routes/ (${targetRel})`)
        queue.push(target)
      } else {
        t.notOk(/^(fastify|@fastify\/|fastify-plugin)/.test(specifier), `${where}: no run-time import of ${specifier}`)
        t.ok(specifier.startsWith('node:'), `${where}: only node: built-ins as packages (${specifier})`)
      }
    }
  }
  for (const file of entryFiles) t.ok(seen.has(file), `${relative(ROOT, file)} checked`)
})

t.test('importing errors/ and routes/ loads neither fastify nor lib/ (child process)', async (t) => {
  const { spawnSync } = await import('node:child_process')
  const { pathToFileURL } = await import('node:url')
  // A resolve hook that refuses any module of fastify, @fastify/* or this package's lib/.
  const hooks = `
    const ROOT = ${JSON.stringify(pathToFileURL(ROOT).href + '/')}
    export async function resolve (specifier, context, next) {
      const result = await next(specifier, context)
      if (/\\/node_modules\\/(fastify|fastify-plugin|@fastify\\/[^/]+)\\//.test(result.url) || result.url.startsWith(ROOT + 'lib/')) {
        throw new Error('FORBIDDEN ' + result.url)
      }
      return result
    }`
  const run = (modules: string[]): { status: number | null, out: string } => {
    const script = `
      import { register } from 'node:module'
      register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hooks)}))
      for (const m of ${JSON.stringify(modules.map((m) => pathToFileURL(join(ROOT, m)).href))}) await import(m)
      console.log('LOADED')`
    const child = spawnSync(process.execPath, ['--import', '@tapjs/typescript/import', '--input-type=module', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000
    })
    return { status: child.status, out: `${child.stdout}${child.stderr}` }
  }
  const clean = run(['errors/index.ts', 'routes/index.ts'])
  t.equal(clean.status, 0, 'errors/index.ts and routes/index.ts load')
  t.match(clean.out, /LOADED/)
  t.notMatch(clean.out, /FORBIDDEN/, clean.out)
  // positive control: the hook does catch a server module
  const control = run(['lib/plugin.ts'])
  t.not(control.status, 0, 'control: lib/plugin.ts is refused')
  t.match(control.out, /FORBIDDEN/)
})
