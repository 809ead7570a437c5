/**
 * The htpasswd file format, restricted to bcrypt entries: `user:$2y$10$...`
 * per line, blank lines and `#` comments ignored. Any other hash type is
 * refused rather than skipped, so a user the operator added never silently
 * fails to exist.
 */

const BCRYPT = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/

export class HtpasswdFormatError extends Error {
  readonly line: number
  constructor (line: number, problem: string) {
    super(`line ${line} ${problem}`)
    this.name = 'HtpasswdFormatError'
    this.line = line
  }
}

/** Names the kind of a hash that is not bcrypt; the hash itself is never echoed, it may be a plain password. */
function describeHash (hash: string): string {
  if (hash.startsWith('{SHA}')) return 'a SHA-1 ({SHA}) hash'
  if (hash.startsWith('$apr1$')) return 'an Apache MD5 ($apr1$) hash'
  if (hash.startsWith('$1$')) return 'an MD5-crypt ($1$) hash'
  if (hash.startsWith('$5$') || hash.startsWith('$6$')) return 'a SHA-crypt ($5$/$6$) hash'
  if (hash.startsWith('$2')) return 'a malformed or unsupported bcrypt hash'
  if (/^[./0-9A-Za-z]{13}$/.test(hash)) return 'what looks like a DES crypt hash'
  return 'a plain-text password or an unknown hash'
}

/** The bcrypt cost of a valid entry's hash. */
export function bcryptCost (hash: string): number {
  return Number.parseInt(hash.slice(4, 6), 10)
}

/** Parses an htpasswd file into user -> bcrypt hash. Throws HtpasswdFormatError naming the first bad line. */
export function parseHtpasswd (text: string): Map<string, string> {
  const entries = new Map<string, string>()
  const firstSeen = new Map<string, number>()
  const lines = text.split(/\r?\n/)
  for (let index = 0; index < lines.length; index++) {
    const line = index + 1
    const entry = lines[index].trim()
    if (entry === '' || entry.startsWith('#')) continue
    const colon = entry.indexOf(':')
    if (colon === -1) throw new HtpasswdFormatError(line, 'is not user:hash')
    const user = entry.slice(0, colon)
    const hash = entry.slice(colon + 1)
    if (user === '') throw new HtpasswdFormatError(line, 'has no user name')
    if (!BCRYPT.test(hash)) {
      throw new HtpasswdFormatError(line, `(user ${JSON.stringify(user)}) has ${describeHash(hash)}; only bcrypt entries ($2y$, $2a$, $2b$, as htpasswd -B writes) are supported`)
    }
    const earlier = firstSeen.get(user)
    if (earlier !== undefined) throw new HtpasswdFormatError(line, `defines user ${JSON.stringify(user)} again (first on line ${earlier})`)
    firstSeen.set(user, line)
    entries.set(user, hash)
  }
  return entries
}
