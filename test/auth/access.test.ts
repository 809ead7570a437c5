import t from 'tap'
import { covers, isPullOnly } from '../../lib/auth/access.js'
import type { Access } from '../../lib/index.js'

const record = (name: string, ...actions: string[]): Access => ({ type: 'repository', name, actions })

t.test('covers: every needed action of every needed record', async (t) => {
  t.ok(covers([], []), 'nothing needed')
  t.ok(covers([record('a', 'pull', 'push')], [record('a', 'pull', 'push')]))
  t.ok(covers([record('a', 'pull'), record('a', 'push')], [record('a', 'pull', 'push')]), 'split across grants')
  t.ok(covers([record('a', '*')], [record('a', 'pull', 'push', 'delete')]), '* covers every action')
  t.ok(covers([record('a', 'push'), record('b', 'pull')], [record('a', 'push'), record('b', 'pull')]))
  t.notOk(covers([], [record('a', 'pull')]))
  t.notOk(covers([record('a', 'pull')], [record('a', 'pull', 'push')]))
  t.notOk(covers([record('a', 'pull', 'push')], [record('a', 'pull'), record('b', 'pull')]), 'the second record')
  t.notOk(covers([record('A', '*')], [record('a', 'pull')]), 'names compare exactly')
  t.notOk(covers([record('a/', '*')], [record('a', 'pull')]))
  t.notOk(covers([{ type: 'registry', name: 'a', actions: ['*'] }], [record('a', 'pull')]), 'types compare exactly')
  t.notOk(covers([{ type: 'registry', name: 'catalog', actions: ['pull'] }], [{ type: 'registry', name: 'catalog', actions: ['*'] }]), 'a needed * needs a granted *')
})

t.test('isPullOnly: repository pull and nothing else', async (t) => {
  t.ok(isPullOnly([record('a', 'pull')]))
  t.ok(isPullOnly([record('a', 'pull'), record('b', 'pull')]))
  t.notOk(isPullOnly([]), 'the base route needs nothing, which is not pull')
  t.notOk(isPullOnly([record('a', 'pull', 'push')]))
  t.notOk(isPullOnly([record('a', 'pull'), record('b', 'push')]))
  t.notOk(isPullOnly([record('a')]))
  t.notOk(isPullOnly([record('a', 'delete')]))
  t.notOk(isPullOnly([{ type: 'registry', name: 'catalog', actions: ['*'] }]))
})
