import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { accessSync, constants } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { waitForRegistry } from './wait-for-registry.js'
import { freePort } from './standalone-process.js'

/** Helpers to run CNCF distribution (Debian's `docker-registry`) and skopeo beside our registry. */

const execFileAsync = promisify(execFile)

export const DOCKER_REGISTRY_BIN = process.env.DOCKER_REGISTRY_BIN ?? '/usr/bin/docker-registry'
export const SKOPEO_BIN = process.env.SKOPEO_BIN ?? '/usr/bin/skopeo'

/** Throws a clear message naming the missing tool; these tests are never skipped silently. */
export function requireExecutable (path: string, hint: string): void {
  try {
    accessSync(path, constants.X_OK)
  } catch {
    throw new Error(`${path} is missing or not executable: ${hint}`)
  }
}

export interface RunningDistribution {
  url: string
  port: number
  child: ChildProcess
  output: () => string
  stop: () => Promise<void>
}

/**
 * A docker-registry (distribution 2.8) configuration on a loopback port, with
 * upload purging off so it never removes another server's uploads mid-test.
 * Storage is a filesystem root, or `storage`: the YAML lines of another driver
 * section, indented under `storage:`.
 */
export function distributionConfig (options: { rootDirectory: string, port: number, secret: string, deleteEnabled: boolean } | { storage: string[], port: number, secret: string, deleteEnabled: boolean }): string {
  const storage = 'storage' in options ? options.storage : ['  filesystem:', `    rootdirectory: ${JSON.stringify(options.rootDirectory)}`]
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    ...storage,
    '  delete:',
    `    enabled: ${String(options.deleteEnabled)}`,
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${options.port}`,
    `  secret: ${JSON.stringify(options.secret)}`,
    ''
  ].join('\n')
}

/**
 * Starts `docker-registry serve` on a free loopback port over the given filesystem
 * root, with deletes enabled and no blob descriptor cache (so it sees another
 * server's writes at once), and waits until `GET /v2/` answers 200.
 */
export async function startDistribution (rootDirectory: string, configDir: string, secret = 'distribution-compat-secret'): Promise<RunningDistribution> {
  const port = await freePort()
  const configPath = join(configDir, 'docker-registry.yml')
  await writeFile(configPath, distributionConfig({ rootDirectory, port, secret, deleteEnabled: true }))
  let output = ''
  const child = spawn(DOCKER_REGISTRY_BIN, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = once(child, 'exit')
  // A spawn failure (ENOENT) is reported as 'error'; remember it instead of crashing.
  let spawnError: Error | undefined
  child.on('error', (error) => { spawnError = error })
  const url = `http://127.0.0.1:${port}`
  await waitForRegistry(url, child, 'docker-registry', () => output, () => spawnError)
  return {
    url,
    port,
    child,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    }
  }
}

/** Runs skopeo; on failure the error names the command and carries skopeo's stderr. */
export async function skopeo (args: string[], timeout = 120_000): Promise<{ stdout: string, stderr: string }> {
  try {
    return await execFileAsync(SKOPEO_BIN, args, { timeout, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' })
  } catch (error) {
    const { stderr, message } = error as { stderr?: string, message: string }
    throw new Error(`skopeo ${args.join(' ')} failed: ${stderr ?? ''} ${message}`)
  }
}

/** skopeo with a raw byte result (for `inspect --raw`, whose bytes are compared exactly). */
export async function skopeoRaw (args: string[], timeout = 120_000): Promise<Buffer> {
  try {
    const { stdout } = await execFileAsync(SKOPEO_BIN, args, { timeout, maxBuffer: 64 * 1024 * 1024, encoding: 'buffer' })
    return stdout
  } catch (error) {
    const { stderr, message } = error as { stderr?: Buffer, message: string }
    throw new Error(`skopeo ${args.join(' ')} failed: ${stderr?.toString() ?? ''} ${message}`)
  }
}
