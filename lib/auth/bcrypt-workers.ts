import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
// Loaded here too, so a platform without the native binary fails when the registry loads, not at the first login.
import '@node-rs/bcrypt'

/**
 * How much lower than the process the compare threads run (a nice value
 * added on Linux): at +10 a thread has about a tenth of the weight of the
 * event loop's, so compares use the CPU the event loop leaves, and serving
 * verified clients never waits for a flood of guesses.
 */
export const DEFAULT_COMPARE_NICENESS = 10

/** How long a thread with nothing to compare is kept, in milliseconds. */
const IDLE_MS = 30_000

const BINDING = createRequire(import.meta.url).resolve('@node-rs/bcrypt')

// The thread's code, as text: it runs the same whether the registry is compiled or run from source.
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
try {
  // Linux nice values are per thread: lower only this one.
  const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop())
  const os = require('node:os')
  os.setPriority(tid, Math.min(19, os.getPriority(tid) + workerData.niceness))
} catch {}
const { verifySync } = require(workerData.binding)
parentPort.on('message', ({ password, hash }) => {
  try {
    parentPort.postMessage({ matched: verifySync(password, hash) })
  } catch (error) {
    parentPort.postMessage({ error: String(error instanceof Error ? error.message : error) })
  }
})
`

interface Job {
  password: string
  hash: string
  resolve: (matched: boolean) => void
  reject: (error: Error) => void
}

interface Thread {
  worker: Worker
  job: Job | undefined
  idle: NodeJS.Timeout | undefined
}

/**
 * A few worker threads that run bcrypt compares (@node-rs/bcrypt's native
 * compare) at a lower scheduling priority than the event loop, off libuv's
 * thread pool, so file I/O never queues behind them. Threads start on demand,
 * up to `size`, and end after 30 s with nothing to do; an idle thread never
 * keeps the process alive. Jobs beyond `size` wait for a free thread (the
 * BcryptPool in front never sends more than `size` at once).
 */
export class BcryptWorkers {
  readonly size: number
  readonly #niceness: number
  readonly #threads = new Set<Thread>()
  readonly #waiting: Job[] = []

  constructor (size: number, niceness = DEFAULT_COMPARE_NICENESS) {
    this.size = size
    this.#niceness = niceness
  }

  /** Threads now alive. */
  get threads (): number {
    return this.#threads.size
  }

  async compare (password: string, hash: string): Promise<boolean> {
    return await new Promise<boolean>((resolve, reject) => {
      this.#waiting.push({ password, hash, resolve, reject })
      this.#dispatch()
    })
  }

  /** Ends every thread; compares in progress are rejected. */
  async close (): Promise<void> {
    const threads = [...this.#threads]
    this.#threads.clear()
    for (const job of this.#waiting.splice(0)) job.reject(new Error('the bcrypt threads were closed'))
    await Promise.all(threads.map(async (thread) => {
      clearTimeout(thread.idle)
      thread.job?.reject(new Error('the bcrypt threads were closed'))
      thread.job = undefined
      await thread.worker.terminate()
    }))
  }

  #dispatch (): void {
    while (this.#waiting.length > 0) {
      let thread = [...this.#threads].find((candidate) => candidate.job === undefined)
      if (thread === undefined) {
        if (this.#threads.size >= this.size) return
        thread = this.#spawn()
      }
      const job = this.#waiting.shift() as Job
      clearTimeout(thread.idle)
      thread.idle = undefined
      thread.job = job
      // Held while it works, so an awaited compare keeps the process alive; let go when idle.
      thread.worker.ref()
      thread.worker.postMessage({ password: job.password, hash: job.hash })
    }
  }

  #spawn (): Thread {
    const worker = new Worker(SOURCE, { eval: true, workerData: { binding: BINDING, niceness: this.#niceness } })
    const thread: Thread = { worker, job: undefined, idle: undefined }
    worker.on('message', (message: { matched?: boolean, error?: string }) => {
      const job = thread.job
      thread.job = undefined
      worker.unref()
      thread.idle = setTimeout(() => { this.#end(thread) }, IDLE_MS).unref()
      if (message.error !== undefined) job?.reject(new Error(`bcrypt compare failed: ${message.error}`))
      else job?.resolve(message.matched === true)
      this.#dispatch()
    })
    const failed = (error: Error): void => {
      if (!this.#threads.delete(thread)) return
      clearTimeout(thread.idle)
      thread.job?.reject(error)
      thread.job = undefined
      this.#dispatch()
    }
    worker.on('error', failed)
    worker.on('exit', (code) => { failed(new Error(`a bcrypt thread exited (${code})`)) })
    this.#threads.add(thread)
    return thread
  }

  #end (thread: Thread): void {
    if (thread.job !== undefined || !this.#threads.delete(thread)) return
    void thread.worker.terminate()
  }
}
