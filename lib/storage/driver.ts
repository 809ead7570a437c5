import type { Readable } from 'node:stream'

/** What `stat` and `walk` report about a path. */
export interface FileInfo {
  /** Absolute driver path, `^(/[A-Za-z0-9._-]+)+$`. */
  path: string
  /** Size in bytes; 0 for directories. */
  size: number
  /** Last modification time. */
  modTime: Date
  isDir: boolean
}

/**
 * An open file being written. Content appended through `write` becomes durable
 * on `commit`; `close` keeps what was written so far for a later append;
 * `cancel` removes the file.
 */
export interface FileWriter {
  /** Bytes in the file: what it held when opened plus what this writer appended. */
  readonly size: number
  /** Appends every chunk of `source`; resolves with the number of bytes appended. */
  write (source: AsyncIterable<Uint8Array>): Promise<number>
  /** Flushes to durable storage and closes. */
  commit (): Promise<void>
  /** Closes without committing; what was written stays and can be appended to later. */
  close (): Promise<void>
  /** Closes and removes the file. */
  cancel (): Promise<void>
}

/** Conditions on a move. */
export interface MoveOptions {
  /** The size the source must have at the moment it moves. */
  size?: number
}

/** An open file read at chosen positions, for drivers over local files (see `StorageDriver.openFile`). */
export interface RandomAccessFile {
  readonly size: number
  /** Reads up to `length` bytes at `position` into `buffer` at `offset`; resolves with the count (0 at the end). */
  read (buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>
  close (): Promise<void>
}

/**
 * The storage-driver interface, shaped like CNCF distribution's. Paths are
 * absolute, slash-separated, made of `[A-Za-z0-9._-]` components, never `.` or `..`.
 * Missing paths reject with {@link PathNotFoundError}.
 */
export interface StorageDriver {
  /** A short name for logs, for example `filesystem`. */
  readonly name: string
  /** The whole content of a small file. */
  getContent (path: string): Promise<Buffer>
  /** Writes a small file atomically: readers see the old content or the new, never a mix. */
  putContent (path: string, content: Uint8Array): Promise<void>
  /** A stream of the file from `offset` (default 0) for `length` bytes (default: to the end). */
  reader (path: string, offset?: number, length?: number): Promise<Readable>
  /** Opens a file for writing; `append` continues an existing file, otherwise it is truncated. */
  writer (path: string, append: boolean): Promise<FileWriter>
  stat (path: string): Promise<FileInfo>
  /** The direct children of a directory, as absolute paths, sorted. */
  list (path: string): Promise<string[]>
  /**
   * Moves a file, replacing the destination atomically. With `options.size`, the
   * source must hold exactly that many bytes when it moves, or the move rejects
   * with {@link FileChangedError} and nothing moves: how a commit makes sure the
   * bytes it verified are the bytes that become visible.
   */
  move (sourcePath: string, destPath: string, options?: MoveOptions): Promise<void>
  /** Deletes a file or a directory with everything below it. */
  delete (path: string): Promise<void>
  /** Every file and directory below `path`, depth first, in lexical order. */
  walk (path: string): AsyncIterable<FileInfo>
  /**
   * Opens a file for reads into the caller's buffers, which lets a server reuse a
   * few buffers for every download instead of allocating one per chunk. Optional:
   * `reader` is always there.
   */
  openFile? (path: string): Promise<RandomAccessFile>
  /**
   * A cheap, synchronous identity of the file at `path` as it is now, or undefined
   * when no file is there. It changes whenever the file is replaced, written to or
   * removed, whichever instance did it. Only for drivers that answer from local
   * metadata in microseconds (a local filesystem's inode cache): caches call it on
   * every read to check an entry is still current without a storage round trip.
   */
  version? (path: string): string | undefined
  /** A URL a client can fetch the content from directly, if the driver can give one. */
  redirectURL? (path: string, method: 'GET' | 'HEAD'): Promise<string | undefined>
}

/** Components of `[A-Za-z0-9._-]`, none of them `.` or `..` (the lookahead), in one pass: this runs on every storage call. */
const PATH_PATTERN = /^(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9._-]+)+$/

/** True for a path every driver must accept: absolute, `[A-Za-z0-9._-]` components, no `.` or `..`. */
export function isValidPath (path: string): boolean {
  return path === '/' || PATH_PATTERN.test(path)
}
