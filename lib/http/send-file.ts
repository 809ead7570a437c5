import type { ServerResponse } from 'node:http'
import type { FastifyReply } from 'fastify'
import type { RandomAccessFile } from '../storage/driver.js'
import { BufferPool } from './buffer-pool.js'
import { guardStall, type Stall } from './stall-guard.js'

const MiB = 1024 * 1024

/**
 * The buffers of every download in the process (at most 128 MiB). Large reads
 * first: few syscalls and event-loop turns per GiB. When all 32 are lent out (32
 * clients that stopped reading hold one each until they are cut), downloads read
 * into small buffers instead, so they slow down rather than stop; past those too
 * they wait for one to come back. So 200 clients that stop reading pin about
 * 32 × 2 MiB + 168 × 64 KiB, not 200 × 4 MiB.
 */
const pool = new BufferPool([
  { size: 2 * MiB, budget: 32, keep: 8 },
  { size: 64 * 1024, budget: 1024, keep: 64 }
])
// Reusing buffers whose pages are already mapped is most of the gain: a fresh buffer
// per chunk costs page faults and garbage-collector work for every MiB served.

/** The process's download buffers, for tests and diagnostics: per tier, its size, budget and buffers lent out; takers waiting. */
export function sendFileBuffers (): BufferPool['state'] & { limit: number } {
  return { ...pool.state, limit: pool.limit }
}

export interface SendFileOptions {
  /**
   * Milliseconds the client may take nothing while bytes wait for its socket before
   * the connection is closed (logged as a warning); 0 or absent never cuts.
   */
  idleTimeout?: number
  /** Called when the client is cut for taking nothing; the default logs a warning on the reply's logger. */
  onStall?: (stall: Stall) => void
}

/**
 * Sends `length` bytes of `file` from `start` as the reply body, with the status and
 * headers already set on the reply, then closes the file. The reply is hijacked:
 * Fastify's onSend hooks do not see the body (onResponse hooks still run). A client
 * that goes away stops the reads; a read error destroys the connection, as a failed
 * stream would, since the status line is already sent.
 *
 * Memory: a response holds at most one buffer, queued in its socket beyond the
 * socket's high-water mark; the next read waits for 'drain'. Buffers come from a
 * budget shared by every download in the process. A client that takes nothing for
 * `idleTimeout` is cut, which gives its buffer back.
 */
export async function sendFile (reply: FastifyReply, file: RandomAccessFile, start: number, length: number, options: SendFileOptions = {}): Promise<void> {
  reply.hijack()
  const response = reply.raw
  let unguard = (): void => {}
  try {
    for (const [name, value] of Object.entries(reply.getHeaders())) {
      if (value !== undefined) response.setHeader(name, value)
    }
    response.writeHead(reply.statusCode)
    unguard = guardStall(response, options.idleTimeout ?? 0, options.onStall ?? ((stall) => {
      reply.log.warn({ idleMs: stall.idleMs, bytesWritten: stall.bytesWritten }, 'download stalled: the client took nothing for the body idle timeout; closing the connection')
    }))
    await pump(file, response, start, start + length)
  } catch (error) {
    response.destroy(error as Error)
  } finally {
    unguard()
    await file.close()
  }
}

async function pump (file: RandomAccessFile, response: ServerResponse, start: number, end: number): Promise<void> {
  // Aborted when the response closes: ends a wait for a buffer or for 'drain'.
  const closed = new AbortController()
  const onClose = (): void => { closed.abort() }
  response.once('close', onClose)
  try {
    let position = start
    while (position < end) {
      if (response.destroyed) return
      const buffer = await pool.take(closed.signal)
      if (buffer === undefined) return
      let bytes: number
      try {
        bytes = await file.read(buffer, 0, Math.min(buffer.length, end - position), position)
      } catch (error) {
        pool.give(buffer)
        throw error
      }
      if (bytes === 0) {
        pool.give(buffer)
        throw new Error(`file ended at ${position}, ${end - position} bytes short`)
      }
      if (response.destroyed) {
        pool.give(buffer)
        return
      }
      position += bytes
      let settled = false
      const settle = (error?: Error | null): void => {
        if (settled) return
        settled = true
        response.off('close', onCloseMidWrite)
        // A buffer the socket failed to take, or still held when the response closed,
        // may still be referenced by it: let it go and free its place in the budget.
        if (error == null) pool.give(buffer)
        else pool.forget(buffer)
      }
      const onCloseMidWrite = (): void => { settle(new Error('closed mid-write')) }
      response.once('close', onCloseMidWrite)
      const accepted = response.write(bytes === buffer.length ? buffer : buffer.subarray(0, bytes), settle)
      if (!accepted) await drained(response, closed.signal)
    }
    response.end()
  } finally {
    response.off('close', onClose)
  }
}

/** Resolves on the response's next 'drain', or when it closes. */
async function drained (response: ServerResponse, closed: AbortSignal): Promise<void> {
  if (closed.aborted) return
  await new Promise<void>((resolve) => {
    const done = (): void => {
      response.off('drain', done)
      closed.removeEventListener('abort', done)
      resolve()
    }
    response.on('drain', done)
    closed.addEventListener('abort', done, { once: true })
  })
}
