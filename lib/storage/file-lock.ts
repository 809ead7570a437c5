import { createRequire } from 'node:module'
import { setTimeout as sleep } from 'node:timers/promises'
import { StorageError } from './errors.js'

/** fs-ext is CommonJS without types; only its flock is used. */
const { flockSync } = createRequire(import.meta.url)('fs-ext') as { flockSync: (fd: number, flags: 'exnb' | 'un') => void }

/** How long a writer or a move waits for another instance's writer before giving up. */
const LOCK_WAIT_LIMIT_MS = 15 * 60 * 1000
const LOCK_POLL_MAX_MS = 50

function isBusy (error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code
  return code === 'EAGAIN' || code === 'EWOULDBLOCK'
}

/**
 * Takes the kernel's exclusive advisory lock (flock) on an open file, waiting
 * while another process holds it. This is the fence between instances that
 * share a filesystem root: every upload writer holds it while it appends, and a
 * commit holds it while it checks the size and renames the file into `blobs/`.
 * The kernel drops it when the descriptor closes or its process dies, so a
 * SIGKILLed instance never leaves an upload locked. The non-blocking form is
 * polled rather than a blocking call parked on a thread-pool thread.
 */
export async function lockExclusive (fd: number, path: string): Promise<void> {
  const deadline = Date.now() + LOCK_WAIT_LIMIT_MS
  for (let delay = 1; ; delay = Math.min(delay * 2, LOCK_POLL_MAX_MS)) {
    try {
      flockSync(fd, 'exnb')
      return
    } catch (error) {
      if (!isBusy(error)) throw error
    }
    if (Date.now() > deadline) throw new StorageError('another writer has held the file for too long', path)
    await sleep(delay)
  }
}
