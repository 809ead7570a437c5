import t from 'tap'
import { Readable } from 'node:stream'
import { countStorageErrors, type StorageErrorKind } from '../../lib/operations/counted-storage.js'
import { InMemoryDriver } from '../../lib/storage/inmemory.js'
import { FilesystemDriver } from '../../lib/storage/filesystem.js'
import { InvalidOffsetError, InvalidPathError, StorageFullError } from '../../lib/storage/errors.js'
import type { StorageDriver } from '../../lib/storage/driver.js'
import { tempDir } from '../helpers/registry.js'

function counted (driver: StorageDriver): { storage: StorageDriver, seen: Array<{ operation: string, kind: StorageErrorKind }> } {
  const seen: Array<{ operation: string, kind: StorageErrorKind }> = []
  return { storage: countStorageErrors(driver, (operation, kind) => { seen.push({ operation, kind }) }), seen }
}

async function * chunks (...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield Buffer.from(part)
}

t.test('passes every operation through unchanged, private fields and optional methods included', async (t) => {
  const dir = await tempDir()
  t.teardown(dir.cleanup)
  const driver = new FilesystemDriver({ rootDirectory: dir.path })
  const { storage, seen } = counted(driver)
  t.equal(storage.name, driver.name)
  t.ok(storage instanceof FilesystemDriver, 'still the driver\'s class')
  t.equal(typeof storage.version, typeof driver.version, 'optional methods stay as the driver has them')
  t.equal(storage.redirectURL, undefined)
  const minimal = Object.assign(Object.create(null) as object, { name: 'minimal', getContent: async () => Buffer.alloc(0) }) as unknown as StorageDriver
  t.equal(counted(minimal).storage.version, undefined, 'absent stays absent')
  t.notOk('openFile' in counted(minimal).storage)

  await storage.putContent('/a/b', Buffer.from('hello'))
  t.equal((await storage.getContent('/a/b')).toString(), 'hello')
  t.equal((await storage.stat('/a/b')).size, 5)
  t.same(await storage.list('/a'), ['/a/b'])
  const writer = await storage.writer('/a/c', false)
  t.equal(await writer.write(chunks('one', 'two')), 6)
  t.equal(writer.size, 6, 'the writer\'s live size')
  await writer.commit()
  const read: Buffer[] = []
  for await (const chunk of await storage.reader('/a/c', 3)) read.push(chunk as Buffer)
  t.equal(Buffer.concat(read).toString(), 'two')
  const walked: string[] = []
  for await (const info of storage.walk('/a')) walked.push(info.path)
  t.same(walked, ['/a/b', '/a/c'])
  await storage.move('/a/c', '/a/d')
  await storage.delete('/a')
  t.same(seen, [], 'no failure, nothing counted')
})

t.test('counts failures by operation and kind; not missing paths, bad offsets, or a body that fails', async (t) => {
  const { storage, seen } = counted(new InMemoryDriver())
  await t.rejects(storage.getContent('/missing'), { name: 'PathNotFoundError' })
  await t.rejects(storage.stat('/missing'), { name: 'PathNotFoundError' })
  t.same(seen, [], 'missing paths are routine')

  await t.rejects(storage.getContent('/../x'), { name: 'InvalidPathError' })
  t.same(seen, [{ operation: 'getContent', kind: 'invalid_path' }])

  const writer = await storage.writer('/w', false)
  const failing = async function * (): AsyncGenerator<Uint8Array> {
    yield Buffer.from('x')
    throw Object.assign(new Error('aborted'), { code: 'ECONNRESET' })
  }
  await t.rejects(writer.write(failing()), /aborted/)
  await writer.cancel()
  t.equal(seen.length, 1, 'a body that failed is the client\'s, not the storage\'s')
})

t.test('counts failures of writers, streams, files and walks', async (t) => {
  class Broken extends InMemoryDriver {
    override async putContent (path: string): Promise<void> { throw new StorageFullError(path) }
    override async reader (): Promise<Readable> {
      return new Readable({ read () { this.destroy(new Error('read failed')) } })
    }

    override async writer (path: string, append: boolean): ReturnType<InMemoryDriver['writer']> {
      const inner = await super.writer(path, append)
      return {
        get size () { return inner.size },
        write: async (source) => { for await (const _ of source) throw new StorageFullError(path); return 0 },
        commit: async () => { throw new Error('commit failed') },
        close: async () => await inner.close(),
        cancel: async () => await inner.cancel()
      }
    }

    override async * walk (): AsyncGenerator<never> { throw new Error('walk failed') }
    async openFile (): Promise<{ size: number, read: () => Promise<number>, close: () => Promise<void> }> {
      return { size: 1, read: async () => { throw new Error('io error') }, close: async () => {} }
    }

    thrower (): void { throw new InvalidOffsetError('/x', 5) }
  }
  const { storage, seen } = counted(new Broken())
  await t.rejects(storage.putContent('/p', Buffer.from('x')), { name: 'StorageFullError' })
  const stream = await storage.reader('/r')
  await t.rejects(async () => { for await (const _ of stream) { /* nothing */ } }, /read failed/)
  const writer = await storage.writer('/w', false)
  await t.rejects(writer.write(chunks('a')), { name: 'StorageFullError' })
  await t.rejects(writer.commit(), /commit failed/)
  await t.rejects(async () => { for await (const _ of storage.walk('/')) { /* nothing */ } }, /walk failed/)
  const file = await storage.openFile!('/f')
  await t.rejects(file.read(Buffer.alloc(1), 0, 1, 0), /io error/)
  t.throws(() => { (storage as unknown as Broken).thrower() }, { name: 'InvalidOffsetError' })
  t.same(seen, [
    { operation: 'putContent', kind: 'full' },
    { operation: 'reader', kind: 'other' },
    { operation: 'writer.write', kind: 'full' },
    { operation: 'writer.commit', kind: 'other' },
    { operation: 'walk', kind: 'other' },
    { operation: 'file.read', kind: 'other' }
  ])
})
