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

const DESCRIPTOR_EXHAUSTION = new Set(['EMFILE', 'ENFILE'])

/**
 * True when the process (EMFILE) or the system (ENFILE) ran out of file
 * descriptors: a transient overload, not a fault of the request. Drivers pass
 * these Node errors through unchanged; a wrapper's `cause` is looked into too.
 */
export function isDescriptorExhaustion (error: unknown): boolean {
  let current = error
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string' && DESCRIPTOR_EXHAUSTION.has(code)) return true
    current = (current as { cause?: unknown }).cause
  }
  return false
}
