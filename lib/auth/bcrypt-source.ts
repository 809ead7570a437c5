import { isIPv6 } from 'node:net'

/** The groups of an IPv6 address written in full, an embedded IPv4 tail counting as two. */
function ipv6Groups (address: string): string[] {
  const split = (part: string): string[] => part === '' ? [] : part.split(':').flatMap((group) => group.includes('.') ? ['0', '0'] : [group])
  const [head, tail] = address.split('::')
  if (tail === undefined) return split(head)
  const before = split(head)
  const after = split(tail)
  return [...before, ...Array<string>(8 - before.length - after.length).fill('0'), ...after]
}

/**
 * The source a password check is counted against: the client's IPv4
 * address, or the /64 of its IPv6 address, since one host or site commonly
 * holds a whole /64 and could otherwise pose as endless sources. The address
 * is the request's `ip`, so Fastify's `trustProxy` decides whether a proxy's
 * `X-Forwarded-For` counts. Unknown: '' (all such requests share one source).
 */
export function compareSource (ip: string | undefined): string {
  if (ip === undefined || ip === '') return ''
  const address = ip.split('%')[0].toLowerCase()
  if (!isIPv6(address)) return address
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address)
  if (mapped !== null) return mapped[1]
  const prefix = ipv6Groups(address).slice(0, 4).map((group) => Number.parseInt(group, 16).toString(16))
  return `${prefix.join(':')}::/64`
}
