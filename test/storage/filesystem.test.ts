import * as fs from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { FilesystemDriver } from '../../lib/storage/filesystem.js'
import { InvalidPathError, PathNotFoundError } from '../../lib/storage/errors.js'
import { FileChangedError } from '../../lib/storage/file-changed-error.js'
import { runDriverSuite } from './driver-suite.js'

/** A temp dir holding `root/` (the driver's root) and a canary beside it. */
async function setup (t: Test): Promise<{ base: string, root: string, driver: FilesystemDriver }> {
  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'fs-driver-'))
  t.teardown(async () => await fs.rm(base, { recursive: true, force: true }))
  const root = path.join(base, 'root')
  await fs.mkdir(root)
  await fs.writeFile(path.join(base, 'canary'), 'secret')
  return { base, root, driver: new FilesystemDriver({ rootDirectory: root }) }
}

runDriverSuite(t, 'filesystem', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'fs-driver-'))
  return {
    driver: new FilesystemDriver({ rootDirectory: root }),
    cleanup: async () => await fs.rm(root, { recursive: true, force: true })
  }
})

t.test('the on-disk layout is <root>/<driver path>', async (t) => {
  const { root, driver } = await setup(t)
  const blob = '/docker/registry/v2/blobs/sha256/ab/abcdef/data'
  await driver.putContent(blob, Buffer.from('blob'))
  const w = await driver.writer('/docker/registry/v2/repositories/x/_uploads/u1/data', false)
  await w.write((async function * () { yield Buffer.from('upload') })())
  await w.commit()
  t.equal(await fs.readFile(path.join(root, 'docker/registry/v2/blobs/sha256/ab/abcdef/data'), 'utf8'), 'blob')
  t.equal(await fs.readFile(path.join(root, 'docker/registry/v2/repositories/x/_uploads/u1/data'), 'utf8'), 'upload')
  t.same(await fs.readdir(path.join(root, 'docker/registry/v2/blobs/sha256/ab/abcdef')), ['data'], 'no stray files')
  t.same(await fs.readdir(root), ['docker'])

  // And what another tool wrote is read back as is.
  await fs.writeFile(path.join(root, 'docker/registry/v2/link'), 'sha256:00')
  t.equal((await driver.getContent('/docker/registry/v2/link')).toString(), 'sha256:00')
})

t.test('a canary beside the root is never reachable', async (t) => {
  const { base, driver } = await setup(t)
  const attempts = ['/../canary', '/./../canary', '/..', '/root/../../canary', '/%2e%2e/canary', '/..\\canary', 'canary', '../canary']
  for (const p of attempts) {
    await t.rejects(driver.getContent(p), InvalidPathError, `getContent ${p}`)
    await t.rejects(driver.reader(p), InvalidPathError, `reader ${p}`)
    await t.rejects(driver.putContent(p, Buffer.from('x')), InvalidPathError, `putContent ${p}`)
    await t.rejects(driver.delete(p), InvalidPathError, `delete ${p}`)
    await t.rejects(driver.move(p, '/stolen'), InvalidPathError, `move ${p}`)
  }
  await t.rejects(driver.getContent('/canary'), PathNotFoundError, '/canary is inside the root, and absent')
  const walked: string[] = []
  for await (const info of driver.walk('/')) walked.push(info.path)
  t.same(walked, [])
  t.equal(await fs.readFile(path.join(base, 'canary'), 'utf8'), 'secret', 'the canary is untouched')
})

t.test('the root directory is resolved and created on first write', async (t) => {
  const { base } = await setup(t)
  const driver = new FilesystemDriver({ rootDirectory: path.join(base, 'later', '..', 'fresh') })
  t.equal(driver.rootDirectory, path.join(base, 'fresh'))
  await t.rejects(driver.list('/'), PathNotFoundError, 'a missing root is just empty of paths')
  await driver.putContent('/x', Buffer.from('x'))
  t.equal(await fs.readFile(path.join(base, 'fresh', 'x'), 'utf8'), 'x')
})

// Policy (see FilesystemDriver): files are opened with O_NOFOLLOW and their real
// location checked once open; anything that creates, renames, removes or lists checks
// the real path of its directory first; stat/list/walk never descend through a symlink.
t.test('symlinks pointing outside the root are not followed', async (t) => {
  const { base, root, driver } = await setup(t)
  const outside = path.join(base, 'outside')
  await fs.mkdir(outside)
  await fs.writeFile(path.join(outside, 'file'), 'outside')
  await fs.symlink(path.join(base, 'canary'), path.join(root, 'link'))
  await fs.symlink(outside, path.join(root, 'dirlink'))

  const rejectsUnfollowed = async (promise: Promise<unknown>, label: string): Promise<void> => {
    const error = await promise.then(() => undefined, (e: unknown) => e)
    t.ok(error instanceof InvalidPathError || error instanceof PathNotFoundError, `${label} rejects (${String(error)})`)
  }
  const walk = async (p: string): Promise<string[]> => {
    const out: string[] = []
    for await (const info of driver.walk(p)) out.push(`${info.path}:${info.isDir ? 'dir' : 'other'}`)
    return out
  }
  await rejectsUnfollowed(driver.getContent('/link'), 'getContent of a file symlink')
  await rejectsUnfollowed(driver.reader('/link'), 'reader of a file symlink')
  await rejectsUnfollowed(driver.getContent('/dirlink/file'), 'getContent through a directory symlink')
  await rejectsUnfollowed(driver.reader('/dirlink/file', 1), 'reader through a directory symlink')
  await rejectsUnfollowed(driver.writer('/link', true), 'writer onto a file symlink')
  await rejectsUnfollowed(driver.writer('/link', false), 'truncating writer onto a file symlink')
  await rejectsUnfollowed(driver.writer('/dirlink/file', false), 'truncating writer through a directory symlink')
  await rejectsUnfollowed(driver.writer('/dirlink/new', false), 'writer through a directory symlink')
  await rejectsUnfollowed(driver.writer('/dirlink/a/b/new', false), 'writer below a directory symlink')
  await rejectsUnfollowed(driver.putContent('/dirlink/new', Buffer.from('x')), 'putContent through a directory symlink')
  await rejectsUnfollowed(driver.stat('/dirlink/file'), 'stat through a directory symlink')
  await rejectsUnfollowed(driver.list('/dirlink'), 'list of a directory symlink')
  await rejectsUnfollowed(driver.move('/dirlink/file', '/stolen'), 'move out through a directory symlink')
  await rejectsUnfollowed(driver.move('/stolen', '/dirlink/new'), 'move in through a directory symlink')
  await rejectsUnfollowed(driver.delete('/dirlink/file'), 'delete through a directory symlink')
  await rejectsUnfollowed(walk('/dirlink/x'), 'walk through a directory symlink')

  t.equal(await fs.readFile(path.join(base, 'canary'), 'utf8'), 'secret', 'the canary is untouched')
  t.same(await fs.readdir(outside), ['file'], 'nothing was created outside')
  t.equal(await fs.readFile(path.join(outside, 'file'), 'utf8'), 'outside', 'nothing was truncated outside')

  t.same(await walk('/'), ['/dirlink:other', '/link:other'], 'walk does not descend through symlinks')
  t.same(await walk('/dirlink'), [], 'nor start through one')
  t.equal((await driver.stat('/dirlink')).isDir, false)
  await driver.delete('/dirlink')
  t.same(await fs.readdir(outside), ['file'], 'deleting a symlink removes the link, not its target')
})

t.test('list and walk hide temporary files of putContent', async (t) => {
  const { root, driver } = await setup(t)
  await driver.putContent('/d/file', Buffer.from('x'))
  await fs.writeFile(path.join(root, 'd', '.file.tmp-0123456789abcdef'), 'partial')
  t.same(await driver.list('/d'), ['/d/file'])
  const walked: string[] = []
  for await (const info of driver.walk('/d')) walked.push(info.path)
  t.same(walked, ['/d/file'])
})

t.test('a writer survives a concurrent reader of the growing file', async (t) => {
  const { driver } = await setup(t)
  const w = await driver.writer('/grow', false)
  async function * slow (): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < 3; i++) {
      yield Buffer.alloc(1024 * 1024 + 7, 97 + i)
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
  const written = w.write(slow())
  await t.rejects(w.commit(), 'commit while a write is in flight rejects')
  t.equal(await written, 3 * (1024 * 1024 + 7))
  t.equal(w.size, 3 * (1024 * 1024 + 7))
  await w.commit()
  const content = await driver.getContent('/grow')
  t.equal(content.length, 3 * (1024 * 1024 + 7))
  t.equal(content[1024 * 1024 + 7], 98)
})

t.test('the writer lock: a move waits for an open writer, then checks the size it was given', async (t) => {
  const { driver } = await setup(t)
  const settled = (promise: Promise<unknown>): { done: () => boolean } => {
    let done = false
    promise.then(() => { done = true }, () => { done = true })
    return { done: () => done }
  }
  const writer = await driver.writer('/u/data', true)
  await writer.write((async function * () { yield Buffer.from('abc') })())
  const move = driver.move('/u/data', '/b/data', { size: 3 })
  const moveState = settled(move)
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.notOk(moveState.done(), 'the move waits while a writer holds the file')
  await writer.write((async function * () { yield Buffer.from('def') })())
  await writer.close()
  await t.rejects(move, FileChangedError, 'the bytes appended meanwhile make it refuse')
  t.equal((await driver.getContent('/u/data')).toString(), 'abcdef', 'nothing moved')

  const second = await driver.writer('/u/data', true)
  t.equal(second.size, 6, 'a writer sees the size under its lock')
  const nextMove = driver.move('/u/data', '/b/data', { size: 6 })
  await second.close()
  await nextMove
  t.equal((await driver.getContent('/b/data')).toString(), 'abcdef')
})
