import { formatProgress } from './format.js'
import type { GarbageCollectPhase, GarbageCollectProgress } from './types.js'

/** Where progress goes: a stream, and whether it is a terminal. */
export interface ProgressStream {
  write (text: string): unknown
  isTTY?: boolean
  columns?: number
}

/**
 * Shows a collection's progress. On a terminal: one line rewritten in place
 * (`\r`, then clear to the end of the line) with the current phase and its
 * counts. Elsewhere (a pipe, a log file): one plain line per phase, written
 * when the phase ends, with its final counts.
 */
export class ProgressDisplay {
  readonly #stream: ProgressStream
  readonly #tty: boolean
  #last: GarbageCollectProgress | undefined
  #shown = false

  constructor (stream: ProgressStream, tty = stream.isTTY === true) {
    this.#stream = stream
    this.#tty = tty
  }

  update (progress: GarbageCollectProgress): void {
    const previous = this.#last
    this.#last = progress
    if (this.#tty) {
      if (progress.phase === 'done') return
      let line = formatProgress(progress)
      const columns = this.#stream.columns
      if (columns !== undefined && columns > 1 && line.length >= columns) line = line.slice(0, columns - 1)
      this.#stream.write(`\r\x1b[K${line}`)
      this.#shown = true
      return
    }
    if (previous !== undefined && previous.phase !== progress.phase) this.#line(progress, previous.phase)
  }

  /** Makes room for another line (a warning): on a terminal the progress line is cleared, to be redrawn at the next update. */
  interrupt (): void {
    if (this.#tty && this.#shown) {
      this.#stream.write('\r\x1b[K')
      this.#shown = false
    }
  }

  /** Ends the display: the terminal line is finished, or the last phase's line written. */
  finish (): void {
    if (this.#tty) {
      if (this.#shown) this.#stream.write('\r\x1b[K')
      this.#shown = false
      return
    }
    const last = this.#last
    if (last !== undefined && last.phase !== 'done') this.#line(last, last.phase)
    this.#last = undefined
  }

  #line (progress: GarbageCollectProgress, phase: GarbageCollectPhase): void {
    this.#stream.write(`${formatProgress(progress, phase)}\n`)
  }
}
