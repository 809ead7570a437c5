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

/**
 * Starts the compiled standalone server as a child process and waits until `/v2/` answers.
 * `wrapper` runs it under another command that execs it (`['prlimit', '--nofile=1024:1024']`),
 * so the child is still the server itself.
 */
export async function startStandaloneProcess (env: Record<string, string>, args: string[] = [], wrapper: string[] = []): Promise<RunningRegistry> {
  const port = await freePort()
  let output = ''
  let spawnError: Error | undefined
  const command = [...wrapper, process.execPath, STANDALONE_SCRIPT, ...args]
  const child = spawn(command[0], command.slice(1), {
    env: { ...process.env, REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`, REGISTRY_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  child.on('error', (error) => { spawnError = error })
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const url = `http://127.0.0.1:${port}`
  const exited = once(child, 'exit')
  await waitForRegistry(url, child, wrapper.length === 0 ? 'registry' : `registry under ${wrapper[0]}`, () => output, () => spawnError)
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

export interface ExitedRegistry {
  code: number | null
  signal: NodeJS.Signals | null
  output: string
  /** The JSON log lines printed, parsed; other lines are skipped. */
  logs: Array<{ level: number, msg: string, [key: string]: unknown }>
}

/**
 * Runs the compiled standalone server with only PATH and `env` in its
 * environment (no REGISTRY_* of the machine running the tests) and waits for
 * it to exit; SIGKILLs it after `timeoutMs` (the result then has signal
 * SIGKILL). For configurations that must stop start-up.
 */
export async function runStandaloneToExit (env: Record<string, string>, args: string[] = [], timeoutMs = 15_000): Promise<ExitedRegistry> {
  let output = ''
  const child = spawn(process.execPath, [STANDALONE_SCRIPT, ...args], {
    env: { PATH: process.env.PATH ?? '', REGISTRY_HTTP_ADDR: '127.0.0.1:0', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
  // 'close', not 'exit': every line it printed has been read.
  const [code, signal] = await once(child, 'close') as [number | null, NodeJS.Signals | null]
  clearTimeout(timer)
  const logs: ExitedRegistry['logs'] = []
  for (const line of output.split('\n')) {
    try { logs.push(JSON.parse(line) as ExitedRegistry['logs'][number]) } catch {}
  }
  return { code, signal, output, logs }
}
