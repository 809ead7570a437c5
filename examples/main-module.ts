import { realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'

/**
 * True when the module at `moduleUrl` (its `import.meta.url`) is the process's
 * entry point, also when started through npm's bin symlink; importing an
 * example must never start a server.
 */
export function isMainModule (moduleUrl: string): boolean {
  const entry = process.argv[1]
  if (entry === undefined) return false
  try {
    return moduleUrl === pathToFileURL(realpathSync(entry)).href
  } catch {
    return false
  }
}
