import type { ServerResponse } from 'node:http'
import type { FastifyReply } from 'fastify'
import type { RandomAccessFile } from '../storage/driver.js'

/** Read size: large reads, few syscalls and event-loop turns per GiB. */
const CHUNK = 2 * 1024 * 1024
/** Chunks handed to the socket and not yet written, per response: bounds memory per download. */
const MAX_IN_FLIGHT = 2
/** Written chunks kept for the next reads, across responses. */
const MAX_SPARE = 8

// Reusing buffers whose pages are already mapped is most of the gain: a fresh buffer
// per chunk costs page faults and garbage-collector work for every MiB served.
const spare: Buffer[] = []

function release (buffer: Buffer): void {
  if (spare.length < MAX_SPARE) spare.push(buffer)
}

/**
 * Sends `length` bytes of `file` from `start` as the reply body, with the status and
 * headers already set on the reply, then closes the file. The reply is hijacked:
 * Fastify's onSend hooks do not see the body (onResponse hooks still run). A client
 * that goes away stops the reads; a read error destroys the connection, as a failed
 * stream would, since the status line is already sent.
 */
export async function sendFile (reply: FastifyReply, file: RandomAccessFile, start: number, length: number): Promise<void> {
  reply.hijack()
  const response = reply.raw
  try {
    for (const [name, value] of Object.entries(reply.getHeaders())) {
      if (value !== undefined) response.setHeader(name, value)
    }
    response.writeHead(reply.statusCode)
    await pump(file, response, start, start + length)
  } catch (error) {
    response.destroy(error as Error)
  } finally {
    await file.close()
  }
}

async function pump (file: RandomAccessFile, response: ServerResponse, start: number, end: number): Promise<void> {
  let inFlight = 0
  let wake: (() => void) | undefined
  const resume = (): void => {
    const waiting = wake
    wake = undefined
    waiting?.()
  }
  response.once('close', resume)
  try {
    let position = start
    while (position < end) {
      if (response.destroyed) return
      if (inFlight >= MAX_IN_FLIGHT) {
        await new Promise<void>((resolve) => { wake = resolve })
        continue
      }
      const buffer = spare.pop() ?? Buffer.allocUnsafeSlow(CHUNK)
      let bytes: number
      try {
        bytes = await file.read(buffer, 0, Math.min(CHUNK, end - position), position)
      } catch (error) {
        release(buffer)
        throw error
      }
      if (bytes === 0) {
        release(buffer)
        throw new Error(`file ended at ${position}, ${end - position} bytes short`)
      }
      position += bytes
      inFlight++
      response.write(bytes === CHUNK ? buffer : buffer.subarray(0, bytes), (error) => {
        inFlight--
        // A buffer the socket failed to take may still be referenced by it: let it go.
        if (error == null) release(buffer)
        resume()
      })
    }
    response.end()
  } finally {
    response.off('close', resume)
  }
}
