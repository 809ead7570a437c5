/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. `npm run bench -- --cpu-prof=DIR`):
 * the functions with the most self time, the most inclusive time, and self
 * time by package.
 *
 *   node dist-bench/bench/profile-summary.js <file.cpuprofile> [--top=N]
 */
import { readFileSync } from 'node:fs'

interface CallFrame { functionName: string, url: string, lineNumber: number, columnNumber: number }
interface ProfileNode { id: number, callFrame: CallFrame, children?: number[] }
interface Profile { nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }

const args = process.argv.slice(2)
const file = args.find((arg) => !arg.startsWith('--'))
const topArg = args.find((arg) => arg.startsWith('--top='))
const top = topArg === undefined ? 25 : Number(topArg.slice('--top='.length))
if (file === undefined || !Number.isInteger(top) || top <= 0) {
  process.stderr.write('usage: profile-summary <file.cpuprofile> [--top=N]\n')
  process.exit(2)
}

const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile

function shortUrl (url: string): string {
  if (url === '') return ''
  const nodeModules = url.lastIndexOf('/node_modules/')
  if (nodeModules !== -1) return url.slice(nodeModules + '/node_modules/'.length)
  const dist = url.indexOf('/dist/')
  if (dist !== -1) return url.slice(dist + 1)
  return url.replace(/^file:\/\//, '')
}

function functionKey (frame: CallFrame): string {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName
  const url = shortUrl(frame.url)
  return url === '' ? name : `${name}  ${url}:${frame.lineNumber + 1}`
}

/** Where the time went, coarsely: V8's pseudo-frames, node internals, a package, or our code. */
function category (frame: CallFrame): string {
  if (frame.url === '') return frame.functionName.startsWith('(') ? frame.functionName : '(native)'
  if (frame.url.startsWith('node:')) return 'node internals'
  const match = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(frame.url)
  if (match !== null) return match[1]
  const dist = /\/dist\/([^/]+)\//.exec(frame.url)
  if (dist !== null) return `ours: ${dist[1]}/`
  return shortUrl(frame.url)
}

const byId = new Map<number, ProfileNode>()
const parent = new Map<number, number>()
for (const node of profile.nodes) {
  byId.set(node.id, node)
  for (const child of node.children ?? []) parent.set(child, node.id)
}

const self = new Map<string, number>()
const inclusive = new Map<string, number>()
const categories = new Map<string, number>()
let total = 0
let idle = 0
for (let i = 0; i < profile.samples.length; i++) {
  const delta = (profile.timeDeltas[i + 1] ?? 0) / 1000 // the time until the next sample, in ms
  const node = byId.get(profile.samples[i])
  if (node === undefined) continue
  total += delta
  if (node.callFrame.functionName === '(idle)') idle += delta
  const key = functionKey(node.callFrame)
  self.set(key, (self.get(key) ?? 0) + delta)
  const group = category(node.callFrame)
  categories.set(group, (categories.get(group) ?? 0) + delta)
  const seen = new Set<string>()
  for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
    const frame = byId.get(id)!.callFrame
    if (frame.functionName === '(root)') continue
    const frameKey = functionKey(frame)
    if (seen.has(frameKey)) continue
    seen.add(frameKey)
    inclusive.set(frameKey, (inclusive.get(frameKey) ?? 0) + delta)
  }
}

const busy = total - idle
const pct = (ms: number): string => `${(100 * ms / busy).toFixed(1)}%`.padStart(6)
const ms = (value: number): string => `${value.toFixed(0)} ms`.padStart(9)
const sorted = (map: Map<string, number>): Array<[string, number]> => [...map].sort((a, b) => b[1] - a[1])

const lines: string[] = [
  `${file}: ${(total / 1000).toFixed(1)} s sampled, ${(idle / 1000).toFixed(1)} s idle, ${(busy / 1000).toFixed(1)} s busy (percentages are of busy time)`,
  '',
  `Top ${top} by self time:`,
  ...sorted(self).filter(([key]) => key !== '(idle)').slice(0, top).map(([key, value]) => `${ms(value)} ${pct(value)}  ${key}`),
  '',
  'Self time by package / category:',
  ...sorted(categories).filter(([key]) => key !== '(idle)').slice(0, top).map(([key, value]) => `${ms(value)} ${pct(value)}  ${key}`),
  '',
  `Top ${top} by inclusive time:`,
  ...sorted(inclusive).filter(([key]) => !key.startsWith('(')).slice(0, top).map(([key, value]) => `${ms(value)} ${pct(value)}  ${key}`),
  ''
]
process.stdout.write(lines.join('\n'))
