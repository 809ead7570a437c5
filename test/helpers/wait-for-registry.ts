import type { ChildProcess } from 'node:child_process'
import { request } from 'undici'

/**
 * Polls `GET <url>/v2/` until it answers: 200, or 401 when auth is on. Fails when the child exits or
 * reports a spawn error first, or after 20 s (killing the child).
 */
export async function waitForRegistry (url: string, child: ChildProcess, label: string, output: () => string, spawnError: () => Error | undefined = () => undefined): Promise<void> {
  const deadline = Date.now() + 20_000
  for (;;) {
    const failed = spawnError()
    if (failed !== undefined) throw new Error(`could not start ${label}: ${failed.message}`)
    if (child.exitCode !== null) throw new Error(`${label} exited with ${child.exitCode}: ${output()}`)
    try {
      const response = await request(`${url}/v2/`)
      await response.body.dump()
      if (response.statusCode === 200 || response.statusCode === 401) return
    } catch {}
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`${label} did not start: ${output()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
