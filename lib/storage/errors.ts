/** Base class of the errors a storage driver rejects with. */
export class StorageError extends Error {
  readonly path: string
  constructor (message: string, path: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StorageError'
    this.path = path
  }
}

export class PathNotFoundError extends StorageError {
  constructor (path: string, options?: { cause?: unknown }) {
    super(`path not found: ${path}`, path, options)
    this.name = 'PathNotFoundError'
  }
}

export class InvalidPathError extends StorageError {
  constructor (path: string) {
    super(`invalid path: ${JSON.stringify(path)}`, path)
    this.name = 'InvalidPathError'
  }
}

export class InvalidOffsetError extends StorageError {
  readonly offset: number
  constructor (path: string, offset: number) {
    super(`invalid offset ${offset} for ${path}`, path)
    this.name = 'InvalidOffsetError'
    this.offset = offset
  }
}

/** The storage ran out of space or quota. */
export class StorageFullError extends StorageError {
  constructor (path: string, options?: { cause?: unknown }) {
    super(`storage full while writing ${path}`, path, options)
    this.name = 'StorageFullError'
  }
}

export function isPathNotFound (error: unknown): error is PathNotFoundError {
  return error instanceof PathNotFoundError
}
