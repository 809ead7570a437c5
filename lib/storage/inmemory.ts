import { Readable } from 'node:stream'
import { isValidPath } from './driver.js'
import type { FileInfo, FileWriter, MoveOptions, StorageDriver } from './driver.js'
import { InvalidOffsetError, InvalidPathError, PathNotFoundError, StorageError } from './errors.js'
import { FileChangedError } from './file-changed-error.js'

/** Reader chunk size: consumers see a stream, not one huge buffer. */
const READ_CHUNK = 1024 * 1024

/**
 * A file's bytes. Writers append chunks (no quadratic re-copying); readers join
 * them once and cache the result. Buffers are never mutated once stored, so a
 * reader that captured one keeps a consistent snapshot.
 */
interface Entry {
  /** Unique per entry: with `size`, the file's version. */
  serial: number
  chunks: Buffer[]
  size: number
  modTime: Date
}

function contentOf (entry: Entry): Buffer {
  if (entry.chunks.length !== 1) entry.chunks = [Buffer.concat(entry.chunks, entry.size)]
  return entry.chunks[0]
}

let nextSerial = 0

function newEntry (chunks: Buffer[], size: number): Entry {
  return { serial: nextSerial++, chunks, size, modTime: new Date() }
}

function validate (path: string): void {
  if (typeof path !== 'string' || !isValidPath(path)) throw new InvalidPathError(String(path))
}

function prefixOf (dir: string): string {
  return dir === '/' ? '/' : `${dir}/`
}

function parentOf (path: string): string {
  const i = path.lastIndexOf('/')
  return i === 0 ? '/' : path.slice(0, i)
}

/**
 * A driver over a Map of path -> content, for tests and throwaway registries.
 * Directories are implied by the files below them (as in object stores): one
 * disappears with its last file, and the root always exists.
 */
export class InMemoryDriver implements StorageDriver {
  readonly name = 'inmemory'
  readonly #files = new Map<string, Entry>()

  /** The direct children of `dir`: name -> is a directory. */
  #children (dir: string): Map<string, boolean> {
    const prefix = prefixOf(dir)
    const children = new Map<string, boolean>()
    for (const key of this.#files.keys()) {
      if (!key.startsWith(prefix)) continue
      const rest = key.slice(prefix.length)
      const slash = rest.indexOf('/')
      if (slash === -1) children.set(rest, children.get(rest) ?? false)
      else children.set(rest.slice(0, slash), true)
    }
    return children
  }

  #isDir (path: string): boolean {
    if (path === '/') return true
    const prefix = prefixOf(path)
    for (const key of this.#files.keys()) if (key.startsWith(prefix)) return true
    return false
  }

  #file (path: string): Entry {
    const entry = this.#files.get(path)
    if (entry === undefined) throw new PathNotFoundError(path)
    return entry
  }

  /** Rejects a file path where a directory is, or below a file (like ENOTDIR / EISDIR on disk). */
  #checkWritable (path: string): void {
    if (path === '/') throw new InvalidPathError(path)
    if (this.#isDir(path)) throw new StorageError(`is a directory: ${path}`, path)
    for (let p = parentOf(path); p !== '/'; p = parentOf(p)) {
      if (this.#files.has(p)) throw new PathNotFoundError(path)
    }
  }

  async getContent (path: string): Promise<Buffer> {
    validate(path)
    return Buffer.from(contentOf(this.#file(path))) // a copy: callers must not reach the store
  }

  async putContent (path: string, content: Uint8Array): Promise<void> {
    validate(path)
    this.#checkWritable(path)
    // A whole new entry swapped in one step: readers see old or new.
    this.#files.set(path, newEntry([Buffer.from(content)], content.byteLength))
  }

  async reader (path: string, offset = 0, length?: number): Promise<Readable> {
    validate(path)
    if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
      throw new RangeError(`invalid length ${length} for ${path}`)
    }
    const content = contentOf(this.#file(path))
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > content.length) {
      throw new InvalidOffsetError(path, offset)
    }
    const end = length === undefined ? content.length : Math.min(content.length, offset + length)
    function * chunks (): Generator<Buffer> {
      for (let i = offset; i < end; i += READ_CHUNK) {
        yield Buffer.from(content.subarray(i, Math.min(end, i + READ_CHUNK)))
      }
    }
    return Readable.from(chunks(), { objectMode: false })
  }

  async writer (path: string, append: boolean): Promise<FileWriter> {
    validate(path)
    this.#checkWritable(path)
    let entry = this.#files.get(path)
    if (entry === undefined || !append) {
      entry = newEntry([], 0)
      this.#files.set(path, entry)
    }
    return new InMemoryWriter(this.#files, path, entry)
  }

  version (path: string): string | undefined {
    validate(path)
    const entry = this.#files.get(path)
    return entry === undefined ? undefined : `${entry.serial}:${entry.size}`
  }

  async stat (path: string): Promise<FileInfo> {
    validate(path)
    const entry = this.#files.get(path)
    if (entry !== undefined) return { path, size: entry.size, modTime: entry.modTime, isDir: false }
    if (!this.#isDir(path)) throw new PathNotFoundError(path)
    let modTime = new Date(0)
    const prefix = prefixOf(path)
    for (const [key, file] of this.#files) {
      if (key.startsWith(prefix) && file.modTime > modTime) modTime = file.modTime
    }
    return { path, size: 0, modTime, isDir: true }
  }

  async list (path: string): Promise<string[]> {
    validate(path)
    if (!this.#isDir(path)) throw new PathNotFoundError(path)
    const prefix = prefixOf(path)
    return [...this.#children(path).keys()].map((name) => prefix + name).sort()
  }

  async move (sourcePath: string, destPath: string, options: MoveOptions = {}): Promise<void> {
    validate(sourcePath)
    validate(destPath)
    if (sourcePath === '/') throw new InvalidPathError(sourcePath)
    if (destPath === '/') throw new InvalidPathError(destPath)
    const entry = this.#files.get(sourcePath)
    if (entry === undefined && !this.#isDir(sourcePath)) throw new PathNotFoundError(sourcePath)
    if (options.size !== undefined) {
      if (entry === undefined) throw new PathNotFoundError(sourcePath)
      if (entry.size !== options.size) throw new FileChangedError(sourcePath, options.size, entry.size)
    }
    if (sourcePath === destPath) return
    this.#checkWritable(destPath)
    if (entry !== undefined) {
      this.#files.delete(sourcePath)
      this.#files.set(destPath, entry)
      return
    }
    if (destPath.startsWith(prefixOf(sourcePath))) {
      throw new StorageError(`cannot move ${sourcePath} into itself`, destPath)
    }
    this.#files.delete(destPath)
    const prefix = prefixOf(sourcePath)
    for (const [key, file] of [...this.#files]) {
      if (!key.startsWith(prefix)) continue
      this.#files.delete(key)
      this.#files.set(destPath + key.slice(sourcePath.length), file)
    }
  }

  async delete (path: string): Promise<void> {
    validate(path)
    if (path === '/') {
      this.#files.clear()
      return
    }
    const prefix = prefixOf(path)
    let found = this.#files.delete(path)
    for (const key of [...this.#files.keys()]) {
      if (key.startsWith(prefix)) {
        this.#files.delete(key)
        found = true
      }
    }
    if (!found) throw new PathNotFoundError(path)
  }

  async * walk (path: string): AsyncIterable<FileInfo> {
    validate(path)
    if (!this.#files.has(path) && !this.#isDir(path)) throw new PathNotFoundError(path)
    yield * this.#walkDir(path)
  }

  async * #walkDir (dir: string): AsyncGenerator<FileInfo> {
    const prefix = prefixOf(dir)
    for (const name of [...this.#children(dir).keys()].sort()) {
      const child = prefix + name
      let info: FileInfo
      try {
        info = await this.stat(child)
      } catch (error) {
        if (error instanceof PathNotFoundError) continue // removed while walking
        throw error
      }
      yield info
      if (info.isDir) yield * this.#walkDir(child)
    }
  }
}

class InMemoryWriter implements FileWriter {
  readonly #files: Map<string, Entry>
  readonly #path: string
  readonly #entry: Entry
  #state: 'open' | 'writing' | 'closed' = 'open'

  constructor (files: Map<string, Entry>, path: string, entry: Entry) {
    this.#files = files
    this.#path = path
    this.#entry = entry
  }

  get size (): number {
    return this.#entry.size
  }

  #claim (what: string): void {
    if (this.#state === 'closed') throw new StorageError(`${what}: writer is closed`, this.#path)
    if (this.#state === 'writing') throw new StorageError(`${what}: a write is in progress`, this.#path)
  }

  async write (source: AsyncIterable<Uint8Array>): Promise<number> {
    this.#claim('write')
    this.#state = 'writing'
    const before = this.#entry.size
    try {
      for await (const chunk of source) {
        if (chunk.byteLength === 0) continue
        // Copy: a source may reuse its buffers. Like an open fd, the writer keeps
        // appending to its own entry even if the path is moved or deleted meanwhile.
        this.#entry.chunks.push(Buffer.from(chunk))
        this.#entry.size += chunk.byteLength
        this.#entry.modTime = new Date()
      }
    } finally {
      if (this.#state === 'writing') this.#state = 'open'
    }
    return this.#entry.size - before
  }

  async commit (): Promise<void> {
    this.#claim('commit')
    this.#state = 'closed'
  }

  async close (): Promise<void> {
    this.#claim('close')
    this.#state = 'closed'
  }

  async cancel (): Promise<void> {
    this.#claim('cancel')
    this.#state = 'closed'
    if (this.#files.get(this.#path) === this.#entry) this.#files.delete(this.#path)
  }
}
