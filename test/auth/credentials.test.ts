import t from 'tap'
import { authorization, basicCredentials, bearerToken } from '../../lib/auth/credentials.js'
import { fakeRequest } from '../helpers/auth.js'

t.test('the Authorization header, trimmed; blank is none', async (t) => {
  t.equal(authorization(fakeRequest({})), undefined)
  t.equal(authorization(fakeRequest({ authorization: '  ' })), undefined)
  t.equal(authorization(fakeRequest({ authorization: ' Basic x ' })), 'Basic x')
})

t.test('Basic credentials', async (t) => {
  const encode = (text: string): string => `Basic ${Buffer.from(text).toString('base64')}`
  t.same(basicCredentials(encode('alice:s3cret')), { username: 'alice', password: 's3cret' })
  t.same(basicCredentials(encode('alice:pa:ss:')), { username: 'alice', password: 'pa:ss:' }, 'the password may contain colons')
  t.same(basicCredentials(encode('alice:')), { username: 'alice', password: '' })
  t.same(basicCredentials(`basic ${Buffer.from('bob:x').toString('base64')}`), { username: 'bob', password: 'x' }, 'scheme is case-insensitive')
  t.same(basicCredentials(encode('jürgen:pässword')), { username: 'jürgen', password: 'pässword' }, 'UTF-8')
  t.equal(basicCredentials(undefined), undefined)
  t.equal(basicCredentials(encode('no-colon')), undefined)
  t.equal(basicCredentials(encode(':password')), undefined, 'no user')
  t.equal(basicCredentials('Basic not base64!'), undefined)
  t.equal(basicCredentials(`Bearer ${Buffer.from('a:b').toString('base64')}`), undefined)
})

t.test('Bearer tokens', async (t) => {
  t.equal(bearerToken('Bearer abc.def.ghi'), 'abc.def.ghi')
  t.equal(bearerToken('bearer abc.def-_.ghi'), 'abc.def-_.ghi')
  t.equal(bearerToken(undefined), undefined)
  t.equal(bearerToken('Bearer'), undefined)
  t.equal(bearerToken('Bearer a b'), undefined)
  t.equal(bearerToken('Basic abc'), undefined)
})
