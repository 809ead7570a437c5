/** The first index in `sorted` (ascending, by code unit) whose entry is after `after`: a binary search, cheap for big lists. */
export function firstAfter (sorted: readonly string[], after: string): number {
  let low = 0
  let high = sorted.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if (sorted[middle] <= after) low = middle + 1
    else high = middle
  }
  return low
}
