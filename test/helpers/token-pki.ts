import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

const exec = promisify(execFile)

/** A CA and a token-signing leaf it issued, as PEM files and their contents. */
export interface TokenPki {
  caPem: string
  caPath: string
  leafPem: string
  leafKeyPem: string
  leafKeyPath: string
  /** Leaf then CA: what the token server sends as `x5c`. */
  chainPath: string
}

async function openssl (...args: string[]): Promise<void> {
  await exec('openssl', args).catch((error: Error) => {
    throw new Error(`openssl is required to make the test certificates (.ci/run installs it): ${error.message}`)
  })
}

/** Makes real X.509 certificates with openssl in `dir`: the registry trusts the CA, the token server signs with the leaf. */
export async function makeTokenPki (dir: string, kind: 'ec' | 'rsa' = 'ec'): Promise<TokenPki> {
  const keyArgs = kind === 'ec' ? ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']
  const path = (name: string): string => join(dir, `${kind}-${name}`)
  await openssl('genpkey', ...keyArgs, '-out', path('ca.key'))
  await openssl('req', '-x509', '-new', '-key', path('ca.key'), '-subj', '/CN=token test CA', '-days', '2', '-out', path('ca.pem'),
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
  await openssl('genpkey', ...keyArgs, '-out', path('leaf.key'))
  await openssl('req', '-new', '-key', path('leaf.key'), '-subj', '/CN=token signer', '-out', path('leaf.csr'))
  await writeFile(path('leaf.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n')
  await openssl('x509', '-req', '-in', path('leaf.csr'), '-CA', path('ca.pem'), '-CAkey', path('ca.key'), '-set_serial', '2',
    '-days', '2', '-extfile', path('leaf.ext'), '-out', path('leaf.pem'))
  const caPem = await readFile(path('ca.pem'), 'utf8')
  const leafPem = await readFile(path('leaf.pem'), 'utf8')
  await writeFile(path('chain.pem'), leafPem + caPem)
  return {
    caPem,
    caPath: path('ca.pem'),
    leafPem,
    leafKeyPem: await readFile(path('leaf.key'), 'utf8'),
    leafKeyPath: path('leaf.key'),
    chainPath: path('chain.pem')
  }
}
