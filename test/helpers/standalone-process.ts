import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { Readable } from 'node:stream'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { waitForRegistry } from './wait-for-registry.js'

export const STANDALONE_SCRIPT = fileURLToPath(new URL('../../dist/examples/standalone.js', import.meta.url))

/** A free loopback port, found by binding to port 0. */
export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  server.close()
  await once(server, 'close')
  return port
}

export interface RunningRegistry {
  url: string
  port: number
  child: ChildProcess
  output: () => string
  stop: (signal?: NodeJS.Signals) => Promise<number | null>
}

/** Starts the compiled standalone server as a child process and waits until `/v2/` answers. */
export async function startStandaloneProcess (env: Record<string, string>, args: string[] = []): Promise<RunningRegistry> {
  const port = await freePort()
  let output = ''
  const child = spawn(process.execPath, [STANDALONE_SCRIPT, ...args], {
    env: { ...process.env, REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`, REGISTRY_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const url = `http://127.0.0.1:${port}`
  const exited = once(child, 'exit')
  await waitForRegistry(url, child, 'registry', () => output)
  return {
    url,
    port,
    child,
    output: () => output,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
      child.kill(signal)
      const [code] = await exited as [number | null]
      return code
    }
  }
}

/**
 * A request body that streams `content` from `offset` in slow 512 KiB slices and
 * SIGKILLs `child` once `killAfter` bytes of it are on their way: a server dying
 * mid-body. `sent()` tells how far it got.
 */
export function bodyKillingMidway (content: Buffer, offset: number, killAfter: number, child: ChildProcess): { body: Readable, sent: () => number } {
  let sent = offset
  const slice = 512 * 1024
  const body = Readable.from((async function * () {
    while (sent < content.length) {
      const part = content.subarray(sent, sent + slice)
      sent += part.length
      yield part
      if (sent >= offset + killAfter && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  })())
  return { body, sent: () => sent }
}
