import t from 'tap'
import { InMemoryDriver } from '../../lib/storage/inmemory.js'
import { TagStore } from '../../lib/store/tags.js'
import { paths } from '../../lib/store/paths.js'
import { parseDigest } from '../../lib/digest.js'
import { sha256 } from '../helpers/registry.js'

t.test('a tag cut short between its index link and its current link is not listed as complete', async (t) => {
  const driver = new InMemoryDriver()
  const tags = new TagStore(driver)
  const digest = parseDigest(sha256(Buffer.from('manifest')))!
  await tags.tag('repo', 'whole', digest)
  // What a crash after the index link and before the current link leaves.
  await driver.putContent(paths.tagIndexLink('repo', 'half', digest), Buffer.from(digest.digest))
  t.same(await tags.list('repo'), ['half', 'whole'], 'both directories exist')
  t.same(await tags.complete('repo', ['half', 'whole']), ['whole'], 'only the tag that names a manifest is complete')
  t.equal(await tags.resolve('repo', 'half'), undefined)
})
