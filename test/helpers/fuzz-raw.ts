/**
 * Raw HTTP/1.1 over a TCP socket for the fuzz suites: requests are written
 * byte for byte (dot segments, backslashes, raw bytes, duplicate or
 * oversized headers, Content-Length lies), so nothing normalises them on
 * the way, and answers are parsed by hand with a deadline (a request that
 * gets no answer in time is a hang).
 */
import { connect } from 'node:net'

export interface RawRequest {
  method: string
  /** The request target exactly as written (latin1: one byte per char). */
  target: string
  /** In order, duplicates allowed. */
  headers: Array<[string, string]>
  body?: Buffer
}

export interface RawAnswer {
  status: number
  headers: Record<string, string>
  /** Header names as sent, in order, lower-cased. */
  headerNames: string[]
  body: Buffer
}

export interface RawOutcome {
  /** The first response, when one arrived whole. */
  answer?: RawAnswer
  /** Every byte received. */
  received: Buffer
  timedOut: boolean
}

export function serialize (request: RawRequest): Buffer {
  const head = `${request.method} ${request.target} HTTP/1.1\r\n${request.headers.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`
  return Buffer.concat([Buffer.from(head, 'latin1'), request.body ?? Buffer.alloc(0)])
}

/** Parses the first HTTP response in `data`; undefined when incomplete or malformed. */
export function parseAnswer (data: Buffer, method: string, ended: boolean): RawAnswer | undefined {
  const end = data.indexOf('\r\n\r\n')
  if (end === -1) return undefined
  const lines = data.subarray(0, end).toString('latin1').split('\r\n')
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0])
  if (status === null) return undefined
  const headers: Record<string, string> = {}
  const headerNames: string[] = []
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':')
    if (colon === -1) return undefined
    const name = line.slice(0, colon).trim().toLowerCase()
    headerNames.push(name)
    headers[name] = headers[name] === undefined ? line.slice(colon + 1).trim() : `${headers[name]}, ${line.slice(colon + 1).trim()}`
  }
  const code = Number(status[1])
  let rest = data.subarray(end + 4)
  // An interim answer (100 Continue) comes before the real one.
  if (code >= 100 && code < 200) return parseAnswer(rest, method, ended)
  if (method === 'HEAD' || code === 204 || code === 304) return { status: code, headers, headerNames, body: Buffer.alloc(0) }
  if (headers['transfer-encoding']?.toLowerCase().includes('chunked') === true) {
    const parts: Buffer[] = []
    for (;;) {
      const lineEnd = rest.indexOf('\r\n')
      if (lineEnd === -1) return undefined
      const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16)
      if (Number.isNaN(size)) return undefined
      if (size === 0) return { status: code, headers, headerNames, body: Buffer.concat(parts) }
      if (rest.length < lineEnd + 2 + size + 2) return undefined
      parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size))
      rest = rest.subarray(lineEnd + 2 + size + 2)
    }
  }
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length'].split(',')[0])
    if (rest.length < length) return undefined
    return { status: code, headers, headerNames, body: rest.subarray(0, length) }
  }
  return ended ? { status: code, headers, headerNames, body: rest } : undefined
}

/**
 * Writes the bytes and collects the answer until the server closes (requests
 * carry `Connection: close`) or the deadline. With `halfClose` the socket's
 * writing side is closed after the bytes, as a client that stops sending
 * does: use it when the body is shorter than declared. Node's server takes a
 * half-close as the client going away (it aborts the request), so it is not
 * used otherwise.
 */
export async function exchange (port: number, bytes: Buffer, method: string, options: { timeoutMs?: number, halfClose?: boolean } = {}): Promise<RawOutcome> {
  return await new Promise((resolve) => {
    const chunks: Buffer[] = []
    let settled = false
    const socket = connect(port, '127.0.0.1')
    const finish = (timedOut: boolean): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      const received = Buffer.concat(chunks)
      resolve({ answer: parseAnswer(received, method, true), received, timedOut })
    }
    const timer = setTimeout(() => { finish(true) }, options.timeoutMs ?? 5000)
    socket.on('connect', () => {
      if (options.halfClose === true) socket.end(bytes)
      else socket.write(bytes)
    })
    socket.on('data', (chunk: Buffer) => { chunks.push(chunk) })
    socket.on('end', () => { finish(false) })
    socket.on('close', () => { finish(false) })
    socket.on('error', () => { finish(false) })
  })
}

/** Runs `work` over `items` with at most `limit` at a time. */
export async function pool<T> (items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++
      await work(items[index], index)
    }
  }))
}

/**
 * How an answer without the registry's API-version header came about:
 * Node's HTTP parser refusing the bytes (`transport`), Fastify refusing a URL
 * it cannot decode (`bad-url`, KNOWN BUG 1), Fastify's own 404 for a path
 * outside `/v2/` (`host-404`), or anything else (`unexplained`).
 */
export function classifyForeign (answer: RawAnswer, method: string): 'transport' | 'bad-url' | 'host-404' | 'unexplained' {
  const body = answer.body.toString('utf8')
  // A HEAD answer has no body to tell by; Fastify's 404 is the one without the registry's header.
  if (method === 'HEAD' && body === '' && answer.status === 404) return 'host-404'
  if ((answer.status === 400 && body.includes('"message":"Client Error"')) || answer.status === 431 || (answer.status === 400 && body === '')) return 'transport'
  if (answer.status === 400 && body.includes('FST_ERR_BAD_URL')) return 'bad-url'
  if (answer.status === 404 && /"message":"Route [A-Z-]+:.* not found"/.test(body)) return 'host-404'
  return 'unexplained'
}
