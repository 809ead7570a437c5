import t, { type Test } from 'tap'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  configFileFromArgs,
  loadDistributionConfig,
  parseDistributionConfig,
  parseGoDuration,
  parseListenAddress,
  resolveDistributionConfig
} from '../../lib/config/distribution-config.js'
import { DEFAULT_ROOT_DIRECTORY, RegistryConfigError } from '../../lib/options.js'

/** Asserts that parsing throws a RegistryConfigError naming `option`, and returns its message. */
function configError (t: Test, fn: () => unknown, option: string, messagePattern?: RegExp): string {
  try {
    fn()
  } catch (error) {
    t.type(error, RegistryConfigError)
    t.equal((error as RegistryConfigError).option, option, `names ${option}`)
    t.match((error as Error).message, option)
    if (messagePattern !== undefined) t.match((error as Error).message, messagePattern)
    return (error as Error).message
  }
  t.fail(`expected a RegistryConfigError naming ${option}`)
  return ''
}

t.test('defaults without a file or environment', async (t) => {
  const config = parseDistributionConfig(undefined, {})
  t.same(config.listen, { host: '127.0.0.1', port: 5000 })
  t.equal(config.logLevel, 'info')
  t.same(config.options, { storage: { filesystem: { rootDirectory: DEFAULT_ROOT_DIRECTORY } } })
  t.equal(config.options.uploadState, undefined, 'no secret: the plugin picks a random one and warns')
  t.equal(config.shutdownTimeoutMs, undefined)
  t.equal(config.trustProxy, false)
  t.same(config.warnings, [])
  t.equal(config.configFile, undefined)
})

t.test('an empty file and a file of only comments are the defaults', async (t) => {
  t.same(parseDistributionConfig('', {}).options, parseDistributionConfig(undefined, {}).options)
  t.same(parseDistributionConfig('# nothing here\n', {}).listen, { host: '127.0.0.1', port: 5000 })
})

t.test('a full distribution-style file', async (t) => {
  const config = parseDistributionConfig(`
version: 0.1
log:
  level: debug
  formatter: json
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: 0.0.0.0:5001
  host: https://registry.example.com
  secret: s3cr3t
  relativeurls: true
  draintimeout: 1m30s
catalog:
  maxentries: 250
`, {}, '/etc/registry/config.yml')
  t.same(config.options, {
    storage: { filesystem: { rootDirectory: '/var/lib/registry' } },
    delete: { enabled: true },
    http: { host: 'https://registry.example.com', relativeURLs: true },
    uploadState: { secret: 's3cr3t' },
    limits: { catalogPageSize: 250 }
  })
  t.same(config.listen, { host: '0.0.0.0', port: 5001 })
  t.equal(config.logLevel, 'debug')
  t.equal(config.shutdownTimeoutMs, 90_000)
  t.same(config.warnings, [])
  t.equal(config.configFile, '/etc/registry/config.yml')
})

t.test('scalars keep their text: a numeric-looking secret is not turned into a number', async (t) => {
  t.same(parseDistributionConfig('http:\n  secret: 0123\n', {}).options.uploadState, { secret: '0123' })
  t.same(parseDistributionConfig('http:\n  secret: "null"\n', {}).options.uploadState, { secret: 'null' })
  t.equal(parseDistributionConfig('http:\n  secret: ~\n', {}).options.uploadState, undefined)
  t.equal(parseDistributionConfig('http:\n  secret: ""\n', {}).options.uploadState, undefined, 'an empty secret is unset')
})

t.test('environment overrides', async (t) => {
  const file = `
log:
  level: info
storage:
  filesystem:
    rootdirectory: /from/file
  delete:
    enabled: false
http:
  addr: 127.0.0.1:5000
  secret: from-file
`
  const config = parseDistributionConfig(file, {
    REGISTRY_HTTP_ADDR: ' :6000 ',
    REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/from/env',
    REGISTRY_STORAGE_DELETE_ENABLED: 'true',
    REGISTRY_HTTP_SECRET: 'from-env',
    REGISTRY_LOG_LEVEL: 'warn',
    REGISTRY_HTTP_HOST: 'http://localhost:6000',
    REGISTRY_HTTP_RELATIVEURLS: 'yes',
    REGISTRY_HTTP_DRAINTIMEOUT: '5s',
    PATH: '/usr/bin',
    HOME: '/root'
  })
  t.same(config.listen, { host: '0.0.0.0', port: 6000 }, 'env beats file; :port means all interfaces')
  t.same(config.options.storage, { filesystem: { rootDirectory: '/from/env' } })
  t.same(config.options.delete, { enabled: true })
  t.same(config.options.uploadState, { secret: 'from-env' })
  t.same(config.options.http, { host: 'http://localhost:6000', relativeURLs: true })
  t.equal(config.logLevel, 'warn')
  t.equal(config.shutdownTimeoutMs, 5000)
  t.same(config.warnings, [], 'unrelated variables are not looked at')

  t.test('without a file', async (t) => {
    const config = parseDistributionConfig(undefined, { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/data', REGISTRY_STORAGE_DELETE_ENABLED: 'false' })
    t.same(config.options, { storage: { filesystem: { rootDirectory: '/data' } }, delete: { enabled: false } })
  })

  t.test('REGISTRY_STORAGE switches the driver and keeps the other storage settings', async (t) => {
    const config = parseDistributionConfig('storage:\n  filesystem:\n    rootdirectory: /x\n  delete:\n    enabled: true\n', { REGISTRY_STORAGE: 'inmemory' })
    t.same(config.options.storage, { inmemory: {} })
    t.same(config.options.delete, { enabled: true })
    t.same(config.warnings, [])
  })

  t.test('REGISTRY_STORAGE applies before the more specific variables', async (t) => {
    const config = parseDistributionConfig('storage: inmemory\n', {
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/srv/registry',
      REGISTRY_STORAGE: 'filesystem'
    })
    t.same(config.options.storage, { filesystem: { rootDirectory: '/srv/registry' } })
  })

  t.test('keys match the file case-insensitively; a YAML mapping value is parsed', async (t) => {
    const config = parseDistributionConfig(undefined, { REGISTRY_STORAGE_DELETE: '{enabled: true}' })
    t.same(config.options.delete, { enabled: true })
  })

  t.test('REGISTRY_CONFIGURATION_PATH is not a configuration key', async (t) => {
    t.same(parseDistributionConfig(undefined, { REGISTRY_CONFIGURATION_PATH: '/etc/x.yml' }).warnings, [])
  })
})

t.test('http.addr forms', async (t) => {
  const addr = (value: string): unknown => parseDistributionConfig(`http:\n  addr: "${value}"\n`, {}).listen
  t.same(addr(':5000'), { host: '0.0.0.0', port: 5000 })
  t.same(addr('[::1]:5000'), { host: '::1', port: 5000 })
  t.same(addr('[::]:443'), { host: '::', port: 443 })
  t.same(addr('localhost:8080'), { host: 'localhost', port: 8080 })
  t.same(addr('registry.internal:80'), { host: 'registry.internal', port: 80 })
  t.same(addr('10.1.2.3:0'), { host: '10.1.2.3', port: 0 })
  t.same(parseListenAddress('127.0.0.1:65535'), { host: '127.0.0.1', port: 65535 })
})

t.test('bad http.addr values name http.addr', async (t) => {
  for (const bad of ['5000', 'localhost', '::1:5000', '127.0.0.1:', '127.0.0.1:65536', '127.0.0.1:http', 'bad host:5000', '[nope]:5000', '[::1]5000']) {
    configError(t, () => parseDistributionConfig(`http:\n  addr: "${bad}"\n`, {}), 'http.addr')
  }
  const message = configError(t, () => parseDistributionConfig(undefined, { REGISTRY_HTTP_ADDR: 'nonsense' }), 'http.addr')
  t.match(message, 'REGISTRY_HTTP_ADDR', 'an environment value names its variable')
})

t.test('log level', async (t) => {
  t.equal(parseDistributionConfig('log:\n  level: DEBUG\n', {}).logLevel, 'debug', 'case-insensitive, as in distribution')
  t.equal(parseDistributionConfig('loglevel: error\n', {}).logLevel, 'error', 'the old top-level loglevel')
  t.equal(parseDistributionConfig('loglevel: error\nlog:\n  level: warn\n', {}).logLevel, 'warn', 'log.level wins over loglevel')
  t.equal(parseDistributionConfig(undefined, { REGISTRY_LOGLEVEL: 'debug' }).logLevel, 'debug')
  configError(t, () => parseDistributionConfig('log:\n  level: verbose\n', {}), 'log.level', /error, warn, info, debug/)
  configError(t, () => parseDistributionConfig('loglevel: trace\n', {}), 'loglevel')
  configError(t, () => parseDistributionConfig(undefined, { REGISTRY_LOG_LEVEL: 'loud' }), 'log.level', /REGISTRY_LOG_LEVEL/)
})

t.test('log.formatter', async (t) => {
  t.same(parseDistributionConfig('log:\n  formatter: text\n', {}).warnings, [])
  t.same(parseDistributionConfig('log:\n  formatter: json\n', {}).warnings, [])
  const { warnings } = parseDistributionConfig('log:\n  formatter: logstash\n', {})
  t.equal(warnings.length, 1)
  t.match(warnings[0], /log\.formatter.*logstash.*ignored/)
})

t.test('version', async (t) => {
  t.equal(parseDistributionConfig('version: 0.1\n', {}).logLevel, 'info')
  t.equal(parseDistributionConfig('version: "0.1"\n', {}).logLevel, 'info')
  configError(t, () => parseDistributionConfig('version: 0.2\n', {}), 'version', /0\.1/)
  configError(t, () => parseDistributionConfig('version: 1\n', {}), 'version')
})

t.test('booleans', async (t) => {
  const enabled = (value: string): boolean | undefined => parseDistributionConfig(undefined, { REGISTRY_STORAGE_DELETE_ENABLED: value }).options.delete?.enabled
  for (const yes of ['true', 'True', 'TRUE', 'yes', 'on']) t.equal(enabled(yes), true, yes)
  for (const no of ['false', 'False', 'no', 'off']) t.equal(enabled(no), false, no)
  t.equal(enabled(''), undefined, 'an empty variable is unset')
  const message = configError(t, () => parseDistributionConfig(undefined, { REGISTRY_STORAGE_DELETE_ENABLED: 'maybe' }), 'storage.delete.enabled')
  t.match(message, 'REGISTRY_STORAGE_DELETE_ENABLED')
  t.match(message, '"maybe"')
  configError(t, () => parseDistributionConfig('storage:\n  delete:\n    enabled: 1\n', {}), 'storage.delete.enabled')
  configError(t, () => parseDistributionConfig('http:\n  relativeurls: [true]\n', {}), 'http.relativeurls')
  configError(t, () => parseDistributionConfig(undefined, { REGISTRY_HTTP_RELATIVEURLS: 'sure' }), 'http.relativeurls', /REGISTRY_HTTP_RELATIVEURLS/)
})

t.test('integers', async (t) => {
  t.same(parseDistributionConfig(undefined, { REGISTRY_CATALOG_MAXENTRIES: '50' }).options.limits, { catalogPageSize: 50 })
  t.equal(parseDistributionConfig('catalog:\n  maxentries: 0\n', {}).options.limits, undefined, 'zero means the default, as in distribution')
  configError(t, () => parseDistributionConfig(undefined, { REGISTRY_CATALOG_MAXENTRIES: 'lots' }), 'catalog.maxentries', /REGISTRY_CATALOG_MAXENTRIES/)
  configError(t, () => parseDistributionConfig('catalog:\n  maxentries: 1.5\n', {}), 'catalog.maxentries')
})

t.test('http.host', async (t) => {
  t.same(parseDistributionConfig('http:\n  host: https://r.example.com:5443/\n', {}).options.http, { host: 'https://r.example.com:5443/' })
  configError(t, () => parseDistributionConfig('http:\n  host: registry.example.com\n', {}), 'http.host')
  configError(t, () => parseDistributionConfig('http:\n  host: https://r.example.com/sub\n', {}), 'http.host')
  configError(t, () => parseDistributionConfig('http:\n  host: ftp://r.example.com\n', {}), 'http.host')
})

t.test('http.secret is never echoed', async (t) => {
  const message = configError(t, () => parseDistributionConfig('http:\n  secret:\n    nested: hunter2\n', {}), 'http.secret')
  t.notMatch(message, 'hunter2')
  t.same(parseDistributionConfig(undefined, { REGISTRY_HTTP_SECRET: '[{not yaml' }).options.uploadState, { secret: '[{not yaml' }, 'a secret from the environment is taken as it is')
})

t.test('http.draintimeout', async (t) => {
  const drain = (value: string): number | undefined => parseDistributionConfig(`http:\n  draintimeout: ${value}\n`, {}).shutdownTimeoutMs
  t.equal(drain('60s'), 60_000)
  t.equal(drain('1m30s'), 90_000)
  t.equal(drain('1.5h'), 5_400_000)
  t.equal(drain('250ms'), 250)
  t.equal(drain('0'), undefined, '0 is unset, as in distribution')
  t.equal(drain('0s'), undefined)
  for (const bad of ['60', '-5s', 'soon', '5 s', '1d', 's']) {
    configError(t, () => drain(bad), 'http.draintimeout', /duration/)
  }
  configError(t, () => parseDistributionConfig(undefined, { REGISTRY_HTTP_DRAINTIMEOUT: '10' }), 'http.draintimeout', /REGISTRY_HTTP_DRAINTIMEOUT/)
  t.equal(parseGoDuration('1h2m3s4ms5us6ns'), Math.ceil(3_723_004.005006))
  t.equal(parseGoDuration('.5s'), 500)
  t.equal(parseGoDuration(''), undefined)
})

t.test('http.net', async (t) => {
  t.equal(parseDistributionConfig('http:\n  net: tcp\n', {}).warnings.length, 0)
  configError(t, () => parseDistributionConfig('http:\n  net: unix\n  addr: /run/registry.sock\n', {}), 'http.net')
})

t.test('http.trustproxy (an extension): off unless configured', async (t) => {
  t.equal(parseDistributionConfig('http:\n  trustproxy: true\n', {}).trustProxy, true)
  t.same(parseDistributionConfig(undefined, { REGISTRY_HTTP_TRUSTPROXY: '10.0.0.0/8, 127.0.0.1, loopback' }).trustProxy, ['10.0.0.0/8', '127.0.0.1', 'loopback'])
  t.same(parseDistributionConfig('http:\n  trustproxy: [192.168.0.1, "::1"]\n', {}).trustProxy, ['192.168.0.1', '::1'])
  configError(t, () => parseDistributionConfig('http:\n  trustproxy: everyone\n', {}), 'http.trustproxy')
  configError(t, () => parseDistributionConfig('http:\n  trustproxy: 10.0.0.0/99\n', {}), 'http.trustproxy')
})

t.test('storage drivers', async (t) => {
  t.same(parseDistributionConfig('storage:\n  inmemory:\n', {}).options.storage, { inmemory: {} })
  t.same(parseDistributionConfig('storage:\n  inmemory: {}\n', {}).options.storage, { inmemory: {} })
  t.same(parseDistributionConfig('storage: inmemory\n', {}).options.storage, { inmemory: {} }, 'the short form')
  t.same(parseDistributionConfig('storage:\n  filesystem:\n', {}).options.storage, { filesystem: { rootDirectory: DEFAULT_ROOT_DIRECTORY } })
  t.same(parseDistributionConfig('storage:\n  delete:\n    enabled: true\n', {}).options.storage, { filesystem: { rootDirectory: DEFAULT_ROOT_DIRECTORY } }, 'no driver means the filesystem default')

  const message = configError(t, () => parseDistributionConfig('storage:\n  filesystem:\n    rootdirectory: /a\n  inmemory: {}\n', {}), 'storage', /more than one/)
  t.match(message, 'filesystem')
  t.match(message, 'inmemory')
  configError(t, () => parseDistributionConfig('storage:\n  filesystem:\n    rootdirectory: /a\n', { REGISTRY_STORAGE_INMEMORY: '{}' }), 'storage', /more than one.*REGISTRY_STORAGE_INMEMORY/)
  configError(t, () => parseDistributionConfig('storage:\n  azure:\n    accountname: a\n', {}), 'storage.azure', /not supported/)
  configError(t, () => parseDistributionConfig('storage:\n  floppy: {}\n', {}), 'storage.floppy', /not a known storage driver/)
  configError(t, () => parseDistributionConfig(undefined, { REGISTRY_STORAGE: 'gcs' }), 'storage.gcs', /REGISTRY_STORAGE/)
  configError(t, () => parseDistributionConfig('storage:\n  filesystem: /data\n', {}), 'storage.filesystem', /mapping/)
})

t.test('storage.s3: distribution\'s keys', async (t) => {
  const config = parseDistributionConfig(`
storage:
  s3:
    region: eu-west-1
    regionendpoint: http://rgw.internal:7480
    bucket: registry
    accesskey: AKIA0123
    secretkey: s3cr3t/key
    rootdirectory: /prod/registry
    forcepathstyle: true
    secure: false
    skipverify: false
    v4auth: true
    chunksize: 20971520
    multipartcopychunksize: 33554432
    multipartcopythresholdsize: 33554432
    multipartcopymaxconcurrency: 10
  delete:
    enabled: true
`, {})
  t.same(config.options.storage, {
    s3: {
      bucket: 'registry',
      region: 'eu-west-1',
      regionendpoint: 'http://rgw.internal:7480',
      accesskey: 'AKIA0123',
      secretkey: 's3cr3t/key',
      rootdirectory: '/prod/registry',
      forcepathstyle: true,
      secure: false,
      skipverify: false,
      chunksize: 20971520,
      multipartcopychunksize: 33554432,
      multipartcopythresholdsize: 33554432,
      multipartcopymaxconcurrency: 10
    }
  })
  t.same(config.options.delete, { enabled: true })
  t.same(config.warnings, [])

  // The minimum: a bucket and a region (or an endpoint).
  t.same(parseDistributionConfig('storage:\n  s3:\n    bucket: b\n    region: us-east-1\n', {}).options.storage, { s3: { bucket: 'b', region: 'us-east-1' } })
  t.same(parseDistributionConfig('storage:\n  s3:\n    bucket: b\n    regionendpoint: 127.0.0.1:7480\n', {}).options.storage, { s3: { bucket: 'b', regionendpoint: '127.0.0.1:7480' } })
  // Ours: a smaller part minimum for servers configured to accept one.
  t.same(parseDistributionConfig('storage:\n  s3:\n    bucket: b\n    region: r\n    minpartsize: 65536\n    chunksize: 65536\n', {}).options.storage, { s3: { bucket: 'b', region: 'r', minpartsize: 65536, chunksize: 65536 } })
})

t.test('storage.s3 from REGISTRY_STORAGE_S3_* environment variables', async (t) => {
  const env = {
    REGISTRY_STORAGE: 's3',
    REGISTRY_STORAGE_S3_BUCKET: 'env-bucket',
    REGISTRY_STORAGE_S3_REGIONENDPOINT: 'http://127.0.0.1:7050',
    REGISTRY_STORAGE_S3_ACCESSKEY: 'testaccesskey',
    REGISTRY_STORAGE_S3_SECRETKEY: 'testsecretkey123',
    REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'true',
    REGISTRY_STORAGE_S3_CHUNKSIZE: '5242880',
    REGISTRY_STORAGE_S3_ROOTDIRECTORY: '/from-env'
  }
  const fromEnv = parseDistributionConfig(undefined, env)
  t.same(fromEnv.options.storage, {
    s3: {
      bucket: 'env-bucket',
      regionendpoint: 'http://127.0.0.1:7050',
      accesskey: 'testaccesskey',
      secretkey: 'testsecretkey123',
      rootdirectory: '/from-env',
      forcepathstyle: true,
      chunksize: 5242880
    }
  })
  t.same(fromEnv.warnings, [])

  // REGISTRY_STORAGE=s3 replaces the file's filesystem driver and keeps its delete setting.
  const file = 'storage:\n  filesystem:\n    rootdirectory: /data\n  delete:\n    enabled: true\n'
  const switched = parseDistributionConfig(file, env)
  t.equal((switched.options.storage as { s3: { bucket: string } }).s3.bucket, 'env-bucket')
  t.same(switched.options.delete, { enabled: true })

  // Single keys override the file's.
  const s3File = 'storage:\n  s3:\n    bucket: file-bucket\n    region: eu-west-1\n    chunksize: 10485760\n'
  const overridden = parseDistributionConfig(s3File, { REGISTRY_STORAGE_S3_BUCKET: 'other', REGISTRY_STORAGE_S3_CHUNKSIZE: '6291456' })
  t.same(overridden.options.storage, { s3: { bucket: 'other', region: 'eu-west-1', chunksize: 6291456 } })

  configError(t, () => parseDistributionConfig(s3File, { REGISTRY_STORAGE_S3_CHUNKSIZE: '1000' }), 'storage.s3.chunksize', /REGISTRY_STORAGE_S3_CHUNKSIZE/)
  configError(t, () => parseDistributionConfig(s3File, { REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'maybe' }), 'storage.s3.forcepathstyle', /true or false/)
})

t.test('storage.s3 values the driver cannot use stop the registry, naming the key', async (t) => {
  const s3 = (lines: string): string => `storage:\n  s3:\n${lines.split('\n').map((line) => `    ${line}`).join('\n')}\n`
  configError(t, () => parseDistributionConfig(s3('region: r'), {}), 'storage.s3.bucket', /must be set/)
  configError(t, () => parseDistributionConfig(s3('bucket: b'), {}), 'storage.s3.region', /must be set/)
  configError(t, () => parseDistributionConfig(s3('bucket: b\nregion: r\nchunksize: 1048576'), {}), 'storage.s3.chunksize', /5242880/)
  configError(t, () => parseDistributionConfig(s3('bucket: b\nregion: r\nchunksize: ten'), {}), 'storage.s3.chunksize', /integer/)
  configError(t, () => parseDistributionConfig(s3('bucket: b\nregion: r\nmultipartcopythresholdsize: 6000000000'), {}), 'storage.s3.multipartcopythresholdsize')
  configError(t, () => parseDistributionConfig(s3('bucket: b\nregion: r\naccesskey: only-the-key'), {}), 'storage.s3.secretkey', /both/)
  configError(t, () => parseDistributionConfig(s3('bucket: b\nregionendpoint: ftp://x'), {}), 'storage.s3.regionendpoint', /http/)
  configError(t, () => parseDistributionConfig(s3('bucket: b\nregion: r\nv4auth: false'), {}), 'storage.s3.v4auth', /Version 4/)
  configError(t, () => parseDistributionConfig(s3('bucket: b\nregion: r\nencrypt: true'), {}), 'storage.s3.encrypt', /refusing/)
  // A misspelt protection is refused, not ignored.
  configError(t, () => parseDistributionConfig(s3('bucket: b\nregion: r\nencrpyt: true'), {}), 'storage.s3.encrpyt', /resembles "storage\.s3\.encrypt"/)
  configError(t, () => parseDistributionConfig(s3('bucket: b\nregion: r\nKeyID: k'), {}), 'storage.s3.KeyID', /resembles "storage\.s3\.keyid"/)
  configError(t, () => parseDistributionConfig(s3('bucket: b\nregion: r\nkeyid: arn:aws:kms:x'), {}), 'storage.s3.keyid', /refusing/)
  configError(t, () => parseDistributionConfig(s3('bucket: b\nregion: r\nusefipsendpoint: true'), {}), 'storage.s3.usefipsendpoint', /refusing/)
  const secret = configError(t, () => parseDistributionConfig(s3('bucket: b\nregion: r\nsecretkey: do-not-print-me'), {}), 'storage.s3.accesskey')
  t.notMatch(secret, /do-not-print-me/, 'the secret key is never echoed')

  // Harmless settings we cannot honour are ignored with a warning; encrypt: false is simply the default.
  const { warnings, options } = parseDistributionConfig(s3('bucket: b\nregion: r\nencrypt: false\nstorageclass: STANDARD_IA\nobjectacl: private\nloglevel: debug\ncolor: blue'), {})
  t.same(options.storage, { s3: { bucket: 'b', region: 'r' } })
  for (const key of ['storageclass', 'objectacl', 'loglevel']) {
    t.ok(warnings.some((warning) => warning.includes(`"storage.s3.${key}"`) && /not supported yet/.test(warning)), key)
  }
  t.ok(warnings.some((warning) => warning.includes('"storage.s3.color"') && /not a known configuration key/.test(warning)))
})

t.test('storage settings not supported yet are accepted with a warning', async (t) => {
  const { warnings, options } = parseDistributionConfig(`
storage:
  filesystem:
    rootdirectory: /data
    maxthreads: 100
  maintenance:
    uploadpurging:
      enabled: true
      age: 168h
    readonly:
      enabled: false
  cache:
    blobdescriptor: inmemory
  redirect:
    disable: true
`, {})
  t.same(options.storage, { filesystem: { rootDirectory: '/data' } })
  t.same(options.cache, { links: 'storage' }, 'storage.cache.blobdescriptor: inmemory is the default link cache')
  t.same(options.maintenance, { uploadPurging: { enabled: true, age: 168 * 3600_000 }, readOnly: { enabled: false } })
  t.same(options.redirect, { disable: true }, 'storage.redirect.disable')
  t.equal(warnings.length, 1)
  t.ok(warnings.some((warning) => warning.includes('"storage.filesystem.maxthreads"') && /not supported yet/.test(warning)))
})

t.test('storage.maintenance: upload purging and read-only mode', async (t) => {
  t.equal(parseDistributionConfig(undefined, {}).options.maintenance, undefined, 'nothing configured: the plugin\'s defaults, distribution\'s')
  const full = parseDistributionConfig(`
storage:
  inmemory:
  maintenance:
    uploadpurging:
      enabled: true
      age: 72h
      interval: 12h
      dryrun: true
    readonly:
      enabled: true
`, {})
  t.same(full.options.maintenance, { uploadPurging: { enabled: true, age: 72 * 3600_000, interval: 12 * 3600_000, dryRun: true }, readOnly: { enabled: true } })
  t.same(full.warnings, [])
  t.same(parseDistributionConfig('storage:\n  maintenance:\n    uploadpurging:\n      enabled: false\n', {}).options.maintenance, { uploadPurging: { enabled: false } })
  t.same(parseDistributionConfig('storage:\n  maintenance:\n    uploadpurging:\n      age: 1000h\n', {}).options.maintenance, { uploadPurging: { age: 1000 * 3600_000 } }, 'an age past the longest timer is fine')

  const env = parseDistributionConfig(undefined, {
    REGISTRY_STORAGE_MAINTENANCE_READONLY: '{"enabled": true}',
    REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_INTERVAL: '30m',
    REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_DRYRUN: 'true'
  })
  t.same(env.options.maintenance, { uploadPurging: { interval: 30 * 60_000, dryRun: true }, readOnly: { enabled: true } }, 'from the environment, a mapping value included, as distribution documents')
  // REGISTRY_STORAGE switching the driver keeps maintenance.
  t.same(parseDistributionConfig('storage:\n  filesystem:\n    rootdirectory: /x\n  maintenance:\n    readonly:\n      enabled: true\n', { REGISTRY_STORAGE: 'inmemory' }).options.maintenance, { readOnly: { enabled: true } })

  configError(t, () => parseDistributionConfig('storage:\n  maintenance:\n    uploadpurging:\n      age: 0\n', {}), 'storage.maintenance.uploadpurging.age', /more than 0/)
  configError(t, () => parseDistributionConfig('storage:\n  maintenance:\n    uploadpurging:\n      interval: 0s\n', {}), 'storage.maintenance.uploadpurging.interval', /more than 0/)
  configError(t, () => parseDistributionConfig('storage:\n  maintenance:\n    uploadpurging:\n      interval: 600h\n', {}), 'storage.maintenance.uploadpurging.interval', /596h/)
  configError(t, () => parseDistributionConfig('storage:\n  maintenance:\n    uploadpurging:\n      age: a week\n', {}), 'storage.maintenance.uploadpurging.age', /duration/)
  configError(t, () => parseDistributionConfig('storage:\n  maintenance:\n    uploadpurging:\n      dryrun: maybe\n', {}), 'storage.maintenance.uploadpurging.dryrun', /true or false/)
  configError(t, () => parseDistributionConfig('storage:\n  maintenance:\n    readonly:\n      enabled: sometimes\n', {}), 'storage.maintenance.readonly.enabled', /true or false/)
  configError(t, () => parseDistributionConfig(undefined, { REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE: '-1h' }), 'storage.maintenance.uploadpurging.age', /REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE/)
  const unknown = parseDistributionConfig('storage:\n  maintenance:\n    uploadpurging:\n      agee: 1h\n    other: 1\n', {})
  t.equal(unknown.warnings.length, 2)
  for (const key of ['storage.maintenance.uploadpurging.agee', 'storage.maintenance.other']) {
    t.ok(unknown.warnings.some((warning) => warning.includes(`"${key}"`) && /not a known configuration key/.test(warning)), key)
  }
  // A misspelt key in read-only mode, or a misspelt readonly, could leave the registry writable: refused.
  configError(t, () => parseDistributionConfig('storage:\n  maintenance:\n    readonly:\n      enable: true\n', {}), 'storage.maintenance.readonly.enable', /read-only.*never ignored/)
  configError(t, () => parseDistributionConfig('storage:\n  maintenance:\n    readonly:\n      enabled: true\n      Enabled: false\n', {}), 'storage.maintenance.readonly.Enabled', /never ignored/)
  configError(t, () => parseDistributionConfig(undefined, { REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLE: 'true' }), 'storage.maintenance.readonly.enable', /REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLE/)
  for (const key of ['readOnly', 'read-only', 'readonyl', 'READONLY']) {
    configError(t, () => parseDistributionConfig(`storage:\n  maintenance:\n    ${key}:\n      enabled: true\n`, {}), `storage.maintenance.${key}`, /resembles "storage\.maintenance\.readonly"/)
  }
  configError(t, () => parseDistributionConfig('maintenance:\n  readonly:\n    enabled: true\n', {}), 'maintenance', /storage\.maintenance/)
})

t.test('http.debug: the debug server, with Prometheus metrics when enabled', async (t) => {
  const none = parseDistributionConfig('http:\n  debug:\n    prometheus:\n      enabled: true\n', {})
  t.equal(none.debug, undefined)
  t.equal(none.options.metrics, undefined)
  t.ok(none.warnings.some((warning) => warning.includes('"http.debug.prometheus.enabled"') && /http.debug.addr is not set/.test(warning)))

  const debug = parseDistributionConfig('http:\n  addr: :5000\n  debug:\n    addr: 127.0.0.1:5001\n', {})
  t.same(debug.debug, { listen: { host: '127.0.0.1', port: 5001 } }, 'health only; no metrics')
  t.equal(debug.options.metrics, undefined)
  t.same(debug.warnings, [])

  const metrics = parseDistributionConfig('http:\n  debug:\n    addr: :5001\n    prometheus:\n      enabled: true\n', {})
  t.same(metrics.debug, { listen: { host: '0.0.0.0', port: 5001 }, metricsPath: '/metrics' })
  t.same(metrics.options.metrics, { collectDefaultMetrics: true }, 'process metrics beside the registry\'s, as distribution serves Go\'s')

  const env = parseDistributionConfig(undefined, { REGISTRY_HTTP_DEBUG_ADDR: 'localhost:5001', REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED: 'true', REGISTRY_HTTP_DEBUG_PROMETHEUS_PATH: '/prom' })
  t.same(env.debug, { listen: { host: 'localhost', port: 5001 }, metricsPath: '/prom' })

  configError(t, () => parseDistributionConfig('http:\n  debug:\n    addr: nowhere\n', {}), 'http.debug.addr', /host:port/)
  configError(t, () => parseDistributionConfig(undefined, { REGISTRY_HTTP_DEBUG_ADDR: '127.0.0.1:5000' }), 'http.debug.addr', /must differ from http.addr/)
  configError(t, () => parseDistributionConfig('http:\n  debug:\n    addr: :5001\n    prometheus:\n      path: metrics\n', {}), 'http.debug.prometheus.path', /starting with \//)
  configError(t, () => parseDistributionConfig('http:\n  debug:\n    addr: :5001\n    prometheus:\n      path: /debug/health\n', {}), 'http.debug.prometheus.path', /must differ/)
  configError(t, () => parseDistributionConfig('http:\n  debug:\n    addr: :5001\n    prometheus:\n      enabled: yes please\n', {}), 'http.debug.prometheus.enabled', /true or false/)
  t.ok(parseDistributionConfig('http:\n  debug:\n    addr: :5001\n    pprof:\n      enabled: true\n', {}).warnings.some((warning) => warning.includes('"http.debug.pprof"')))
})

t.test('health.storagedriver: the storage check the debug server reports', async (t) => {
  const checked = parseDistributionConfig('http:\n  debug:\n    addr: :5001\nhealth:\n  storagedriver:\n    enabled: true\n    interval: 30s\n    threshold: 3\n', {})
  t.same(checked.debug, { listen: { host: '0.0.0.0', port: 5001 }, storageHealth: { interval: 30_000, threshold: 3 } })
  t.same(checked.warnings, [])
  const defaults = parseDistributionConfig(undefined, { REGISTRY_HTTP_DEBUG_ADDR: ':5001', REGISTRY_HEALTH_STORAGEDRIVER_ENABLED: 'true', REGISTRY_HEALTH_STORAGEDRIVER_THRESHOLD: '0' })
  t.same(defaults.debug?.storageHealth, {}, 'threshold 0 is any failure, the default')
  const off = parseDistributionConfig('http:\n  debug:\n    addr: :5001\nhealth:\n  storagedriver:\n    enabled: false\n    interval: 30s\n', {})
  t.equal(off.debug?.storageHealth, undefined)

  const nowhere = parseDistributionConfig('health:\n  storagedriver:\n    enabled: true\n', {})
  t.equal(nowhere.debug, undefined)
  t.ok(nowhere.warnings.some((warning) => warning.includes('"health.storagedriver.enabled"') && /http.debug.addr is not set/.test(warning)))

  const unsupported = parseDistributionConfig('health:\n  file:\n    - file: /tmp/down\n  http:\n    - uri: http://x\n  tcp:\n    - addr: x:1\n', {})
  for (const key of ['health.file', 'health.http', 'health.tcp']) {
    t.ok(unsupported.warnings.some((warning) => warning.includes(`"${key}"`) && /not supported yet/.test(warning)), key)
  }
  configError(t, () => parseDistributionConfig('health:\n  storagedriver:\n    interval: 0s\n', {}), 'health.storagedriver.interval', /more than 0/)
  configError(t, () => parseDistributionConfig('health:\n  storagedriver:\n    threshold: -1\n', {}), 'health.storagedriver.threshold', /0 or more/)
})

t.test('http.ratelimit (an extension): per-client limits, off unless configured', async (t) => {
  t.equal(parseDistributionConfig(undefined, {}).options.rateLimit, undefined)
  t.same(parseDistributionConfig('http:\n  ratelimit:\n    max: 100\n', {}).options.rateLimit, { max: 100 })
  t.same(parseDistributionConfig('http:\n  ratelimit:\n    max: 100\n    window: 10s\n    keyby: user\n', {}).options.rateLimit, { max: 100, timeWindow: 10_000, keyBy: 'user' })
  t.same(parseDistributionConfig(undefined, { REGISTRY_HTTP_RATELIMIT_MAX: '5', REGISTRY_HTTP_RATELIMIT_WINDOW: '1m' }).options.rateLimit, { max: 5, timeWindow: 60_000 })
  t.equal(parseDistributionConfig('http:\n  ratelimit:\n    enabled: false\n    max: 100\n', {}).options.rateLimit, undefined)
  t.same(parseDistributionConfig('http:\n  ratelimit:\n    enabled: true\n    max: 1\n', {}).warnings, [])
  configError(t, () => parseDistributionConfig('http:\n  ratelimit:\n    window: 1m\n', {}), 'http.ratelimit.max', /must be set/)
  configError(t, () => parseDistributionConfig('http:\n  ratelimit:\n    enabled: true\n', {}), 'http.ratelimit.max', /must be set/)
  configError(t, () => parseDistributionConfig('http:\n  ratelimit:\n    max: 0\n', {}), 'http.ratelimit.max', /1 or more/)
  configError(t, () => parseDistributionConfig('http:\n  ratelimit:\n    max: lots\n', {}), 'http.ratelimit.max', /integer/)
  configError(t, () => parseDistributionConfig('http:\n  ratelimit:\n    max: 1\n    keyby: token\n', {}), 'http.ratelimit.keyby', /ip or user/)
  configError(t, () => parseDistributionConfig('http:\n  ratelimit:\n    max: 1\n    window: 0\n', {}), 'http.ratelimit.window', /more than 0/)
})

t.test('settings whose absence would let in what the operator kept out stop the registry', async (t) => {
  configError(t, () => parseDistributionConfig('auth:\n  ldap:\n    url: ldap://x\n', {}), 'auth.ldap', /refusing/)
  configError(t, () => parseDistributionConfig('http:\n  tls:\n    certificate: /c.pem\n    key: /k.pem\n', {}), 'http.tls', /refusing/)
  configError(t, () => parseDistributionConfig('proxy:\n  remoteurl: https://registry-1.docker.io\n', {}), 'proxy', /refusing/)
  configError(t, () => parseDistributionConfig(undefined, { REGISTRY_AUTH: 'htpasswd' }), 'auth.htpasswd.realm', /REGISTRY_AUTH/)
  t.same(parseDistributionConfig('http:\n  tls: {}\n', {}).warnings, [], 'an empty tls section is nothing configured, as in distribution')
  configError(t, () => parseDistributionConfig('accesscontrol:\n  rules: []\n', {}), 'accesscontrol', /not supported yet/)
  configError(t, () => parseDistributionConfig('accesscontrol: {}\n', {}), 'accesscontrol', /not supported yet/)
  configError(t, () => parseDistributionConfig(undefined, { REGISTRY_ACCESSCONTROL: '{}' }), 'accesscontrol', /REGISTRY_ACCESSCONTROL/)
})

t.test('unknown keys are reported as warnings, never silently ignored', async (t) => {
  const { warnings } = parseDistributionConfig(`
version: 0.1
colour: blue
http:
  addr: :5000
  adress: :6000
log:
  levle: debug
storage:
  filesystem:
    rootdir: /x
  delete:
    enable: true
notifications:
  endpoints:
    - name: alistener
      url: https://listener.example.com/event
`, { REGISTRY_HTTP_PORT: '5000', REGISTRY__WEIRD: 'x' })
  const expected = ['colour', 'http.adress', 'log.levle', 'storage.filesystem.rootdir', 'storage.delete.enable', 'http.port']
  for (const key of expected) {
    t.ok(warnings.some((warning) => warning.includes(`"${key}"`) && /not a known configuration key/.test(warning)), key)
  }
  t.ok(warnings.some((warning) => warning.includes('"http.port"') && warning.includes('REGISTRY_HTTP_PORT')), 'an environment key names its variable')
  t.notOk(warnings.some((warning) => warning.includes('"notifications')), 'notifications are supported')
  t.ok(warnings.some((warning) => warning.includes('REGISTRY__WEIRD')))
  t.equal(warnings.length, expected.length + 1)

  const kubernetes = parseDistributionConfig(undefined, { REGISTRY_PORT: 'tcp://10.0.0.1:5000', REGISTRY_PORT_5000_TCP_PORT: '5000', REGISTRY_SERVICE_HOST: '10.0.0.1' }).warnings
  t.equal(kubernetes.length, 2, 'Kubernetes service variables are warned about, not fatal')
  t.match(kubernetes.join('\n'), 'REGISTRY_PORT_5000_TCP_PORT')
  t.match(kubernetes.join('\n'), 'REGISTRY_SERVICE_HOST')
  t.notOk(warnings.some((warning) => warning.includes('listener.example.com')), 'values are not echoed')
})

t.test('a file that is not valid YAML or not a mapping', async (t) => {
  configError(t, () => parseDistributionConfig('http: [\n', {}, 'c.yml'), 'config file', /c\.yml.*YAML/)
  configError(t, () => parseDistributionConfig('http:\n  addr: a\nhttp:\n  addr: b\n', {}), 'config file', /unique/)
  configError(t, () => parseDistributionConfig('- a\n- b\n', {}), 'config file', /mapping/)
  configError(t, () => parseDistributionConfig('http: 5000\n', {}), 'http', /mapping/)
  configError(t, () => parseDistributionConfig(undefined, { REGISTRY_HTTP: '{addr: [' }), 'http', /REGISTRY_HTTP/)
})

t.test('YAML anchors and merge keys work as in distribution', async (t) => {
  const config = parseDistributionConfig('x-common: &fs\n  rootdirectory: /shared\nstorage:\n  filesystem:\n    <<: *fs\n', {})
  t.same(config.options.storage, { filesystem: { rootDirectory: '/shared' } })
  t.equal(config.warnings.length, 1, 'the anchor holder is an unknown key')
})

t.test('command line and file loading', async (t) => {
  t.equal(configFileFromArgs([], {}), undefined)
  t.equal(configFileFromArgs(['config.yml'], {}), 'config.yml')
  t.equal(configFileFromArgs(['serve', '/etc/distribution/config.yml'], {}), '/etc/distribution/config.yml')
  t.equal(configFileFromArgs(['serve'], {}), undefined)
  t.equal(configFileFromArgs([], { REGISTRY_CONFIGURATION_PATH: '/from/env.yml' }), '/from/env.yml')
  t.equal(configFileFromArgs(['arg.yml'], { REGISTRY_CONFIGURATION_PATH: '/from/env.yml' }), 'arg.yml', 'the argument wins')
  configError(t, () => configFileFromArgs(['--port', '5000'], {}), 'command line', /--port/)
  configError(t, () => configFileFromArgs(['a.yml', 'b.yml'], {}), 'command line')
  configError(t, () => configFileFromArgs(['garbage-collect', 'c.yml'], {}), 'command line')

  const dir = await mkdtemp(join(tmpdir(), 'distribution-config-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = join(dir, 'config.yml')
  await writeFile(file, 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /from/file\nhttp:\n  addr: 127.0.0.1:5555\n')

  const loaded = await loadDistributionConfig(file, { REGISTRY_HTTP_ADDR: '127.0.0.1:6666' })
  t.same(loaded.listen, { host: '127.0.0.1', port: 6666 })
  t.same(loaded.options.storage, { filesystem: { rootDirectory: '/from/file' } })
  t.equal(loaded.configFile, file)

  const resolved = await resolveDistributionConfig(['serve', file], {})
  t.same(resolved.listen, { host: '127.0.0.1', port: 5555 })

  await t.rejects(loadDistributionConfig(join(dir, 'missing.yml'), {}), { name: 'RegistryConfigError', option: 'config file', message: /missing\.yml.*ENOENT/ })
  await t.rejects(resolveDistributionConfig(['--help'], {}), { name: 'RegistryConfigError', option: 'command line' })
})

t.test('config.example.yml is valid and warns about nothing', async (t) => {
  const file = fileURLToPath(new URL('../../config.example.yml', import.meta.url))
  const config = await loadDistributionConfig(file, {})
  t.same(config.warnings, [])
  t.same(config.listen, { host: '0.0.0.0', port: 5000 })
  t.same(config.options.storage, { filesystem: { rootDirectory: '/var/lib/registry' } })
  t.equal(config.shutdownTimeoutMs, 60_000)
})

t.test('auth: distribution\'s silly, htpasswd and token sections, and anonymouspull', async (t) => {
  t.same(parseDistributionConfig('auth:\n  silly:\n    realm: https://auth.test/token\n    service: registry.test\n', {}).options.auth,
    { silly: { realm: 'https://auth.test/token', service: 'registry.test' } })
  t.same(parseDistributionConfig('auth:\n  htpasswd:\n    realm: Registry Realm\n    path: /auth/htpasswd\n  anonymouspull: true\n', {}).options.auth,
    { htpasswd: { realm: 'Registry Realm', path: '/auth/htpasswd' }, anonymousPull: true })
  const token = parseDistributionConfig(`
auth:
  token:
    realm: https://auth.test/token
    service: registry.test
    issuer: auth.test
    rootcertbundle: /certs/bundle.pem
    jwks: /certs/jwks.json
    signingalgorithms: [RS256, ES256]
`, {})
  t.same(token.options.auth, { token: { realm: 'https://auth.test/token', service: 'registry.test', issuer: 'auth.test', rootCertBundle: '/certs/bundle.pem', jwks: '/certs/jwks.json', signingAlgorithms: ['RS256', 'ES256'] } })
  t.same(token.warnings, [])
  t.same(parseDistributionConfig('version: 0.1\n', {}).options.auth, undefined, 'no auth key: open')
})

t.test('auth from the environment', async (t) => {
  const { options } = parseDistributionConfig(undefined, {
    REGISTRY_AUTH: 'htpasswd',
    REGISTRY_AUTH_HTPASSWD_REALM: 'Registry Realm',
    REGISTRY_AUTH_HTPASSWD_PATH: '/auth/htpasswd',
    REGISTRY_AUTH_ANONYMOUSPULL: 'true'
  })
  t.same(options.auth, { htpasswd: { realm: 'Registry Realm', path: '/auth/htpasswd' }, anonymousPull: true })

  const file = 'auth:\n  anonymouspull: true\n  token:\n    realm: r\n    service: s\n    issuer: i\n    jwks: /j.json\n'
  const switched = parseDistributionConfig(file, { REGISTRY_AUTH: 'silly', REGISTRY_AUTH_SILLY_REALM: 'sr', REGISTRY_AUTH_SILLY_SERVICE: 'ss' })
  t.same(switched.options.auth, { silly: { realm: 'sr', service: 'ss' }, anonymousPull: true }, 'REGISTRY_AUTH switches the type and keeps anonymouspull')

  const algorithms = parseDistributionConfig(file, { REGISTRY_AUTH_TOKEN_SIGNINGALGORITHMS: '[ES256, ES384]', REGISTRY_AUTH_TOKEN_ISSUER: 'env-issuer' })
  t.same(algorithms.options.auth, { token: { realm: 'r', service: 's', issuer: 'env-issuer', jwks: '/j.json', signingAlgorithms: ['ES256', 'ES384'] }, anonymousPull: true })
  const commas = parseDistributionConfig(file, { REGISTRY_AUTH_TOKEN_SIGNINGALGORITHMS: 'PS256,ES512' })
  t.same((commas.options.auth as { token: { signingAlgorithms: string[] } }).token.signingAlgorithms, ['PS256', 'ES512'], 'or comma-separated')
  configError(t, () => parseDistributionConfig(file, { REGISTRY_AUTH_TOKEN_ISSUER: '' }), 'auth.token.issuer', /REGISTRY_AUTH_TOKEN_ISSUER/)
})

t.test('an auth section the registry cannot use stops it', async (t) => {
  configError(t, () => parseDistributionConfig('auth:\n  silly:\n    realm: r\n', {}), 'auth.silly.service', /must be set/)
  configError(t, () => parseDistributionConfig('auth:\n  htpasswd:\n    realm: r\n', {}), 'auth.htpasswd.path', /must be set/)
  configError(t, () => parseDistributionConfig('auth:\n  htpasswd:\n', {}), 'auth.htpasswd.realm', /must be set/)
  configError(t, () => parseDistributionConfig('auth:\n  token:\n    realm: r\n    service: s\n    rootcertbundle: /b.pem\n', {}), 'auth.token.issuer', /must be set/)
  configError(t, () => parseDistributionConfig('auth:\n  token:\n    realm: r\n    issuer: i\n    rootcertbundle: /b.pem\n', {}), 'auth.token.service', /must be set/)
  configError(t, () => parseDistributionConfig('auth:\n  token:\n    service: s\n    issuer: i\n    rootcertbundle: /b.pem\n', {}), 'auth.token.realm', /must be set/)
  configError(t, () => parseDistributionConfig('auth:\n  token:\n    realm: r\n    service: s\n    issuer: i\n', {}), 'auth.token', /rootcertbundle or jwks/)
  const token = 'auth:\n  token:\n    realm: r\n    service: s\n    issuer: i\n    jwks: /j.json\n'
  configError(t, () => parseDistributionConfig(`${token}    signingalgorithms: [HS256]\n`, {}), 'auth.token.signingalgorithms', /HMAC/)
  configError(t, () => parseDistributionConfig(`${token}    signingalgorithms: [none]\n`, {}), 'auth.token.signingalgorithms', /never accepted/)
  configError(t, () => parseDistributionConfig(`${token}    signingalgorithms: {a: b}\n`, {}), 'auth.token.signingalgorithms', /list/)
  configError(t, () => parseDistributionConfig('auth:\n  silly:\n    realm: r\n    service: s\n  htpasswd:\n    realm: r\n    path: /p\n', {}), 'auth', /more than one access controller/)
  configError(t, () => parseDistributionConfig('auth:\n  anonymouspull: true\n', {}), 'auth.anonymouspull', /refusing to start an open registry/)
})

t.test('an auth key that is present but configures no usable controller stops the registry', async (t) => {
  for (const [file, env] of [
    ['auth: {}\n', {}],
    ['auth:\n', {}],
    ['auth: null\n', {}],
    ['auth: ~\n', {}],
    ['auth:\n  anonymouspull: false\n', {}],
    [undefined, { REGISTRY_AUTH: '' }],
    [undefined, { REGISTRY_AUTH: '{}' }],
    ['auth:\n  htpasswd:\n    realm: r\n    path: /p\n', { REGISTRY_AUTH: '' }]
  ] as Array<[string | undefined, Record<string, string>]>) {
    const message = configError(t, () => parseDistributionConfig(file, env), 'auth', /no access controller.*open registry/)
    if (env.REGISTRY_AUTH !== undefined) t.match(message, 'REGISTRY_AUTH', 'names the variable')
  }
  // Keys inside a controller's section are all known or refused.
  configError(t, () => parseDistributionConfig('auth:\n  htpasswd:\n    realm: r\n    path: /p\n    pth: /q\n', {}), 'auth.htpasswd.pth', /never ignored/)
  configError(t, () => parseDistributionConfig('auth:\n  token:\n    realm: r\n    service: s\n    issuer: i\n    jwks: /j.json\n    Issuer: other\n', {}), 'auth.token.Issuer', /never ignored/)
})

t.test('an unknown key resembling a key that restricts access stops the registry, naming the key', async (t) => {
  const htpasswd = '\n  htpasswd:\n    realm: r\n    path: /p\n'
  for (const key of ['Auth', 'AUTH', 'auht', 'aut', 'authh', 'oauth']) {
    configError(t, () => parseDistributionConfig(`${key}:${htpasswd}`, {}), key, /resembles "auth"/)
  }
  configError(t, () => parseDistributionConfig(undefined, { REGISTRY_AUHT_HTPASSWD_REALM: 'r' }), 'auht', /resembles "auth".*REGISTRY_AUHT_HTPASSWD_REALM/)
  for (const key of ['AccessControl', 'accesscontroll', 'acesscontrol', 'access_control']) {
    configError(t, () => parseDistributionConfig(`${key}:\n  rules: []\n`, {}), key, /resembles "accesscontrol"/)
  }
  for (const key of ['TLS', 'Tls', 'tsl', 'tl']) {
    configError(t, () => parseDistributionConfig(`http:\n  ${key}:\n    certificate: /c.pem\n`, {}), `http.${key}`, /resembles "http\.tls"/)
  }
  configError(t, () => parseDistributionConfig('HTTP:\n  tls:\n    certificate: /c.pem\n', {}), 'HTTP', /resembles "http"/)
  configError(t, () => parseDistributionConfig('http:\n  RateLimit:\n    max: 1\n', {}), 'http.RateLimit', /resembles "http\.ratelimit"/)
  configError(t, () => parseDistributionConfig('http:\n  ratelimit:\n    max: 1\n    windw: 1m\n', {}), 'http.ratelimit.windw', /never ignored/)
  // Keys far from every security key stay warnings.
  const far = parseDistributionConfig('colour: blue\nx-anchors: {}\npath: /x\n', {})
  t.equal(far.warnings.length, 3)
})

t.test('strict mode: REGISTRY_CONFIGURATION_STRICT makes every unknown key stop start-up', async (t) => {
  t.equal(parseDistributionConfig('colour: blue\n', {}).warnings.length, 1, 'off by default: a warning')
  configError(t, () => parseDistributionConfig('colour: blue\n', { REGISTRY_CONFIGURATION_STRICT: 'true' }), 'colour', /REGISTRY_CONFIGURATION_STRICT/)
  configError(t, () => parseDistributionConfig(undefined, { REGISTRY_CONFIGURATION_STRICT: 'true', REGISTRY_SERVICE_HOST: '10.0.0.1' }), 'service', /REGISTRY_SERVICE_HOST/)
  t.same(parseDistributionConfig('version: 0.1\n', { REGISTRY_CONFIGURATION_STRICT: 'true' }).warnings, [], 'not itself a configuration key')
  t.equal(parseDistributionConfig('colour: blue\n', { REGISTRY_CONFIGURATION_STRICT: 'false' }).warnings.length, 1)
  configError(t, () => parseDistributionConfig(undefined, { REGISTRY_CONFIGURATION_STRICT: 'sometimes' }), 'REGISTRY_CONFIGURATION_STRICT', /true or false/)
  configError(t, () => parseDistributionConfig('auth:\n  anonymouspull: maybe\n  silly:\n    realm: r\n    service: s\n', {}), 'auth.anonymouspull', /true or false/)
  configError(t, () => parseDistributionConfig('auth:\n  silly: yes\n', {}), 'auth.silly', /mapping/)
})

t.test('auth keys that are ignored are reported', async (t) => {
  const { options, warnings } = parseDistributionConfig(`
auth:
  token:
    realm: r
    service: s
    issuer: i
    jwks: /j.json
    autoredirect: true
    autoredirectpath: /auth/token
`, {})
  t.ok(options.auth)
  t.equal(warnings.length, 2)
  t.ok(warnings.some((warning) => warning.includes('"auth.token.autoredirect"') && /clients are sent to the configured realm/.test(warning)))
  t.ok(warnings.some((warning) => warning.includes('"auth.token.autoredirectpath"')))
  // An unknown key in a controller's section is refused, not warned about.
  configError(t, () => parseDistributionConfig('auth:\n  token:\n    realm: r\n    service: s\n    issuer: i\n    jwks: /j.json\n    proxy: x\n', {}), 'auth.token.proxy', /never ignored/)
  t.same(parseDistributionConfig('auth:\n  token:\n    realm: r\n    service: s\n    issuer: i\n    jwks: /j.json\n    autoredirect: false\n', {}).warnings, [], 'autoredirect: false is what we do')
})

t.test('redis: distribution 2.8\'s keys', async (t) => {
  const { options, warnings } = parseDistributionConfig(`
redis:
  addr: redis.example.com:6380
  password: s3cret
  db: 2
  dialtimeout: 10ms
  readtimeout: 1.5s
  writetimeout: 2s
  pool:
    maxidle: 16
    maxactive: 64
    idletimeout: 300s
  tls:
    enabled: true
`, {})
  t.same(options.redis, {
    addr: 'redis.example.com:6380',
    password: 's3cret',
    db: 2,
    dialtimeout: 10,
    readtimeout: 1500,
    writetimeout: 2000,
    tls: { enabled: true }
  })
  t.equal(options.cache, undefined, 'a redis section alone changes no cache')
  t.equal(warnings.length, 3, 'pool settings are warned about')
  for (const key of ['maxidle', 'maxactive', 'idletimeout']) {
    t.ok(warnings.some((warning) => warning.includes(`"redis.pool.${key}"`) && /not needed/.test(warning)), key)
  }
  t.notOk(warnings.join('\n').includes('s3cret'))
})

t.test('redis: distribution 3\'s addrs and username, our keyprefix; nothing configured is no redis', async (t) => {
  t.same(parseDistributionConfig('redis:\n  addrs: [127.0.0.1:7000]\n  username: registry\n  keyprefix: "reg-a:"\n', {}).options.redis,
    { addr: '127.0.0.1:7000', username: 'registry', keyPrefix: 'reg-a:' })
  t.same(parseDistributionConfig('redis:\n  addr: "[::1]:6379"\n  dialtimeout: 0\n', {}).options.redis, { addr: '[::1]:6379' }, 'a zero timeout is the default')
  for (const text of ['redis:\n', 'redis: {}\n', 'redis:\n  addr: ""\n  password: ~\n']) {
    const config = parseDistributionConfig(text, {})
    t.equal(config.options.redis, undefined, JSON.stringify(text))
    t.same(config.warnings, [])
  }
  const { warnings } = parseDistributionConfig('redis:\n  addr: localhost:6379\n  poolsize: 10\n  colour: red\n', {})
  t.ok(warnings.some((warning) => warning.includes('"redis.poolsize"') && /not needed/.test(warning)))
  t.ok(warnings.some((warning) => warning.includes('"redis.colour"') && /not a known configuration key/.test(warning)))
})

t.test('redis from REGISTRY_REDIS_* environment variables', async (t) => {
  const { options } = parseDistributionConfig('redis:\n  addr: file-host:6379\n  db: 1\n', {
    REGISTRY_REDIS_ADDR: 'env-host:6390',
    REGISTRY_REDIS_PASSWORD: '[{not yaml',
    REGISTRY_REDIS_USERNAME: 'reg',
    REGISTRY_REDIS_DB: '3',
    REGISTRY_REDIS_READTIMEOUT: '250ms',
    REGISTRY_REDIS_TLS_ENABLED: 'true',
    REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR: 'redis'
  })
  t.same(options.redis, { addr: 'env-host:6390', username: 'reg', password: '[{not yaml', db: 3, readtimeout: 250, tls: { enabled: true } }, 'a password from the environment is taken as it is')
  t.same(options.cache, { links: 'redis' })
  t.same(parseDistributionConfig(undefined, { REGISTRY_REDIS_ADDRS: 'a:1' }).options.redis, { addr: 'a:1' }, 'addrs as text')
})

t.test('storage.cache.blobdescriptor', async (t) => {
  const redis = 'redis:\n  addr: localhost:6379\n'
  t.same(parseDistributionConfig(`${redis}storage:\n  cache:\n    blobdescriptor: redis\n`, {}).options.cache, { links: 'redis' }, 'redis: the link cache in Redis')
  t.same(parseDistributionConfig('storage:\n  cache:\n    blobdescriptor: inmemory\n', {}).options.cache, { links: 'storage' }, 'inmemory: the default')
  t.equal(parseDistributionConfig('storage:\n  cache: {}\n', {}).options.cache, undefined)
  configError(t, () => parseDistributionConfig('storage:\n  cache:\n    blobdescriptor: redis\n', {}), 'storage.cache.blobdescriptor', /no redis server/)
  configError(t, () => parseDistributionConfig(undefined, { REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR: 'redis' }), 'storage.cache.blobdescriptor', /REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR/)
  configError(t, () => parseDistributionConfig('storage:\n  cache:\n    blobdescriptor: memcached\n', {}), 'storage.cache.blobdescriptor', /redis or inmemory/)
  const { warnings } = parseDistributionConfig('storage:\n  cache:\n    blobdescriptor: inmemory\n    blobdescriptorsize: 10000\n    colour: red\n', {})
  t.ok(warnings.some((warning) => warning.includes('"storage.cache.blobdescriptorsize"')))
  t.ok(warnings.some((warning) => warning.includes('"storage.cache.colour"') && /not a known configuration key/.test(warning)))
})

t.test('redis values the registry cannot use stop it, naming the key, never echoing the password', async (t) => {
  configError(t, () => parseDistributionConfig('redis:\n  db: 1\n', {}), 'redis.addr', /must be set/)
  for (const addr of ['host:0', 'host:65536', 'host:port', ':6379', 'a b:1', '[::1]:x']) {
    configError(t, () => parseDistributionConfig(`redis:\n  addr: "${addr}"\n`, {}), 'redis.addr')
  }
  configError(t, () => parseDistributionConfig('redis:\n  addrs: [a:1, b:2]\n', {}), 'redis.addrs', /Cluster/)
  configError(t, () => parseDistributionConfig('redis:\n  addrs: [a:1]\n  addr: b:2\n', {}), 'redis', /choose one/)
  configError(t, () => parseDistributionConfig('redis:\n  addrs:\n    x: 1\n', {}), 'redis.addrs')
  configError(t, () => parseDistributionConfig('redis:\n  addr: a:1\n  db: -1\n', {}), 'redis.db')
  configError(t, () => parseDistributionConfig('redis:\n  addr: a:1\n  db: two\n', {}), 'redis.db')
  configError(t, () => parseDistributionConfig('redis:\n  addr: a:1\n  dialtimeout: soon\n', {}), 'redis.dialtimeout', /duration/)
  configError(t, () => parseDistributionConfig('redis:\n  addr: a:1\n  readtimeout: 1000h\n', {}), 'redis.readtimeout', /596h/)
  configError(t, () => parseDistributionConfig('redis:\n  addr: a:1\n  tls:\n    enabled: maybe\n', {}), 'redis.tls.enabled')
  configError(t, () => parseDistributionConfig('redis:\n  addr: a:1\n  tls:\n    certificate: /c.pem\n', {}), 'redis.tls.certificate', /refusing/)
  configError(t, () => parseDistributionConfig('redis:\n  addr: a:1\n  mastername: mymaster\n', {}), 'redis.mastername', /Sentinel/)
  configError(t, () => parseDistributionConfig('redis: localhost:6379\n', {}), 'redis', /mapping/)
  const message = configError(t, () => parseDistributionConfig('redis:\n  addr: a:1\n  password:\n    nested: hunter2\n', {}), 'redis.password')
  t.notMatch(message, 'hunter2')
})

t.test('http.timeout (read, idle; write is ignored) and http.maxheaderbytes', async (t) => {
  t.same(parseDistributionConfig(undefined, {}).server, {}, 'unset: the standalone\'s defaults')
  const config = parseDistributionConfig('http:\n  timeout:\n    read: 10s\n    write: 1m\n    idle: 2m\n  maxheaderbytes: 1048576\n', {})
  t.same(config.server, { headersTimeoutMs: 10_000, keepAliveTimeoutMs: 120_000, maxHeaderBytes: 1048576 })
  t.equal(config.warnings.length, 1)
  t.match(config.warnings[0], /http\.timeout\.write.*ignored/)
  t.same(parseDistributionConfig(undefined, { REGISTRY_HTTP_TIMEOUT_READ: '1500ms', REGISTRY_HTTP_MAXHEADERBYTES: '65536' }).server, { headersTimeoutMs: 1500, maxHeaderBytes: 65536 })
  t.same(parseDistributionConfig('http:\n  timeout:\n    read: 0s\n    idle: 0\n', {}).server, {}, '0 is the default, as unset')
  configError(t, () => parseDistributionConfig('http:\n  timeout:\n    read: soon\n', {}), 'http.timeout.read', /duration/)
  t.match(parseDistributionConfig('http:\n  timeout:\n    idel: 1m\n', {}).warnings.join('\n'), /"http\.timeout\.idel" is not a known configuration key/, 'a misspelt timeout is warned about')
  configError(t, () => parseDistributionConfig('http:\n  maxheaderbytes: 100\n', {}), 'http.maxheaderbytes', /1024/)
  configError(t, () => parseDistributionConfig('http:\n  maxheaderbytes: 1GB\n', {}), 'http.maxheaderbytes', /integer/)
})

t.test('an unknown key in redis.tls is refused: it could connect unencrypted', async (t) => {
  configError(t, () => parseDistributionConfig('redis:\n  addr: localhost:6379\n  tls:\n    enable: true\n', {}), 'redis.tls.enable', /encrypts the connection to Redis/)
  t.same(parseDistributionConfig('redis:\n  addr: localhost:6379\n  tls:\n    enabled: true\n', {}).options.redis, { addr: 'localhost:6379', tls: { enabled: true } })
})

t.test('limits: the body idle timeout and minimum rate (ours)', async (t) => {
  t.equal(parseDistributionConfig(undefined, {}).options.limits, undefined, 'unset: the plugin\'s defaults')
  const config = parseDistributionConfig('limits:\n  bodyidletimeout: 1m\n  bodyminrate: 4096\n  bodyminratewindow: 10s\ncatalog:\n  maxentries: 50\n', {})
  t.same(config.options.limits, { catalogPageSize: 50, bodyIdleTimeout: 60_000, bodyMinRate: 4096, bodyMinRateWindow: 10_000 })
  t.same(config.warnings, [])
  t.same(parseDistributionConfig(undefined, { REGISTRY_LIMITS_BODYMINRATE: '0', REGISTRY_LIMITS_BODYMINRATEWINDOW: '2s' }).options.limits, { bodyMinRate: 0, bodyMinRateWindow: 2000 }, '0 turns it off')
  configError(t, () => parseDistributionConfig('limits:\n  bodyminrate: -1\n', {}), 'limits.bodyminrate', /0 \(off\) or more/)
  configError(t, () => parseDistributionConfig('limits:\n  bodyminrate: 1KiB\n', {}), 'limits.bodyminrate', /integer/)
  configError(t, () => parseDistributionConfig('limits:\n  bodyminratewindow: 0s\n', {}), 'limits.bodyminratewindow', /more than 0/)
  configError(t, () => parseDistributionConfig('limits:\n  bodyidletimeout: forever\n', {}), 'limits.bodyidletimeout', /duration/)
  t.match(parseDistributionConfig('limits:\n  bodyminrat: 1\n', {}).warnings.join('\n'), /"limits\.bodyminrat" is not a known configuration key/)
})
