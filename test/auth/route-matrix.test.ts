// Every route of routes/table.ts under each built-in access controller:
// token {no credentials, wrong, insufficient scope, sufficient}, htpasswd and
// silly {none, wrong, right}. Each refusal is checked for its status, code,
// detail and exact WWW-Authenticate, and for leaving nothing changed.
import t, { type Test } from 'tap'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { Access, AuthOptions } from '../../lib/index.js'
import { buildRegistry, pathOf, pushBlob, randomBlob, sha256, tempDir } from '../helpers/registry.js'
import { imageManifest, pushImage, OCI_MANIFEST } from '../helpers/images.js'
import { ISSUER, REALM, SERVICE, basic, bearer, claims, firstError, htpasswdLine, rsaKeyPair, signToken, withHeaders } from '../helpers/auth.js'

const REPO = 'team/app'
const FROM = 'team/base'
const octet = { 'content-type': 'application/octet-stream' }

type HTTPMethods = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE'

interface Request {
  url: string
  payload?: Buffer
  headers?: Record<string, string>
}

interface RouteCase {
  label: string
  method: HTTPMethods
  /** The scope the challenge must name, written out (empty: none). */
  scope: string
  /** The access records the route needs. */
  needs: Access[]
  /** Status with sufficient credentials. */
  success: number
  /** Builds the request, creating what it needs through `admin`. */
  prepare: (admin: FastifyInstance) => Promise<Request>
  /** After refused attempts: asserts nothing changed. */
  untouched?: (admin: FastifyInstance, t: Test, request: Request) => Promise<void>
}

const repo = (name: string, ...actions: string[]): Access => ({ type: 'repository', name, actions })

async function startUpload (admin: FastifyInstance): Promise<string> {
  const response = await admin.inject({ method: 'POST', url: `/v2/${REPO}/blobs/uploads/` })
  if (response.statusCode !== 202) throw new Error(`upload start: ${response.statusCode} ${response.body}`)
  return pathOf(response.headers.location)
}

async function status (admin: FastifyInstance, method: HTTPMethods, url: string): Promise<number> {
  return (await admin.inject({ method, url })).statusCode
}

const cases: RouteCase[] = [
  { label: 'base GET', method: 'GET', scope: '', needs: [], success: 200, prepare: async () => ({ url: '/v2/' }) },
  { label: 'base HEAD', method: 'HEAD', scope: '', needs: [], success: 200, prepare: async () => ({ url: '/v2/' }) },
  {
    label: 'catalog GET',
    method: 'GET',
    scope: 'registry:catalog:*',
    needs: [{ type: 'registry', name: 'catalog', actions: ['*'] }],
    success: 200,
    prepare: async () => ({ url: '/v2/_catalog' })
  },
  { label: 'tags GET', method: 'GET', scope: `repository:${REPO}:pull`, needs: [repo(REPO, 'pull')], success: 200, prepare: async () => ({ url: `/v2/${REPO}/tags/list` }) },
  { label: 'manifest GET', method: 'GET', scope: `repository:${REPO}:pull`, needs: [repo(REPO, 'pull')], success: 200, prepare: async () => ({ url: `/v2/${REPO}/manifests/v1` }) },
  { label: 'manifest HEAD', method: 'HEAD', scope: `repository:${REPO}:pull`, needs: [repo(REPO, 'pull')], success: 200, prepare: async () => ({ url: `/v2/${REPO}/manifests/v1` }) },
  {
    label: 'manifest PUT',
    method: 'PUT',
    scope: `repository:${REPO}:pull,push`,
    needs: [repo(REPO, 'pull', 'push')],
    success: 201,
    prepare: async (admin) => {
      const manifest = await imageManifest(admin, REPO, { label: `put-${Math.random()}` })
      return { url: `/v2/${REPO}/manifests/put-target`, payload: manifest.body, headers: { 'content-type': OCI_MANIFEST } }
    },
    untouched: async (admin, t) => { t.equal(await status(admin, 'HEAD', `/v2/${REPO}/manifests/put-target`), 404, 'no manifest was stored') }
  },
  {
    label: 'manifest DELETE',
    method: 'DELETE',
    scope: `repository:${REPO}:delete`,
    needs: [repo(REPO, 'delete')],
    success: 202,
    prepare: async (admin) => ({ url: `/v2/${REPO}/manifests/${(await pushImage(admin, REPO, 'to-delete', { label: `delete-${Math.random()}` })).digest}` }),
    untouched: async (admin, t, request) => { t.equal(await status(admin, 'HEAD', request.url), 200, 'the manifest is still there') }
  },
  {
    label: 'blob GET',
    method: 'GET',
    scope: `repository:${REPO}:pull`,
    needs: [repo(REPO, 'pull')],
    success: 200,
    prepare: async (admin) => ({ url: `/v2/${REPO}/blobs/${await pushBlob(admin, REPO, Buffer.from('a readable blob'))}` })
  },
  {
    label: 'blob HEAD',
    method: 'HEAD',
    scope: `repository:${REPO}:pull`,
    needs: [repo(REPO, 'pull')],
    success: 200,
    prepare: async (admin) => ({ url: `/v2/${REPO}/blobs/${await pushBlob(admin, REPO, Buffer.from('a readable blob'))}` })
  },
  {
    label: 'blob DELETE',
    method: 'DELETE',
    scope: `repository:${REPO}:delete`,
    needs: [repo(REPO, 'delete')],
    success: 202,
    prepare: async (admin) => ({ url: `/v2/${REPO}/blobs/${await pushBlob(admin, REPO, randomBlob(64).content)}` }),
    untouched: async (admin, t, request) => { t.equal(await status(admin, 'HEAD', request.url), 200, 'the blob is still there') }
  },
  {
    label: 'upload POST (start)',
    method: 'POST',
    scope: `repository:${REPO}:pull,push`,
    needs: [repo(REPO, 'pull', 'push')],
    success: 202,
    prepare: async () => ({ url: `/v2/${REPO}/blobs/uploads/` })
  },
  {
    label: 'upload POST (monolithic)',
    method: 'POST',
    scope: `repository:${REPO}:pull,push`,
    needs: [repo(REPO, 'pull', 'push')],
    success: 201,
    prepare: async () => {
      const { content, digest } = randomBlob(100)
      return { url: `/v2/${REPO}/blobs/uploads/?digest=${digest}`, payload: content, headers: octet }
    },
    untouched: async (admin, t, request) => {
      const digest = new URL(request.url, 'http://x').searchParams.get('digest') as string
      t.equal(await status(admin, 'HEAD', `/v2/${REPO}/blobs/${digest}`), 404, 'no blob was stored')
    }
  },
  {
    label: 'upload POST (mount with from)',
    method: 'POST',
    scope: `repository:${REPO}:pull,push repository:${FROM}:pull`,
    needs: [repo(REPO, 'pull', 'push'), repo(FROM, 'pull')],
    success: 201,
    prepare: async (admin) => ({ url: `/v2/${REPO}/blobs/uploads/?mount=${await pushBlob(admin, FROM, randomBlob(80).content)}&from=${FROM}` }),
    untouched: async (admin, t, request) => {
      const digest = new URL(request.url, 'http://x').searchParams.get('mount') as string
      t.equal(await status(admin, 'HEAD', `/v2/${REPO}/blobs/${digest}`), 404, 'nothing was mounted')
    }
  },
  {
    label: 'upload chunk GET',
    method: 'GET',
    scope: `repository:${REPO}:pull,push`,
    needs: [repo(REPO, 'pull', 'push')],
    success: 204,
    prepare: async (admin) => ({ url: await startUpload(admin) })
  },
  {
    label: 'upload chunk PATCH',
    method: 'PATCH',
    scope: `repository:${REPO}:pull,push`,
    needs: [repo(REPO, 'pull', 'push')],
    success: 202,
    prepare: async (admin) => ({ url: await startUpload(admin), payload: Buffer.from('chunk'), headers: { ...octet, 'content-range': '0-4' } }),
    untouched: async (admin, t, request) => {
      const response = await admin.inject({ method: 'GET', url: request.url })
      t.equal(response.headers.range, '0-0', 'no bytes were appended')
    }
  },
  {
    label: 'upload chunk PUT',
    method: 'PUT',
    scope: `repository:${REPO}:pull,push`,
    needs: [repo(REPO, 'pull', 'push')],
    success: 201,
    prepare: async (admin) => {
      const { content, digest } = randomBlob(90)
      return { url: `${await startUpload(admin)}&digest=${digest}`, payload: content, headers: octet }
    },
    untouched: async (admin, t, request) => {
      const digest = new URL(request.url, 'http://x').searchParams.get('digest') as string
      t.equal(await status(admin, 'HEAD', `/v2/${REPO}/blobs/${digest}`), 404, 'no blob was committed')
    }
  },
  {
    label: 'upload chunk DELETE',
    method: 'DELETE',
    scope: `repository:${REPO}:pull,push`,
    needs: [repo(REPO, 'pull', 'push')],
    success: 204,
    prepare: async (admin) => ({ url: await startUpload(admin) }),
    untouched: async (admin, t, request) => { t.equal(await status(admin, 'GET', request.url), 204, 'the upload is still there') }
  },
  {
    label: 'referrers GET',
    method: 'GET',
    scope: `repository:${REPO}:pull`,
    needs: [repo(REPO, 'pull')],
    success: 200,
    prepare: async () => ({ url: `/v2/${REPO}/referrers/${sha256(Buffer.from('any subject'))}` })
  }
]

t.test('the matrix covers every route and method of the route table', async (t) => {
  const { routes, matchRoute } = await import('../../routes/index.js')
  const covered = new Set(cases.map((entry) => `${matchRoute(entry.label.startsWith('base') ? '' : caseRoutePath(entry))?.route.name} ${entry.method}`))
  for (const route of routes) {
    for (const method of route.methods) t.ok(covered.has(`${route.name} ${method}`), `${route.name} ${method}`)
  }
})

/** The path of a case below /v2/, with placeholder values, to match it against the table. */
function caseRoutePath (entry: RouteCase): string {
  const digest = sha256(Buffer.from('x'))
  if (entry.label.startsWith('catalog')) return '_catalog'
  if (entry.label.startsWith('tags')) return `${REPO}/tags/list`
  if (entry.label.startsWith('manifest')) return `${REPO}/manifests/v1`
  if (entry.label.startsWith('blob')) return `${REPO}/blobs/${digest}`
  if (entry.label.startsWith('upload chunk')) return `${REPO}/blobs/uploads/0f0e5c4e-1b5a-4a43-9a3a-0c6f3a2b1c0d`
  if (entry.label.startsWith('upload')) return `${REPO}/blobs/uploads/`
  return `${REPO}/referrers/${digest}`
}

async function send (app: FastifyInstance, entry: RouteCase, request: Request, credentials: Record<string, string>): Promise<LightMyRequestResponse> {
  return await app.inject({ method: entry.method, url: request.url, payload: request.payload, headers: { ...request.headers, ...credentials } })
}

/** Asserts a refusal: 401 UNAUTHORIZED, the needed access as detail, and exactly this challenge. */
function assertChallenged (t: Test, response: LightMyRequestResponse, entry: RouteCase, challenge: string, label: string): void {
  t.equal(response.statusCode, 401, `${label}: 401`)
  t.equal(response.headers['www-authenticate'], challenge, `${label}: challenge`)
  if (entry.method !== 'HEAD') {
    const error = firstError(response.body)
    t.equal(error.code, 'UNAUTHORIZED', `${label}: code`)
    t.same(error.detail, entry.needs, `${label}: detail`)
  }
}

function bearerChallenge (entry: RouteCase, error?: string): string {
  return `Bearer realm="${REALM}",service="${SERVICE}"${entry.scope === '' ? '' : `,scope="${entry.scope}"`}${error === undefined ? '' : `,error="${error}"`}`
}

interface Mode {
  auth: (dir: string) => Promise<AuthOptions>
  admin: Record<string, string>
  /** Refused credentials, by label, with the challenge each gets. */
  refused: Array<{ label: string, credentials: (entry: RouteCase) => Record<string, string>, challenge: (entry: RouteCase) => string }>
  accepted: (entry: RouteCase) => Record<string, string>
}

const signer = rsaKeyPair()
const stranger = rsaKeyPair()
const token = (access: Access[], key = signer): Record<string, string> => bearer(signToken(key, claims(access), { kid: 'registry-test' }))
const everything = [repo(REPO, '*'), repo(FROM, '*'), { type: 'registry', name: 'catalog', actions: ['*'] }]

const modes: Record<string, Mode> = {
  token: {
    auth: async () => ({ token: { realm: REALM, service: SERVICE, issuer: ISSUER, publicKeys: { 'registry-test': signer.publicPem } } }),
    admin: token(everything),
    refused: [
      { label: 'no credentials', credentials: () => ({}), challenge: (entry) => bearerChallenge(entry) },
      { label: 'wrong credentials', credentials: (entry) => token(entry.needs, stranger), challenge: (entry) => bearerChallenge(entry, 'invalid_token') },
      // Every action on a neighbouring repository, and pull but nothing else on the route's own.
      {
        label: 'insufficient scope',
        credentials: (entry) => token([repo(`${REPO}-other`, '*'), repo(`${FROM}-other`, '*'), ...(entry.needs.some((record) => record.actions.includes('pull') && record.actions.length === 1) ? [] : [repo(REPO, 'pull')])]),
        challenge: (entry) => bearerChallenge(entry, 'insufficient_scope')
      }
    ],
    accepted: (entry) => token(entry.needs)
  },
  htpasswd: {
    auth: async (dir) => {
      const path = join(dir, 'htpasswd')
      await writeFile(path, `${htpasswdLine('alice', 'right password')}\n`)
      return { htpasswd: { realm: 'Registry Realm', path } }
    },
    admin: basic('alice', 'right password'),
    refused: [
      { label: 'no credentials', credentials: () => ({}), challenge: () => 'Basic realm="Registry Realm"' },
      { label: 'wrong password', credentials: () => basic('alice', 'wrong password'), challenge: () => 'Basic realm="Registry Realm"' },
      { label: 'unknown user', credentials: () => basic('mallory', 'right password'), challenge: () => 'Basic realm="Registry Realm"' }
    ],
    accepted: () => basic('alice', 'right password')
  },
  silly: {
    auth: async () => ({ silly: { realm: REALM, service: SERVICE } }),
    admin: { authorization: 'anything' },
    refused: [
      { label: 'no credentials', credentials: () => ({}), challenge: (entry) => bearerChallenge(entry) },
      { label: 'a blank Authorization header', credentials: () => ({ authorization: '   ' }), challenge: (entry) => bearerChallenge(entry) }
    ],
    accepted: () => ({ authorization: 'Bearer whatever' })
  }
}

for (const [name, mode] of Object.entries(modes)) {
  t.test(`${name}: every route`, async (t) => {
    const dir = await tempDir()
    t.teardown(dir.cleanup)
    const app = await buildRegistry({ auth: await mode.auth(dir.path), delete: { enabled: true } })
    t.teardown(async () => await app.close())
    const admin = withHeaders(app, mode.admin)
    await pushImage(admin, REPO, 'v1')

    for (const entry of cases) {
      await t.test(entry.label, async (t) => {
        const request = await entry.prepare(admin)
        for (const refusal of mode.refused) {
          if (refusal.label === 'insufficient scope' && entry.needs.length === 0) {
            // The base route needs no scope: any valid token is enough.
            t.equal((await send(app, entry, request, refusal.credentials(entry))).statusCode, entry.success, 'base route: any valid token')
            continue
          }
          assertChallenged(t, await send(app, entry, request, refusal.credentials(entry)), entry, refusal.challenge(entry), refusal.label)
        }
        if (entry.untouched !== undefined) await entry.untouched(admin, t, request)
        const response = await send(app, entry, request, mode.accepted(entry))
        t.equal(response.statusCode, entry.success, `accepted: ${response.statusCode} ${response.statusCode >= 400 ? response.body : ''}`)
        t.equal(response.headers['www-authenticate'], undefined, 'accepted: no challenge')
      })
    }
  })
}
