import t from 'tap'
import { InMemoryDriver } from '../../lib/storage/inmemory.js'
import { runDriverSuite } from './driver-suite.js'

runDriverSuite(t, 'inmemory', async () => ({ driver: new InMemoryDriver(), cleanup: async () => {} }))
