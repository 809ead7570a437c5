/**
 * `fastify-oci-registry verify`: reads every blob of the configured storage and
 * reports those whose bytes do not match their digest.
 */
import { RegistryConfigError } from '../config-error.js'
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type CommandStreams } from './cli.js'
import { configuredStorage } from './configured-storage.js'
import { formatBytes } from './format.js'
import type { CollectableStorage } from './storage-driver.js'
import { verifyBlobs } from './verify-blobs.js'

/** Exit status when corrupt blobs were found, so that a scheduled run can alert. */
export const EXIT_CORRUPT = 3

export const VERIFY_USAGE = `Usage: fastify-oci-registry verify [options] [config.yml]

Reads every blob in the storage the configuration names (the file here, else
REGISTRY_CONFIGURATION_PATH, with REGISTRY_* overrides) and checks its bytes
against its digest. Safe to run while registries serve the same storage; it
reads the whole store, so schedule it.

Options:
  --repair     move each corrupt blob's data to data.corrupt beside it: it is
               no longer served (pulls answer BLOB_UNKNOWN instead of wrong
               bytes) and the next push of the genuine layer restores it
  -h, --help   this help

Exit status: 0 every blob intact, 3 corrupt blobs found, 1 failed
(configuration or storage), 2 usage error.
`

export async function runVerifyCommand (argv: readonly string[], env: NodeJS.ProcessEnv = process.env, streams: CommandStreams = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const { stdout, stderr } = streams
  let repair = false
  const positional: string[] = []
  for (const arg of argv) {
    if (arg === '--repair') repair = true
    else if (arg === '-h' || arg === '--help') {
      stdout.write(VERIFY_USAGE)
      return EXIT_OK
    } else if (arg.startsWith('-') && arg !== '-') {
      stderr.write(`fastify-oci-registry verify: unknown option ${arg}\n\n${VERIFY_USAGE}`)
      return EXIT_USAGE
    } else positional.push(arg)
  }
  if (positional.length > 1) {
    stderr.write(`fastify-oci-registry verify: takes one configuration file, got ${positional.length}\n\n${VERIFY_USAGE}`)
    return EXIT_USAGE
  }
  const fail = (what: string, error: unknown): number => {
    const message = error instanceof RegistryConfigError ? error.message.replace(/^fastify-oci-registry: /, '') : (error as Error)?.message ?? String(error)
    stderr.write(`fastify-oci-registry verify: ${what}: ${message}\n`)
    return EXIT_FAILED
  }
  let storage: CollectableStorage
  try {
    storage = (await configuredStorage(positional[0], env, stderr)).storage
  } catch (error) {
    return fail('invalid configuration', error)
  }
  try {
    stderr.write(`verify${repair ? ' --repair' : ''} on ${storage.description}\n`)
    const summary = await verifyBlobs(storage.driver, { repair })
    for (const blob of summary.corrupt) {
      stdout.write(`corrupt ${blob.digest}: ${blob.size} bytes hashing to ${blob.actual}${blob.setAside ? ', moved to data.corrupt' : ''}\n`)
    }
    stdout.write(`${summary.blobs} blobs (${formatBytes(summary.bytes)}) read, ${summary.corrupt.length} corrupt\n`)
    return summary.corrupt.length === 0 ? EXIT_OK : EXIT_CORRUPT
  } catch (error) {
    return fail('failed', error)
  } finally {
    storage.close()
  }
}
