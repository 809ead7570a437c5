import type { ServerResponse } from 'node:http'

/** What a socket's libuv handle reports: bytes handed to it and not yet taken by the kernel. */
interface WriteQueue { writeQueueSize?: number }

export interface Stall {
  /** How long the client had taken nothing, in milliseconds. */
  idleMs: number
  /** Bytes of this response's socket written out completely before it stalled. */
  bytesWritten: number
}

/**
 * Destroys `response` (closing its socket) once its socket has taken no byte for
 * `idleMs` while output waits to be sent: a client that stops reading. Waiting on
 * the data's source (a slow storage read) is not a stall; only time with bytes
 * queued for the socket counts. Progress is a write that completes, or the kernel
 * taking part of the one in progress (libuv's write queue shrinking), so a client
 * that reads slowly but steadily is never cut, however large the buffer in flight.
 *
 * Checks a few times per `idleMs` on one timer per response, which stops when the
 * response finishes or closes. Returns a function that stops it earlier.
 */
export function guardStall (response: ServerResponse, idleMs: number, onStall: (stall: Stall) => void): () => void {
  if (!Number.isFinite(idleMs) || idleMs <= 0) return () => {}
  let completed = -1
  let queued = 0
  let lastProgress = Date.now()
  const check = (): void => {
    const socket = response.socket
    const now = Date.now()
    // A pipelined response gets its socket when the responses before it are done: until then it waits on them, not on its client.
    if (socket === null) {
      lastProgress = now
      return
    }
    if (socket.destroyed) return stop()
    // Bytes whose writes have completed: written to the socket minus what it still holds.
    const done = socket.bytesWritten - socket.writableLength
    const inLibuv = (socket as unknown as { _handle?: WriteQueue | null })._handle?.writeQueueSize ?? 0
    const waiting = response.writableLength > 0 || inLibuv > 0
    if (!waiting || done > completed || inLibuv < queued) lastProgress = now
    completed = done
    queued = inLibuv
    if (now - lastProgress < idleMs) return
    stop()
    onStall({ idleMs: now - lastProgress, bytesWritten: done })
    response.destroy()
  }
  const timer = setInterval(check, Math.max(10, Math.min(5000, Math.floor(idleMs / 4))))
  timer.unref()
  const stop = (): void => {
    clearInterval(timer)
    response.off('finish', stop)
    response.off('close', stop)
  }
  response.once('finish', stop)
  response.once('close', stop)
  check()
  return stop
}
