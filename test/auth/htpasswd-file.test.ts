import t from 'tap'
import bcrypt from 'bcryptjs'
import { bcryptCost, HtpasswdFormatError, parseHtpasswd } from '../../lib/auth/htpasswd-file.js'

const hash = bcrypt.hashSync('secret', 4)

t.test('bcrypt entries in every prefix, comments and blank lines', async (t) => {
  const entries = parseHtpasswd([
    '# users',
    '',
    `alice:${hash.replace('$2b$', '$2y$')}`,
    `  bob:${hash.replace('$2b$', '$2a$')}  `,
    `carol:${hash}\r`,
    'dave.example@x:' + hash
  ].join('\n'))
  t.same([...entries.keys()], ['alice', 'bob', 'carol', 'dave.example@x'])
  t.match(entries.get('alice'), /^\$2y\$04\$/)
  t.equal(bcryptCost(entries.get('bob') as string), 4)
  t.same([...parseHtpasswd('').keys()], [], 'an empty file has no users')
})

t.test('anything that is not a bcrypt entry is refused, naming the line and never the hash', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=', /SHA-1/],
    ['alice:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/', /Apache MD5/],
    ['alice:$1$abc$def', /MD5-crypt/],
    ['alice:$6$salt$hash', /SHA-crypt/],
    ['alice:rqXexS6ZhobKA', /DES crypt/],
    ['alice:hunter2', /plain-text/],
    ['alice:$2x$04$' + 'a'.repeat(53), /bcrypt/],
    ['alice:$2y$04$tooshort', /bcrypt/],
    ['alice:$2y$99$' + 'a'.repeat(53), /bcrypt/],
    ['alice', /is not user:hash/],
    [':' + hash, /no user name/]
  ]
  for (const [line, reason] of cases) {
    const error = t.throws(() => parseHtpasswd(`# header\n${line}\n`)) as HtpasswdFormatError
    t.type(error, HtpasswdFormatError, line)
    t.equal(error.line, 2, `${line}: the line`)
    t.match(error.message, /^line 2 /)
    t.match(error.message, reason, line)
    t.notMatch(error.message, 'hunter2', 'never echoes a password')
  }
})

t.test('a user defined twice is refused', async (t) => {
  t.throws(() => parseHtpasswd(`alice:${hash}\nbob:${hash}\nalice:${hash}`), /line 3 defines user "alice" again \(first on line 1\)/)
})
