/** Median of the values; the mean of the middle two for an even count; NaN for none. */
export function median (values: readonly number[]): number {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** A number with `digits` decimals and thousands separators; '—' for NaN. */
export function formatNumber (value: number, digits: number): string {
  if (!Number.isFinite(value)) return '—'
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

/** A markdown table, columns padded to line up in a terminal too. Column 0 is left-aligned, the rest right-aligned. */
export function markdownTable (header: readonly string[], rows: readonly (readonly string[])[]): string {
  const width = (text: string): number => [...text].length
  const widths = header.map((cell, column) => Math.max(width(cell), ...rows.map((row) => width(row[column] ?? ''))))
  const pad = (cell: string, column: number): string => {
    const fill = ' '.repeat(widths[column] - width(cell))
    return column === 0 ? cell + fill : fill + cell
  }
  const line = (cells: readonly string[]): string => `| ${cells.map((cell, column) => pad(cell, column)).join(' | ')} |`
  const rule = `|${widths.map((w, column) => column === 0 ? ` ${'-'.repeat(w)} ` : ` ${'-'.repeat(w - 1)}: `).join('|')}|`
  return [line(header), rule, ...rows.map(line)].join('\n')
}
