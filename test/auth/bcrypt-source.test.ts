import t from 'tap'
import { compareSource } from '../../lib/auth/bcrypt-source.js'

t.test('IPv4 addresses are sources as they are, IPv4-mapped ones too', async (t) => {
  t.equal(compareSource('192.0.2.7'), '192.0.2.7')
  t.equal(compareSource('::ffff:192.0.2.7'), '192.0.2.7')
  t.equal(compareSource('::FFFF:192.0.2.7'), '192.0.2.7')
  t.not(compareSource('192.0.2.7'), compareSource('192.0.2.8'))
})

t.test('an IPv6 address counts as its /64, however it is written', async (t) => {
  const source = compareSource('2001:db8:1:2::1')
  t.equal(source, '2001:db8:1:2::/64')
  t.equal(compareSource('2001:0db8:0001:0002:ffff:eeee:dddd:cccc'), source, 'another host of the same /64, written in full')
  t.equal(compareSource('2001:DB8:1:2:0:0:0:99'), source, 'upper case, zeros written out')
  t.equal(compareSource('2001:db8:1:2::1%eth0'), source, 'with a zone')
  t.not(compareSource('2001:db8:1:3::1'), source, 'the next /64')
  t.equal(compareSource('::1'), '0:0:0:0::/64')
  t.equal(compareSource('fe80::'), 'fe80:0:0:0::/64')
  t.equal(compareSource('2001:db8::1.2.3.4'), '2001:db8:0:0::/64', 'an embedded IPv4 tail')
})

t.test('no address: one shared source', async (t) => {
  t.equal(compareSource(undefined), '')
  t.equal(compareSource(''), '')
})
