import t from 'tap'
import { soak } from '../../bench/soak.js'
import { startStandaloneProcess } from '../helpers/standalone-process.js'
import { tempDir } from '../helpers/registry.js'

// The short form of bench/soak (`npm run soak` runs the long one): 12 s, 12 clients.
t.test('mixed traffic: no errors, memory and open files stay flat', async (t) => {
  const root = await tempDir()
  const registry = await startStandaloneProcess({ REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root.path, REGISTRY_HTTP_SECRET: 'soak', REGISTRY_STORAGE_DELETE_ENABLED: 'true' })
  t.teardown(async () => { await registry.stop(); await root.cleanup() })
  const result = await soak({ url: registry.url, pid: registry.child.pid!, durationMs: 12_000, clients: 12 })
  t.same(result.errors, [], `${result.operations} operations, no errors`)
  t.ok(result.samples.length >= 8, 'sampled every second')
  const settled = result.samples.slice(2)
  const rss = settled.map((sample) => sample.rssMiB)
  const fds = settled.map((sample) => sample.openFds)
  t.ok(Math.max(...rss) - Math.min(...rss) < 96, `resident memory stays within a band: ${Math.min(...rss)}-${Math.max(...rss)} MiB`)
  t.ok(Math.max(...fds) - Math.min(...fds) < 40, `open file descriptors stay within a band: ${Math.min(...fds)}-${Math.max(...fds)}`)
  t.comment(JSON.stringify(result.samples))
})
