import type { StorageDriver } from '../storage/driver.js'
import { parseDigest, type ParsedDigest } from '../digest.js'
import { deleteIfExists, listNames, writeLink } from './links.js'
import { paths } from './paths.js'

/**
 * The referrers index: for each subject, links to the manifests whose
 * `subject` names it. Kept up to date on manifest PUT and DELETE so a
 * referrers query reads one directory instead of scanning the repository.
 */
export class ReferrersIndex {
  readonly #driver: StorageDriver

  constructor (driver: StorageDriver) {
    this.#driver = driver
  }

  async add (name: string, subject: ParsedDigest, referrer: ParsedDigest): Promise<void> {
    await writeLink(this.#driver, paths.referrerLink(name, subject, referrer), referrer)
  }

  async remove (name: string, subject: ParsedDigest, referrer: ParsedDigest): Promise<void> {
    await deleteIfExists(this.#driver, paths.referrerLink(name, subject, referrer).replace(/\/link$/, ''))
  }

  /** The referrers of a subject, sorted by digest string. */
  async list (name: string, subject: ParsedDigest): Promise<ParsedDigest[]> {
    const root = paths.referrersOf(name, subject)
    const found: ParsedDigest[] = []
    for (const algorithm of await listNames(this.#driver, root)) {
      for (const hex of await listNames(this.#driver, `${root}/${algorithm}`)) {
        const digest = parseDigest(`${algorithm}:${hex}`)
        if (digest !== undefined) found.push(digest)
      }
    }
    return found.sort((a, b) => a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0)
  }
}
