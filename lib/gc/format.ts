import type { GarbageCollectPhase, GarbageCollectProgress, GarbageCollectSummary } from './types.js'

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

/** `1536` -> `1.5 KiB`. */
export function formatBytes (bytes: number): string {
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${value} B` : `${value < 10 ? value.toFixed(1) : Math.round(value)} ${UNITS[unit]}`
}

/** `1234` -> `1.2 s`, `75000` -> `1m15s`, `3600000` -> `1h`. */
export function formatDuration (ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const total = Math.round(ms / 1000)
  const hours = Math.floor(total / 3600)
  const minutes = Math.floor((total % 3600) / 60)
  const seconds = total % 60
  return `${hours > 0 ? `${hours}h` : ''}${minutes > 0 ? `${minutes}m` : ''}${seconds > 0 ? `${seconds}s` : ''}`
}

function plural (count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`
}

/** One line describing a phase at the given progress. */
export function formatProgress (progress: GarbageCollectProgress, phase: GarbageCollectPhase = progress.phase): string {
  switch (phase) {
    case 'mark':
      return `mark: ${plural(progress.repositories, 'repository', 'repositories')}, ${plural(progress.manifests, 'manifest')} read`
    case 'untagged':
      return `untagged: ${plural(progress.untaggedManifests, 'manifest')} no tag reaches`
    case 'scan':
      return `scan: ${plural(progress.blobsScanned, 'blob')} (${progress.blobsMarked} referenced), ${progress.blobsToDelete} to delete (${formatBytes(progress.bytesToFree)} to free)`
    case 'quarantine':
      return `quarantine: setting aside ${plural(progress.blobsToDelete, 'blob')} (${formatBytes(progress.bytesToFree)})`
    case 'verify':
      return 'verify: reading repositories again for concurrent pushes'
    case 'delete':
      return `delete: ${progress.blobsDeleted}/${plural(progress.blobsToDelete, 'blob')} deleted, ${formatBytes(progress.bytesFreed)} freed`
    case 'links':
      return `links: ${plural(progress.linksRemoved, 'dangling link')} removed`
    case 'done':
      return 'done'
  }
}

/** The summary printed at the end, several lines. */
export function formatSummary (summary: GarbageCollectSummary): string {
  const dry = summary.dryRun
  const manifests = [`${summary.manifestsMarked} kept`]
  if (summary.deleteUntagged) manifests.push(`${summary.untaggedManifestsDeleted} untagged ${dry ? 'to delete' : 'deleted'}`)
  if (summary.unreadableManifests > 0) manifests.push(`${summary.unreadableManifests} unreadable`)
  const rows: Array<[string, string]> = [
    ['repositories', String(summary.repositories)],
    ['manifests', `${summary.manifests} (${manifests.join(', ')})`],
    ['blobs', `${summary.blobs} (${summary.blobsMarked} referenced, ${summary.blobsYoung} within the grace period of ${formatDuration(summary.gracePeriodMs)})`],
    [dry ? 'blobs to delete' : 'blobs deleted', `${summary.blobsDeleted} (${formatBytes(summary.bytesFreed)} ${dry ? 'to free' : 'freed'})`],
    [dry ? 'links to remove' : 'links removed', String(summary.layerLinksRemoved)]
  ]
  if (summary.blobsRestored > 0 || summary.manifestsRestored > 0) {
    rows.push(['kept for pushes', `${plural(summary.blobsRestored, 'blob')} and ${plural(summary.manifestsRestored, 'manifest')} referenced by a concurrent push`])
  }
  if (summary.quarantineRecovered > 0) rows.push(['put back', `${plural(summary.quarantineRecovered, 'blob')} left aside by an interrupted collection`])
  const width = Math.max(...rows.map(([label]) => label.length)) + 1
  const title = `garbage-collect ${dry ? 'dry run ' : ''}finished in ${formatDuration(summary.durationMs)}${dry ? ': nothing was changed' : ''}`
  return [title, ...rows.map(([label, value]) => `  ${`${label}:`.padEnd(width)} ${value}`)].join('\n') + '\n'
}
