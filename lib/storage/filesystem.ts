import { randomBytes } from 'node:crypto'
import { constants as fsConstants, lstatSync } from 'node:fs'
import * as fsp from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import * as nodePath from 'node:path'
import { Readable } from 'node:stream'
import { isValidPath } from './driver.js'
import type { FileInfo, FileWriter, MoveOptions, RandomAccessFile, StorageDriver } from './driver.js'
import { FileChangedError } from './file-changed-error.js'
import { lockExclusive } from './file-lock.js'
import {
  InvalidOffsetError,
  InvalidPathError,
  PathNotFoundError,
  StorageError,
  StorageFullError
} from './errors.js'

// Not defined on Windows; there the final-component check relies on the location check alone.
const O_NOFOLLOW = fsConstants.O_NOFOLLOW ?? 0
const READ_FLAGS = fsConstants.O_RDONLY | O_NOFOLLOW
const WRITE_FLAGS = fsConstants.O_WRONLY | fsConstants.O_CREAT | O_NOFOLLOW
const TEMP_FLAGS = WRITE_FLAGS | fsConstants.O_EXCL

/** Writes are coalesced into buffers this big: few syscalls, bounded memory (two per writer). */
const WRITE_BATCH = 1024 * 1024
/** Large reads mean fewer syscalls and event-loop turns for multi-GiB blobs. */
const READ_HIGH_WATER_MARK = 512 * 1024

/** /proc/self/fd names an open file's real location without a race; Linux only. */
let procFdWorks = process.platform === 'linux'

/** `putContent` writes `.<name>.tmp-<hex>` beside its target; `list` and `walk` hide them. */
const TEMP_NAME = /^\..+\.tmp-[0-9a-f]{16}$/

function errorCode (error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code
}

/** Maps Node's errno errors onto the driver's error types; anything else passes through. */
function mapError (error: unknown, path: string): unknown {
  switch (errorCode(error)) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new PathNotFoundError(path, { cause: error })
    case 'ENOSPC':
    case 'EDQUOT':
      return new StorageFullError(path, { cause: error })
    case 'ELOOP': // O_NOFOLLOW met a symlink
      return new InvalidPathError(path)
    default:
      return error
  }
}

function isInside (path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(nodePath.sep) ? root : root + nodePath.sep)
}

function childPath (dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`
}

/**
 * A driver over a local directory: driver path `/x/y` is the file `<root>/x/y`,
 * so the layout is byte compatible with CNCF distribution's filesystem driver.
 *
 * Symlinks never lead outside the root. Files the driver opens are opened with
 * O_NOFOLLOW and, once open, their real location is checked (on Linux through
 * /proc/self/fd: race free, one readlink), which is all the hot read path pays.
 * Operations that create, rename, remove or enumerate first check the real path of
 * the directory they act in (one realpath), and `stat`, `list` and `walk` use lstat,
 * so they never descend through a symlink. Symlinks that stay inside the root are
 * followed as directories but not as files.
 */
export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem'
  readonly rootDirectory: string
  #realRoot: string | undefined

  constructor (options: { rootDirectory: string }) {
    if (typeof options?.rootDirectory !== 'string' || options.rootDirectory === '') {
      throw new TypeError('FilesystemDriver: rootDirectory must be a non-empty string')
    }
    this.rootDirectory = nodePath.resolve(options.rootDirectory)
  }

  /** The on-disk path of a driver path, after validating it. */
  #resolve (path: string): string {
    if (typeof path !== 'string' || !isValidPath(path)) throw new InvalidPathError(String(path))
    // A valid path has no `.`, `..` or empty components, so joining is all resolving would do.
    const full = path === '/' ? this.rootDirectory : this.rootDirectory === '/' ? path : this.rootDirectory + path
    // Defence in depth: validation already rules out `..`, but never trust one check.
    if (!isInside(full, this.rootDirectory)) throw new InvalidPathError(path)
    return full
  }

  /** Rejects unless the open file really lives inside the (real) root. */
  async #checkLocation (handle: FileHandle, full: string, path: string): Promise<void> {
    this.#realRoot ??= await fsp.realpath(this.rootDirectory)
    let real: string | undefined
    if (procFdWorks) {
      try {
        real = await fsp.readlink(`/proc/self/fd/${handle.fd}`)
      } catch {
        procFdWorks = false
      }
    }
    real ??= await fsp.realpath(full) // no /proc: racy, but still catches a planted symlink
    if (!isInside(real, this.#realRoot)) throw new InvalidPathError(path)
  }

  /**
   * Rejects unless `dir` (a directory at or below the root), or its deepest existing
   * ancestor when it does not exist yet, really lies inside the root. Run before
   * creating, renaming or removing anything in it.
   */
  async #confine (dir: string, path: string): Promise<void> {
    for (let current = dir; ; current = nodePath.dirname(current)) {
      let real: string
      try {
        real = await fsp.realpath(current)
      } catch (error) {
        if (errorCode(error) !== 'ENOENT') throw mapError(error, path)
        if (current === this.rootDirectory) return // no root yet: nothing to escape through
        continue
      }
      this.#realRoot ??= await fsp.realpath(this.rootDirectory)
      if (!isInside(real, this.#realRoot)) throw new InvalidPathError(path)
      return
    }
  }

  /** Opens a regular file for reading; directories count as not found. */
  async #openForRead (path: string): Promise<{ handle: FileHandle, size: number }> {
    const full = this.#resolve(path)
    let handle: FileHandle
    try {
      handle = await fsp.open(full, READ_FLAGS)
    } catch (error) {
      throw mapError(error, path)
    }
    try {
      await this.#checkLocation(handle, full, path)
      const stats = await handle.stat()
      if (!stats.isFile()) throw new PathNotFoundError(path)
      return { handle, size: stats.size }
    } catch (error) {
      await handle.close()
      throw mapError(error, path)
    }
  }

  async getContent (path: string): Promise<Buffer> {
    const { handle } = await this.#openForRead(path)
    try {
      return await handle.readFile()
    } catch (error) {
      throw mapError(error, path)
    } finally {
      await handle.close()
    }
  }

  async putContent (path: string, content: Uint8Array): Promise<void> {
    const full = this.#resolve(path)
    if (path === '/') throw new InvalidPathError(path)
    const dir = nodePath.dirname(full)
    const temp = nodePath.join(dir, `.${nodePath.basename(full)}.tmp-${randomBytes(8).toString('hex')}`)
    try {
      await this.#confine(dir, path)
      await fsp.mkdir(dir, { recursive: true })
      const handle = await fsp.open(temp, TEMP_FLAGS, 0o644)
      try {
        await this.#checkLocation(handle, temp, path)
        await handle.writeFile(content)
        await handle.sync()
      } finally {
        await handle.close()
      }
      // rename(2) replaces the target atomically: readers see old or new, never a mix.
      await fsp.rename(temp, full)
    } catch (error) {
      await fsp.rm(temp, { force: true }).catch(() => {})
      throw mapError(error, path)
    }
  }

  async reader (path: string, offset = 0, length?: number): Promise<Readable> {
    if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
      throw new RangeError(`invalid length ${length} for ${path}`)
    }
    const { handle, size } = await this.#openForRead(path)
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > size) {
      await handle.close()
      throw new InvalidOffsetError(path, offset)
    }
    const end = length === undefined ? Infinity : offset + length
    if (offset === size || end === offset) {
      await handle.close()
      return Readable.from([], { objectMode: false })
    }
    return handle.createReadStream({
      start: offset,
      end: end === Infinity ? undefined : end - 1, // inclusive
      autoClose: true,
      highWaterMark: READ_HIGH_WATER_MARK
    })
  }

  async openFile (path: string): Promise<RandomAccessFile> {
    const { handle, size } = await this.#openForRead(path)
    return {
      size,
      read: async (buffer, offset, length, position) => {
        try {
          return (await handle.read(buffer, offset, length, position)).bytesRead
        } catch (error) {
          throw mapError(error, path)
        }
      },
      close: async () => { await handle.close() }
    }
  }

  async writer (path: string, append: boolean): Promise<FileWriter> {
    const full = this.#resolve(path)
    if (path === '/') throw new InvalidPathError(path)
    let handle: FileHandle
    try {
      // Before opening: O_TRUNC must not touch a file outside the root.
      await this.#confine(nodePath.dirname(full), path)
      await fsp.mkdir(nodePath.dirname(full), { recursive: true })
      handle = await fsp.open(full, WRITE_FLAGS | (append ? fsConstants.O_APPEND : fsConstants.O_TRUNC), 0o644)
    } catch (error) {
      throw mapError(error, path)
    }
    try {
      await this.#checkLocation(handle, full, path)
      // The fence between instances: wait for any other writer (or a commit) of this file,
      // then make sure the path still names it. A commit renames an upload into blobs/
      // while holding the lock, so a writer that opened the file before is refused here.
      await lockExclusive(handle.fd, path)
      const stats = await handle.stat()
      await this.#requireStillAt(full, stats, path)
      return new FilesystemWriter(handle, full, path, append ? stats.size : 0)
    } catch (error) {
      await handle.close()
      throw mapError(error, path)
    }
  }

  /** Rejects with PathNotFoundError unless `full` still names the open file `stats` describes. */
  async #requireStillAt (full: string, stats: { ino: number, dev: number }, path: string): Promise<void> {
    const now = await fsp.lstat(full)
    if (now.ino !== stats.ino || now.dev !== stats.dev) throw new PathNotFoundError(path)
  }

  async stat (path: string): Promise<FileInfo> {
    const full = this.#resolve(path)
    try {
      if (path !== '/') await this.#confine(nodePath.dirname(full), path)
      return toFileInfo(path, await fsp.lstat(full))
    } catch (error) {
      throw mapError(error, path)
    }
  }

  /**
   * Inode, change times and size from one lstat: a rename onto the path (how every
   * write lands) gives a new inode, an append a new size and times. Synchronous on
   * purpose: a hot inode's lstat costs about a microsecond, a trip through libuv's
   * thread pool ten times that. Only a token: content is always read confined.
   */
  version (path: string): string | undefined {
    const full = this.#resolve(path)
    let stats
    try {
      stats = lstatSync(full, { bigint: true, throwIfNoEntry: false })
    } catch (error) {
      if (errorCode(error) === 'ENOTDIR') return undefined
      throw mapError(error, path)
    }
    if (stats === undefined || !stats.isFile()) return undefined
    return `${stats.ino}:${stats.mtimeNs}:${stats.ctimeNs}:${stats.size}`
  }

  async list (path: string): Promise<string[]> {
    const full = this.#resolve(path)
    let names: string[]
    try {
      await this.#confine(full, path)
      names = await fsp.readdir(full)
    } catch (error) {
      throw mapError(error, path)
    }
    return childPaths(path, names)
  }

  async move (sourcePath: string, destPath: string, options: MoveOptions = {}): Promise<void> {
    const source = this.#resolve(sourcePath)
    const dest = this.#resolve(destPath)
    // Renaming the root itself, or onto it, is never what a caller means.
    if (sourcePath === '/') throw new InvalidPathError(sourcePath)
    if (destPath === '/') throw new InvalidPathError(destPath)
    let locked: FileHandle | undefined
    try {
      await this.#confine(nodePath.dirname(source), sourcePath)
      const stats = await fsp.lstat(source)
      if (stats.isFile()) locked = await this.#lockForMove(source, sourcePath, options)
      else if (options.size !== undefined) throw new PathNotFoundError(sourcePath)
    } catch (error) {
      throw mapError(error, sourcePath)
    }
    try {
      try {
        await this.#confine(nodePath.dirname(dest), destPath)
        await fsp.mkdir(nodePath.dirname(dest), { recursive: true })
      } catch (error) {
        throw mapError(error, destPath)
      }
      try {
        await fsp.rename(source, dest)
      } catch (error) {
        throw mapError(error, sourcePath)
      }
    } finally {
      // Writers that waited for the lock now find the path moved on, and write nothing.
      await locked?.close()
    }
  }

  /**
   * Opens a file about to be moved and takes its writer lock, so that no writer
   * appends while it moves; checks the size the caller verified, under the lock.
   */
  async #lockForMove (full: string, path: string, options: MoveOptions): Promise<FileHandle> {
    const handle = await fsp.open(full, READ_FLAGS)
    try {
      await this.#checkLocation(handle, full, path)
      await lockExclusive(handle.fd, path)
      const stats = await handle.stat()
      await this.#requireStillAt(full, stats, path)
      if (options.size !== undefined && stats.size !== options.size) throw new FileChangedError(path, options.size, stats.size)
      return handle
    } catch (error) {
      await handle.close()
      throw error
    }
  }

  async delete (path: string): Promise<void> {
    const full = this.#resolve(path)
    try {
      if (path === '/') {
        // Empty the root but keep it: it may be a mount point or owned by someone else.
        for (const name of await fsp.readdir(full)) {
          await fsp.rm(nodePath.join(full, name), { recursive: true, force: true })
        }
        return
      }
      await this.#confine(nodePath.dirname(full), path)
      await fsp.lstat(full)
      await fsp.rm(full, { recursive: true, force: true }) // rm does not follow symlinks
    } catch (error) {
      throw mapError(error, path)
    }
  }

  async * walk (path: string): AsyncIterable<FileInfo> {
    const full = this.#resolve(path)
    let stats
    try {
      if (path !== '/') await this.#confine(nodePath.dirname(full), path)
      stats = await fsp.lstat(full)
    } catch (error) {
      throw mapError(error, path)
    }
    if (stats.isDirectory()) yield * this.#walkDir(path, full)
  }

  async * #walkDir (path: string, full: string): AsyncGenerator<FileInfo> {
    let names: string[]
    try {
      names = await fsp.readdir(full)
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return // removed while walking
      throw mapError(error, path)
    }
    for (const child of childPaths(path, names)) {
      const childFull = nodePath.join(full, nodePath.basename(child))
      let stats
      try {
        stats = await fsp.lstat(childFull)
      } catch (error) {
        if (errorCode(error) === 'ENOENT') continue
        throw mapError(error, child)
      }
      yield toFileInfo(child, stats)
      if (stats.isDirectory()) yield * this.#walkDir(child, childFull)
    }
  }
}

function toFileInfo (path: string, stats: { isDirectory (): boolean, size: number, mtime: Date }): FileInfo {
  const isDir = stats.isDirectory()
  return { path, size: isDir ? 0 : stats.size, modTime: stats.mtime, isDir }
}

const COMPONENT = /^[A-Za-z0-9._-]+$/

/**
 * Sorted driver paths of the entries, without temp files or names no driver path can spell.
 * `dir` is already valid, so checking each name alone is enough (and cheap for 10,000 tags).
 */
function childPaths (dir: string, names: string[]): string[] {
  return names
    .filter((name) => !TEMP_NAME.test(name) && name !== '.' && name !== '..' && COMPONENT.test(name))
    .sort()
    .map((name) => childPath(dir, name))
}

class FilesystemWriter implements FileWriter {
  #handle: FileHandle
  #full: string
  #path: string
  #size: number
  #state: 'open' | 'writing' | 'closed' = 'open'

  constructor (handle: FileHandle, full: string, path: string, size: number) {
    this.#handle = handle
    this.#full = full
    this.#path = path
    this.#size = size
  }

  get size (): number {
    return this.#size
  }

  #claim (what: string): void {
    if (this.#state === 'closed') throw new StorageError(`${what}: writer is closed`, this.#path)
    if (this.#state === 'writing') throw new StorageError(`${what}: a write is in progress`, this.#path)
  }

  /** Writes `length` bytes of `buffer`, looping over short writes, then counts them. */
  async #writeOut (buffer: Buffer, length: number): Promise<void> {
    let offset = 0
    while (offset < length) {
      const { bytesWritten } = await this.#handle.write(buffer, offset, length - offset, null)
      offset += bytesWritten
      this.#size += bytesWritten
    }
  }

  /**
   * Copies chunks into one of two batch buffers; a full buffer is written while the
   * next one fills, so reading the source and writing the disk overlap. Copying also
   * makes it safe for a source to reuse its chunk buffers.
   */
  async write (source: AsyncIterable<Uint8Array>): Promise<number> {
    this.#claim('write')
    this.#state = 'writing'
    const before = this.#size
    let batch: Buffer = Buffer.allocUnsafe(WRITE_BATCH)
    let spare: Buffer | undefined
    let fill = 0
    let inflight: Promise<void> | undefined
    let writeError: unknown
    const settle = async (): Promise<void> => {
      const pending = inflight
      inflight = undefined
      try {
        await pending
      } catch (error) {
        writeError = error
        throw error
      }
    }
    try {
      try {
        for await (const chunk of source) {
          let offset = 0
          while (offset < chunk.byteLength) {
            const n = Math.min(WRITE_BATCH - fill, chunk.byteLength - offset)
            batch.set(chunk.subarray(offset, offset + n), fill)
            fill += n
            offset += n
            if (fill === WRITE_BATCH) {
              await settle()
              const full = batch
              inflight = this.#writeOut(full, fill)
              inflight.catch(() => {}) // observed by settle(); avoid an unhandled rejection meanwhile
              batch = spare ?? Buffer.allocUnsafe(WRITE_BATCH)
              spare = full
              fill = 0
            }
          }
        }
      } catch (error) {
        if (error === writeError) throw error
        // The source failed: keep every byte it delivered, then report its error.
        await settle().catch(() => {})
        if (writeError === undefined) await this.#writeOut(batch, fill).catch(() => {})
        throw error
      }
      await settle()
      await this.#writeOut(batch, fill)
      return this.#size - before
    } catch (error) {
      throw mapError(error, this.#path)
    } finally {
      if (this.#state === 'writing') this.#state = 'open'
    }
  }

  async commit (): Promise<void> {
    this.#claim('commit')
    this.#state = 'closed'
    try {
      await this.#handle.sync()
    } catch (error) {
      throw mapError(error, this.#path)
    } finally {
      await this.#handle.close()
    }
  }

  async close (): Promise<void> {
    this.#claim('close')
    this.#state = 'closed'
    await this.#handle.close()
  }

  async cancel (): Promise<void> {
    this.#claim('cancel')
    this.#state = 'closed'
    await this.#handle.close()
    await fsp.rm(this.#full, { force: true })
  }
}
