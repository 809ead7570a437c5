// The conformance suite every StorageDriver must pass. Each subtest gets a fresh driver.
import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { Test } from 'tap'
import type { FileInfo, StorageDriver } from '../../lib/storage/driver.js'
import { InvalidOffsetError, InvalidPathError, PathNotFoundError } from '../../lib/storage/errors.js'
import { FileChangedError } from '../../lib/storage/file-changed-error.js'

export type MakeDriver = () => Promise<{ driver: StorageDriver, cleanup: () => Promise<void> }>

const MiB = 1024 * 1024

async function collect (stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array))
  return Buffer.concat(chunks)
}

async function * chunksOf (...parts: Array<string | Uint8Array>): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield typeof part === 'string' ? Buffer.from(part) : part
}

async function walkAll (driver: StorageDriver, path: string): Promise<FileInfo[]> {
  const out: FileInfo[] = []
  for await (const info of driver.walk(path)) out.push(info)
  return out
}

const INVALID_PATHS = ['relative', '/a/../b', '/a/./b', '/a//b', '/a\\b', '/a%2fb', '/a\u0000b', '/ä', '', '/a/', '/..', '/.']

export function runDriverSuite (t: Test, name: string, makeDriver: MakeDriver): void {
  /** A subtest with its own driver, cleaned up afterwards. */
  const test = (title: string, fn: (t: Test, driver: StorageDriver) => Promise<void>): void => {
    t.test(`${name}: ${title}`, async (t) => {
      const { driver, cleanup } = await makeDriver()
      t.teardown(cleanup)
      await fn(t, driver)
    })
  }

  test('putContent / getContent round trip', async (t, driver) => {
    await driver.putContent('/a/b/text', Buffer.from('hello'))
    t.equal((await driver.getContent('/a/b/text')).toString(), 'hello')

    const binary = Buffer.alloc(256)
    for (let i = 0; i < 256; i++) binary[i] = i
    await driver.putContent('/a/binary', new Uint8Array(binary))
    t.same(await driver.getContent('/a/binary'), binary)

    await driver.putContent('/a/empty', new Uint8Array(0))
    t.equal((await driver.getContent('/a/empty')).length, 0)
    t.equal((await driver.stat('/a/empty')).size, 0)

    await driver.putContent('/a/b/text', Buffer.from('bye'))
    t.equal((await driver.getContent('/a/b/text')).toString(), 'bye', 'overwrite replaces')

    // The driver keeps its own copy: mutating the caller's buffer changes nothing.
    const mutable = Buffer.from('keep')
    await driver.putContent('/a/copy', mutable)
    mutable.fill(0)
    t.equal((await driver.getContent('/a/copy')).toString(), 'keep')

    await t.rejects(driver.getContent('/missing'), PathNotFoundError)
    await t.rejects(driver.getContent('/a'), PathNotFoundError, 'a directory is not content')
  })

  test('overwrite is atomic for concurrent readers', async (t, driver) => {
    const size = 256 * 1024
    const version = (v: number): Buffer => Buffer.alloc(size, v)
    await driver.putContent('/atomic/file', version(0))
    let done = false
    let reads = 0
    const bad: string[] = []
    const check = (content: Buffer): void => {
      reads++
      if (content.length !== size) bad.push(`length ${content.length}`)
      else if (!content.every((b) => b === content[0])) bad.push(`mixed content starting with ${content[0]}`)
    }
    const readLoop = async (): Promise<void> => {
      while (!done) {
        check(await driver.getContent('/atomic/file'))
        check(await collect(await driver.reader('/atomic/file')))
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
    const readers = [readLoop(), readLoop()]
    for (let v = 1; v <= 50; v++) await driver.putContent('/atomic/file', version(v))
    done = true
    await Promise.all(readers)
    t.same(bad, [], 'every read saw one complete version')
    t.ok(reads > 0)
    t.same(await driver.getContent('/atomic/file'), version(50))
    t.same(await driver.list('/atomic'), ['/atomic/file'], 'no temporary files left behind')
  })

  test('reader offsets and lengths', async (t, driver) => {
    const content = Buffer.from('0123456789')
    await driver.putContent('/r/file', content)
    t.equal((await collect(await driver.reader('/r/file'))).toString(), '0123456789')
    t.equal((await collect(await driver.reader('/r/file', 0))).toString(), '0123456789')
    t.equal((await collect(await driver.reader('/r/file', 4))).toString(), '456789')
    t.equal((await collect(await driver.reader('/r/file', 10))).length, 0, 'offset == size is empty')
    t.equal((await collect(await driver.reader('/r/file', 2, 3))).toString(), '234')
    t.equal((await collect(await driver.reader('/r/file', 0, 0))).length, 0)
    t.equal((await collect(await driver.reader('/r/file', 8, 100))).toString(), '89', 'length past the end stops at the end')
    await t.rejects(driver.reader('/r/file', 11), InvalidOffsetError)
    await t.rejects(driver.reader('/r/file', -1), InvalidOffsetError)
    await t.rejects(driver.reader('/r/missing'), PathNotFoundError, 'rejects before streaming')
    await t.rejects(driver.reader('/r/missing', 5), PathNotFoundError)
    await t.rejects(driver.reader('/r'), PathNotFoundError, 'a directory is not readable')

    await driver.putContent('/r/empty', new Uint8Array(0))
    t.equal((await collect(await driver.reader('/r/empty'))).length, 0)
  })

  test('writer: new, append, size, close and reopen', async (t, driver) => {
    const w = await driver.writer('/w/new/file', false)
    t.equal(w.size, 0)
    t.equal(await w.write(chunksOf('hello', ' ')), 6)
    t.equal(w.size, 6)
    t.equal(await w.write(chunksOf('world')), 5, 'a second write appends')
    t.equal(w.size, 11)
    await w.commit()
    t.equal((await driver.getContent('/w/new/file')).toString(), 'hello world')
    await t.rejects(w.write(chunksOf('x')), 'write after commit rejects')

    const a = await driver.writer('/w/new/file', true)
    t.equal(a.size, 11, 'append starts at the existing size')
    t.equal(await a.write(chunksOf('!')), 1)
    t.equal(a.size, 12)
    await a.close()
    await t.rejects(a.write(chunksOf('x')), 'write after close rejects')
    t.equal((await driver.getContent('/w/new/file')).toString(), 'hello world!')

    const b = await driver.writer('/w/new/file', true)
    t.equal(b.size, 12, 'reopening after close continues')
    await b.write(chunksOf('?'))
    await b.commit()
    t.equal((await driver.getContent('/w/new/file')).toString(), 'hello world!?')

    const trunc = await driver.writer('/w/new/file', false)
    t.equal(trunc.size, 0, 'not appending truncates')
    await trunc.write(chunksOf('fresh'))
    await trunc.commit()
    t.equal((await driver.getContent('/w/new/file')).toString(), 'fresh')

    const fresh = await driver.writer('/w/other', true)
    t.equal(fresh.size, 0, 'appending to a missing file creates it')
    t.equal(await fresh.write(chunksOf()), 0, 'an empty source appends nothing')
    await fresh.commit()
    t.equal((await driver.stat('/w/other')).size, 0)
  })

  test('writer: cancel removes the file', async (t, driver) => {
    const w = await driver.writer('/c/file', false)
    await w.write(chunksOf('doomed'))
    await w.cancel()
    await t.rejects(driver.stat('/c/file'), PathNotFoundError)
    await t.rejects(w.write(chunksOf('x')), 'write after cancel rejects')

    await driver.putContent('/c/existing', Buffer.from('old'))
    const a = await driver.writer('/c/existing', true)
    await a.write(chunksOf('new'))
    await a.cancel()
    await t.rejects(driver.getContent('/c/existing'), PathNotFoundError)
  })

  test('writer: a failing source keeps the bytes already written', async (t, driver) => {
    const w = await driver.writer('/f/file', false)
    const boom = new Error('source failed')
    async function * failing (): AsyncGenerator<Uint8Array> {
      yield Buffer.from('abc')
      yield Buffer.from('def')
      throw boom
    }
    await t.rejects(w.write(failing()), boom)
    t.equal(w.size, 6)
    t.equal(await w.write(chunksOf('ghi')), 3, 'the writer stays usable')
    await w.close()
    t.equal((await driver.getContent('/f/file')).toString(), 'abcdefghi')
  })

  test('writer: chunks are copied, a reused source buffer is fine', async (t, driver) => {
    const w = await driver.writer('/reuse/file', false)
    async function * reusing (): AsyncGenerator<Uint8Array> {
      const buffer = Buffer.alloc(4)
      for (const c of 'abcd') {
        buffer.fill(c)
        yield buffer
      }
    }
    t.equal(await w.write(reusing()), 16)
    await w.commit()
    t.equal((await driver.getContent('/reuse/file')).toString(), 'aaaabbbbccccdddd')
  })

  test('writer: 64 MiB from 1 MiB chunks', async (t, driver) => {
    const expected = createHash('sha256')
    async function * generate (): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 64; i++) {
        const chunk = Buffer.alloc(MiB, i)
        chunk.writeUInt32BE(i, 0)
        expected.update(chunk)
        yield chunk
      }
    }
    const w = await driver.writer('/big/data', false)
    t.equal(await w.write(generate()), 64 * MiB)
    t.equal(w.size, 64 * MiB)
    await w.commit()
    t.equal((await driver.stat('/big/data')).size, 64 * MiB)
    const actual = createHash('sha256')
    for await (const chunk of await driver.reader('/big/data')) actual.update(chunk as Uint8Array)
    t.equal(actual.digest('hex'), expected.digest('hex'))
    const tail = await collect(await driver.reader('/big/data', 63 * MiB, 4))
    t.equal(tail.readUInt32BE(0), 63, 'a ranged read lands in the right place')
  })

  test('stat', async (t, driver) => {
    const before = Date.now()
    await driver.putContent('/s/dir/file', Buffer.from('12345'))
    const file = await driver.stat('/s/dir/file')
    t.same({ path: file.path, size: file.size, isDir: file.isDir }, { path: '/s/dir/file', size: 5, isDir: false })
    t.ok(file.modTime instanceof Date)
    t.ok(file.modTime.getTime() >= before - 2000, 'modTime is recent')
    const dir = await driver.stat('/s/dir')
    t.same({ path: dir.path, size: dir.size, isDir: dir.isDir }, { path: '/s/dir', size: 0, isDir: true })
    t.ok(dir.modTime instanceof Date)
    await t.rejects(driver.stat('/s/missing'), PathNotFoundError)
    await t.rejects(driver.stat('/s/dir/file/below'), PathNotFoundError, 'below a file')
  })

  test('list', async (t, driver) => {
    for (const p of ['/l/b', '/l/a/x', '/l/c.d', '/l/c-d', '/l/C', '/l/a/y/z']) {
      await driver.putContent(p, Buffer.from(p))
    }
    t.same(await driver.list('/l'), ['/l/C', '/l/a', '/l/b', '/l/c-d', '/l/c.d'])
    t.same(await driver.list('/l/a'), ['/l/a/x', '/l/a/y'])
    t.same(await driver.list('/'), ['/l'])
    await t.rejects(driver.list('/missing'), PathNotFoundError)
    await t.rejects(driver.list('/l/b'), PathNotFoundError, 'a file has no children')
  })

  test('move', async (t, driver) => {
    await driver.putContent('/m/src', Buffer.from('one'))
    await driver.move('/m/src', '/m/deep/new/dst')
    t.equal((await driver.getContent('/m/deep/new/dst')).toString(), 'one', 'parents created')
    await t.rejects(driver.stat('/m/src'), PathNotFoundError)

    await driver.putContent('/m/other', Buffer.from('two'))
    await driver.move('/m/other', '/m/deep/new/dst')
    t.equal((await driver.getContent('/m/deep/new/dst')).toString(), 'two', 'replaces the destination')

    await t.rejects(driver.move('/m/missing', '/m/x'), PathNotFoundError)
    await t.rejects(driver.stat('/m/x'), PathNotFoundError)

    await driver.putContent('/m/tree/a/b', Buffer.from('b'))
    await driver.move('/m/tree', '/m/moved')
    t.equal((await driver.getContent('/m/moved/a/b')).toString(), 'b', 'directories move with their contents')
    await t.rejects(driver.stat('/m/tree'), PathNotFoundError)
  })

  test('move with a size: only the verified size moves', async (t, driver) => {
    await driver.putContent('/s/src', Buffer.from('verified'))
    await t.rejects(driver.move('/s/src', '/s/dst', { size: 7 }), FileChangedError, 'a source of another size does not move')
    t.equal((await driver.getContent('/s/src')).toString(), 'verified', 'and stays where it was')
    await t.rejects(driver.stat('/s/dst'), PathNotFoundError)
    await driver.move('/s/src', '/s/dst', { size: 8 })
    t.equal((await driver.getContent('/s/dst')).toString(), 'verified')
    await t.rejects(driver.move('/s/missing', '/s/x', { size: 0 }), PathNotFoundError)
  })

  test('delete', async (t, driver) => {
    await driver.putContent('/d/file', Buffer.from('x'))
    await driver.putContent('/d/keep', Buffer.from('x'))
    await driver.delete('/d/file')
    await t.rejects(driver.stat('/d/file'), PathNotFoundError)
    t.same(await driver.list('/d'), ['/d/keep'])

    await driver.putContent('/d/tree/a/b/c', Buffer.from('x'))
    await driver.putContent('/d/tree/d', Buffer.from('x'))
    await driver.delete('/d/tree')
    await t.rejects(driver.stat('/d/tree'), PathNotFoundError)
    await t.rejects(driver.stat('/d/tree/a/b/c'), PathNotFoundError)
    t.same(await driver.list('/d'), ['/d/keep'])

    await t.rejects(driver.delete('/d/missing'), PathNotFoundError)
    await t.rejects(driver.delete('/d/keep/below'), PathNotFoundError)
  })

  test('walk: depth first, lexical, directories before their children', async (t, driver) => {
    for (const p of ['/wk/b', '/wk/a/y/z', '/wk/a.c', '/wk/a/x', '/wk/a-b', '/other/file']) {
      await driver.putContent(p, Buffer.from(p))
    }
    const infos = await walkAll(driver, '/wk')
    t.same(infos.map((i) => i.path), [
      '/wk/a', '/wk/a/x', '/wk/a/y', '/wk/a/y/z', '/wk/a-b', '/wk/a.c', '/wk/b'
    ])
    const byPath = new Map(infos.map((i) => [i.path, i]))
    t.same([byPath.get('/wk/a')?.isDir, byPath.get('/wk/a')?.size], [true, 0])
    t.same([byPath.get('/wk/a/y/z')?.isDir, byPath.get('/wk/a/y/z')?.size], [false, '/wk/a/y/z'.length])
    t.same((await walkAll(driver, '/')).map((i) => i.path).slice(0, 3), ['/other', '/other/file', '/wk'])
    t.same(await walkAll(driver, '/wk/b'), [], 'nothing below a file')
    await t.rejects(walkAll(driver, '/missing'), PathNotFoundError)
  })

  test('invalid paths are rejected by every method', async (t, driver) => {
    await driver.putContent('/valid', Buffer.from('x'))
    for (const bad of INVALID_PATHS) {
      const label = JSON.stringify(bad)
      await t.rejects(driver.getContent(bad), InvalidPathError, `getContent ${label}`)
      await t.rejects(driver.putContent(bad, Buffer.from('x')), InvalidPathError, `putContent ${label}`)
      await t.rejects(driver.reader(bad), InvalidPathError, `reader ${label}`)
      await t.rejects(driver.writer(bad, false), InvalidPathError, `writer ${label}`)
      await t.rejects(driver.writer(bad, true), InvalidPathError, `writer append ${label}`)
      await t.rejects(driver.stat(bad), InvalidPathError, `stat ${label}`)
      await t.rejects(driver.list(bad), InvalidPathError, `list ${label}`)
      await t.rejects(driver.move(bad, '/dest'), InvalidPathError, `move source ${label}`)
      await t.rejects(driver.move('/valid', bad), InvalidPathError, `move dest ${label}`)
      await t.rejects(driver.delete(bad), InvalidPathError, `delete ${label}`)
      await t.rejects(walkAll(driver, bad), InvalidPathError, `walk ${label}`)
    }
    t.equal((await driver.getContent('/valid')).toString(), 'x', 'a rejected move left its source alone')
    t.same(await driver.list('/'), ['/valid'], 'rejected calls created nothing')
  })

  test('the root', async (t, driver) => {
    t.same(await driver.list('/'), [])
    t.equal((await driver.stat('/')).isDir, true)
    await t.rejects(driver.putContent('/', Buffer.from('x')), InvalidPathError)
    await t.rejects(driver.move('/', '/elsewhere'), InvalidPathError)
    await driver.putContent('/x/y', Buffer.from('x'))
    await driver.delete('/')
    t.same(await driver.list('/'), [], 'deleting the root empties it')
  })

  test('version, where offered, changes with every write, move and delete, and only then', async (t, driver) => {
    if (driver.version === undefined) {
      t.pass('this driver offers no version: caches read storage every time')
      return
    }
    const version = (path: string): string | undefined => driver.version!(path)
    t.equal(version('/v/missing'), undefined, 'missing file')
    await driver.putContent('/v/dir/file', Buffer.from('one'))
    t.equal(version('/v/dir'), undefined, 'a directory is not a file')
    t.equal(version('/v/dir/file/below'), undefined, 'a path below a file')
    const first = version('/v/dir/file')
    t.type(first, 'string')
    t.equal(version('/v/dir/file'), first, 'unchanged file, same version')
    await driver.getContent('/v/dir/file')
    await driver.stat('/v/dir/file')
    t.equal(version('/v/dir/file'), first, 'reads do not change it')

    await driver.putContent('/v/dir/file', Buffer.from('one'))
    const rewritten = version('/v/dir/file')
    t.not(rewritten, first, 'rewriting the same bytes is a new version')

    const writer = await driver.writer('/v/dir/file', true)
    await writer.write((async function * () { yield Buffer.from('+') })())
    await writer.commit()
    const appended = version('/v/dir/file')
    t.not(appended, rewritten, 'an append is a new version')

    await driver.putContent('/v/other', Buffer.from('two'))
    const moved = version('/v/other')
    await driver.move('/v/other', '/v/dir/file')
    t.not(version('/v/dir/file'), appended, 'a move onto it is a new version')
    t.equal(version('/v/other'), undefined, 'moved away')
    t.not(moved, undefined)

    await driver.delete('/v/dir')
    t.equal(version('/v/dir/file'), undefined, 'deleted with its directory')
    t.throws(() => version('/v/../etc'), 'invalid paths are refused')
  })
}
