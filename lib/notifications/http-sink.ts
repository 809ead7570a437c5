import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { EVENTS_MEDIA_TYPE, type EventEnvelope, type RegistryEvent } from '../events/event.js'

const USER_AGENT = 'fastify-oci-registry-notifications'

/** A delivery attempt that did not succeed: no answer, a timeout, or a status outside 2xx/3xx. */
export class DeliveryError extends Error {
  /** The status answered, when there was an answer. */
  readonly status: number | undefined
  constructor (message: string, status?: number, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'DeliveryError'
    this.status = status
  }
}

export interface HttpSinkOptions {
  url: URL
  /** Lower-case names; sent with every request. */
  headers: Record<string, string[]>
  /** Milliseconds one attempt may take, until the response body has been read. */
  timeout: number
}

/**
 * One webhook's HTTP side: each `send` is one POST of one envelope, with no
 * retry (the endpoint retries). Success is any 2xx or 3xx answer, as in
 * distribution; redirects are not followed. Connections are kept alive,
 * one at a time, and closed by `close`.
 */
export class HttpSink {
  readonly #options: HttpSinkOptions
  readonly #agent: HttpAgent
  readonly #request: typeof httpRequest

  constructor (options: HttpSinkOptions) {
    this.#options = options
    const https = options.url.protocol === 'https:'
    this.#agent = https ? new HttpsAgent({ keepAlive: true, maxSockets: 1 }) : new HttpAgent({ keepAlive: true, maxSockets: 1 })
    this.#request = https ? httpsRequest : httpRequest
  }

  /** POSTs `{ events }`; resolves with the status on success, rejects with DeliveryError otherwise. `signal` abandons the attempt. */
  async send (events: readonly RegistryEvent[], signal?: AbortSignal): Promise<number> {
    const envelope: EventEnvelope = { events: [...events] }
    const body = Buffer.from(JSON.stringify(envelope))
    const { url, timeout } = this.#options
    const headers: Record<string, string | string[] | number> = { 'user-agent': USER_AGENT, ...this.#options.headers }
    headers['content-type'] = EVENTS_MEDIA_TYPE
    headers['content-length'] = body.length
    return await new Promise<number>((resolve, reject) => {
      let settled = false
      const settle = (error: Error | undefined, status?: number): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        signal?.removeEventListener('abort', abort)
        if (error === undefined) resolve(status!)
        else reject(error)
      }
      const request = this.#request(url, { method: 'POST', agent: this.#agent, headers })
      const fail = (error: Error): void => {
        request.destroy()
        settle(error instanceof DeliveryError ? error : new DeliveryError(`POST ${url.origin}${url.pathname} failed: ${error.message}`, undefined, { cause: error }))
      }
      const timer = setTimeout(() => { fail(new DeliveryError(`POST ${url.origin}${url.pathname} timed out after ${timeout} ms`)) }, timeout)
      const abort = (): void => { fail(new DeliveryError(`POST ${url.origin}${url.pathname} abandoned: the endpoint is closing`)) }
      if (signal?.aborted === true) {
        abort()
        return
      }
      signal?.addEventListener('abort', abort, { once: true })
      request.on('error', fail)
      request.on('response', (response: IncomingMessage) => {
        const status = response.statusCode ?? 0
        // Read and discard the body, so the connection can be used again.
        response.on('error', fail)
        response.on('end', () => {
          if (status >= 200 && status < 400) settle(undefined, status)
          else settle(new DeliveryError(`POST ${url.origin}${url.pathname} answered ${status}`, status))
        })
        response.resume()
      })
      request.end(body)
    })
  }

  /** Closes the kept-alive connection and abandons any request in flight. */
  close (): void {
    this.#agent.destroy()
  }
}
