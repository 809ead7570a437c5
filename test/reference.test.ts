import t from 'tap'
import fc from 'fast-check'
import { isValidName, isValidTag, MAX_NAME_LENGTH } from '../lib/reference.js'

/** The spec's name grammar, written independently of the module under test. */
const SPEC_NAME = /^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$/

t.test('isValidName: valid names', async (t) => {
  t.equal(MAX_NAME_LENGTH, 255)
  for (const name of [
    'a',
    '0',
    'a/b',
    'a/b/c/d/e',
    'library/alpine',
    'a-b',
    'a--b',
    'a---b',
    'a__b',
    'a_b',
    'a.b',
    'a.b/c_d/e-f/g__h/i--j',
    '0/1',
    'a0b1',
    'a-0',
    'x/y.z',
    'a'.repeat(255),
    `${'a'.repeat(127)}/${'b'.repeat(127)}`
  ]) {
    t.equal(isValidName(name), true, JSON.stringify(name.length > 40 ? `${name.slice(0, 20)}... (${name.length})` : name))
  }
})

t.test('isValidName: invalid names', async (t) => {
  for (const name of [
    '',
    'A',
    'Library/alpine',
    'library/Alpine',
    '..',
    '.',
    'a..b',
    'a/../b',
    'a/./b',
    'a//b',
    '/a',
    'a/',
    '/',
    '-a',
    'a-',
    '_a',
    'a_',
    '.a',
    'a.',
    'a/-b',
    'a-/b',
    'a/.b',
    'a___b',
    'a____b',
    'a._b',
    'a-.b',
    'a.-b',
    'a_-b',
    'a b',
    ' a',
    'a ',
    'a\n',
    'a\nb',
    'a\u0000',
    'a\u0000b',
    'a%2fb',
    'a%2Fb',
    'a:b',
    'a@b',
    'a+b',
    'a\\b',
    'a~b',
    'а', // Cyrillic a
    'ａ', // fullwidth a
    'a\u200bb', // zero-width space
    'é',
    'ß',
    'a'.repeat(256),
    `${'a'.repeat(128)}/${'b'.repeat(127)}`
  ]) {
    t.equal(isValidName(name), false, JSON.stringify(name.length > 40 ? `${name.slice(0, 20)}... (${name.length})` : name))
  }
})

t.test('isValidName: agrees with the spec grammar and length limit (property)', async (t) => {
  const alphabet = fc.constantFrom('a', 'z', '0', '9', '.', '_', '-', '/', 'A', ' ', '%')
  fc.assert(fc.property(fc.array(alphabet, { maxLength: 20 }).map((cs) => cs.join('')), (name) => {
    return isValidName(name) === (name.length > 0 && name.length <= 255 && SPEC_NAME.test(name))
  }), { numRuns: 5000 })
  const component = fc.stringMatching(/^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/)
  fc.assert(fc.property(fc.array(component, { minLength: 1, maxLength: 30 }), (parts) => {
    const name = parts.join('/')
    return isValidName(name) === (name.length <= 255)
  }))
  t.pass('properties hold')
})

// The name check is length-bounded before the regex runs, so hostile input cannot backtrack for long.
t.test('isValidName: long hostile input is refused', async (t) => {
  for (const name of ['a-'.repeat(127) + '!', 'a'.repeat(100_000), `${'a_'.repeat(100)}!`, `${'a/'.repeat(127)}`]) {
    t.equal(isValidName(name), false)
  }
})

t.test('isValidTag', async (t) => {
  for (const tag of [
    'latest',
    'a',
    'A',
    '0',
    '_',
    '_a',
    'v1.2.3',
    'v1.2.3-rc.1',
    'V1_2',
    'a.',
    'a-',
    'a..b',
    'a--',
    '_.-',
    'sha256-abc',
    'a'.repeat(128),
    `_${'-'.repeat(127)}`
  ]) {
    t.equal(isValidTag(tag), true, JSON.stringify(tag.length > 40 ? `${tag.slice(0, 10)}... (${tag.length})` : tag))
  }
  for (const tag of [
    '',
    '.',
    '-',
    '.a',
    '-a',
    'a'.repeat(129),
    `_${'a'.repeat(128)}`,
    'a/b',
    'a:b',
    `sha256:${'a'.repeat(64)}`,
    'a b',
    ' a',
    'a ',
    'a\n',
    'a\u0000',
    'a+b',
    'a@b',
    'a%2fb',
    'ä',
    'ａ',
    'latest\u200b'
  ]) {
    t.equal(isValidTag(tag), false, JSON.stringify(tag.length > 40 ? `${tag.slice(0, 10)}... (${tag.length})` : tag))
  }
  fc.assert(fc.property(fc.stringMatching(/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/), (tag) => isValidTag(tag)))
})
