const DURATION_UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, μs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 }

/**
 * Parses a Go duration (`60s`, `1m30s`, `1.5h`, `250ms`, `0`) into
 * milliseconds, rounded up. Returns undefined when it is not one; negative
 * durations are refused.
 */
export function parseGoDuration (text: string): number | undefined {
  if (text === '0' || text === '+0') return 0
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y
  let index = text.startsWith('+') ? 1 : 0
  if (index >= text.length) return undefined
  let nanoseconds = 0
  while (index < text.length) {
    part.lastIndex = index
    const match = part.exec(text)
    if (match === null) return undefined
    nanoseconds += Number.parseFloat(match[1]) * DURATION_UNIT_NS[match[2]]
    index = part.lastIndex
  }
  return Math.ceil(nanoseconds / 1e6)
}
