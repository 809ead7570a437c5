import { StorageError } from './errors.js'

/** A move whose source no longer holds the size the caller verified: someone wrote to it meanwhile. */
export class FileChangedError extends StorageError {
  readonly expectedSize: number
  readonly actualSize: number
  constructor (path: string, expectedSize: number, actualSize: number) {
    super(`${path} holds ${actualSize} bytes, ${expectedSize} were verified`, path)
    this.name = 'FileChangedError'
    this.expectedSize = expectedSize
    this.actualSize = actualSize
  }
}

export function isFileChanged (error: unknown): error is FileChangedError {
  return error instanceof FileChangedError
}
