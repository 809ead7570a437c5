import type { StorageDriver } from '../storage/driver.js'
import { InvalidOffsetError, InvalidPathError, isPathNotFound, StorageFullError } from '../storage/errors.js'

/** What failed, for a metric label: a small fixed set. */
export type StorageErrorKind = 'full' | 'invalid_path' | 'other'

export type StorageErrorListener = (operation: string, kind: StorageErrorKind, error: unknown) => void

const ABORT_CODES = new Set(['ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE', 'EPIPE', 'ABORT_ERR'])

/**
 * Failures that are not the storage's: a missing path (routine: existence
 * checks), an offset the client got wrong, a reader or writer stopped because
 * the client went away.
 */
function isStorageFailure (error: unknown): boolean {
  if (isPathNotFound(error) || error instanceof InvalidOffsetError) return false
  const { code, message } = (error ?? {}) as { code?: unknown, message?: unknown }
  return !((typeof code === 'string' && ABORT_CODES.has(code)) || message === 'aborted')
}

function kindOf (error: unknown): StorageErrorKind {
  if (error instanceof StorageFullError) return 'full'
  if (error instanceof InvalidPathError) return 'invalid_path'
  return 'other'
}

function isThenable (value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}

function isAsyncIterable (value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
}

function isEmitter (value: unknown): value is NodeJS.EventEmitter {
  return typeof value === 'object' && value !== null && typeof (value as { once?: unknown }).once === 'function' && typeof (value as { pipe?: unknown }).pipe === 'function'
}

/**
 * A driver that tells `listener` about every failed operation of `driver`,
 * then fails the same way. Wraps what operations return too: streams from
 * `reader`, the iteration of `walk`, the writer from `writer` (its `write`,
 * `commit`, `close`, `cancel`) and the file from `openFile`. Everything else
 * passes through untouched: optional methods stay absent when the driver
 * lacks them, and calls reach the driver itself, so private fields work.
 */
export function countStorageErrors (driver: StorageDriver, listener: StorageErrorListener): StorageDriver {
  return wrap(driver, '', listener)
}

/** Results wrapped in turn, by the operation that returned them. */
const WRAPPED_RESULTS: Record<string, string> = { writer: 'writer', openFile: 'file' }

function wrap<T extends object> (target: T, scope: string, listener: StorageErrorListener): T {
  const wrappers = new Map<PropertyKey, unknown>()
  return new Proxy(target, {
    get (object, property) {
      const value: unknown = Reflect.get(object, property, object)
      if (typeof value !== 'function' || typeof property !== 'string' || property === 'constructor') return value
      let wrapper = wrappers.get(property)
      if (wrapper === undefined) {
        const operation = scope === '' ? property : `${scope}.${property}`
        wrapper = (...args: unknown[]) => call(object, value as (...args: unknown[]) => unknown, property, operation, args, listener)
        wrappers.set(property, wrapper)
      }
      return wrapper
    }
  })
}

function call (target: object, method: (...args: unknown[]) => unknown, property: string, operation: string, args: unknown[], listener: StorageErrorListener): unknown {
  // A body the caller streams into a writer can fail on its own (the client went away, a size limit):
  // that is not the storage's failure.
  let sourceFailed = false
  const markSource = (error: unknown): void => { sourceFailed = true; throw error }
  const passed = args.map((arg) => isAsyncIterable(arg) && !isEmitter(arg) ? watchSource(arg, markSource) : arg)
  const report = (error: unknown): void => {
    if (!sourceFailed && isStorageFailure(error)) listener(operation, kindOf(error), error)
  }
  let result: unknown
  try {
    result = method.apply(target, passed)
  } catch (error) {
    report(error)
    throw error
  }
  if (isThenable(result)) {
    return Promise.resolve(result).then((value) => wrapResult(value, property, operation, listener), (error: unknown) => {
      report(error)
      throw error
    })
  }
  return wrapResult(result, property, operation, listener)
}

function wrapResult (value: unknown, property: string, operation: string, listener: StorageErrorListener): unknown {
  const scope = WRAPPED_RESULTS[property]
  if (scope !== undefined && typeof value === 'object' && value !== null) return wrap(value, scope, listener)
  if (isEmitter(value)) {
    // An 'error' listener of ours never replaces the consumer's: it only counts.
    value.once('error', (error: unknown) => { if (isStorageFailure(error)) listener(operation, kindOf(error), error) })
    return value
  }
  if (isAsyncIterable(value)) return countIteration(value, operation, listener)
  return value
}

async function * watchSource<T> (source: AsyncIterable<T>, onError: (error: unknown) => void): AsyncGenerator<T> {
  try {
    yield * source
  } catch (error) {
    onError(error)
  }
}

async function * countIteration<T> (source: AsyncIterable<T>, operation: string, listener: StorageErrorListener): AsyncGenerator<T> {
  try {
    yield * source
  } catch (error) {
    if (isStorageFailure(error)) listener(operation, kindOf(error), error)
    throw error
  }
}
