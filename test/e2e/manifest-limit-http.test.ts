import t from 'tap'
import { connect } from 'node:net'
import { startStandaloneProcess } from '../helpers/standalone-process.js'
import { tempDir } from '../helpers/registry.js'

/**
 * Streams a chunked manifest body that never ends until the server answers;
 * resolves with the answer and how many body bytes were sent.
 */
async function endlessManifest (port: number, path: string): Promise<{ answer: string, sent: number }> {
  return await new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let answer = ''
    let sent = 0
    let stopped = false
    const chunk = Buffer.alloc(64 * 1024, 0x20)
    const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')])
    const pump = (): void => {
      // Bounded: a server that never answers fails the test instead of hanging it.
      while (!stopped && sent < 256 * 1024 * 1024) {
        sent += chunk.length
        if (!socket.write(frame)) { socket.once('drain', pump); return }
      }
    }
    socket.on('connect', () => {
      socket.write(`PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nTransfer-Encoding: chunked\r\n\r\n`)
      pump()
    })
    socket.on('data', (data) => { answer += data.toString(); stopped = true })
    socket.on('close', () => { stopped = true; resolve({ answer, sent }) })
    socket.on('error', (error: NodeJS.ErrnoException) => {
      stopped = true
      if (error.code === 'EPIPE' || error.code === 'ECONNRESET') return
      reject(error)
    })
  })
}

t.test('a manifest body that never ends is cut at the limit with 413', async (t) => {
  const root = await tempDir()
  const registry = await startStandaloneProcess({ REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root.path, REGISTRY_HTTP_SECRET: 'x' })
  t.teardown(async () => { await registry.stop(); await root.cleanup() })
  const { answer, sent } = await endlessManifest(registry.port, '/v2/r/manifests/endless')
  t.match(answer, /^HTTP\/1\.1 413/)
  // The server closes the connection on the unread body; a reset can drop the envelope in flight,
  // so only an envelope that arrived is checked.
  const body = answer.split('\r\n\r\n')[1] ?? ''
  if (body !== '') t.match(body, /SIZE_INVALID/)
  t.ok(sent < 64 * 1024 * 1024, `the server stopped reading after ${Math.round(sent / 1048576)} MiB (limit 4 MiB)`)
})
