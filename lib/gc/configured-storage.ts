import { loadDistributionConfig, CONFIG_PATH_VARIABLE } from '../config/distribution-config.js'
import type { RegistryOptions } from '../options.js'
import type { ProgressStream } from './progress-display.js'
import { collectableStorage, type CollectableStorage } from './storage-driver.js'

/**
 * The storage a maintenance command works on: the configuration file named on
 * the command line, else REGISTRY_CONFIGURATION_PATH, with REGISTRY_* overrides,
 * exactly as the standalone server reads it. Warnings go to `stderr`.
 */
export async function configuredStorage (configFile: string | undefined, env: NodeJS.ProcessEnv, stderr: ProgressStream): Promise<{ options: RegistryOptions, storage: CollectableStorage }> {
  const fromEnv = env[CONFIG_PATH_VARIABLE]
  const config = await loadDistributionConfig(configFile ?? (fromEnv === undefined || fromEnv === '' ? undefined : fromEnv), env)
  for (const warning of config.warnings) stderr.write(`warning: ${warning}\n`)
  return { options: config.options, storage: await collectableStorage(config.options.storage) }
}
