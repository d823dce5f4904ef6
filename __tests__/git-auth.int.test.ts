// What git really sends over HTTP when the action authenticates a fetch in a workspace where
// actions/checkout persisted its own credentials (its default): exactly one Authorization header.
import { afterAll, describe, expect, it } from '@jest/globals'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Git } from '../src/core/git/git.js'
import { fetchBranch, tokenAuthConfig } from '../src/core/git/remote.js'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  removeTempDirs,
  simulateCheckoutCredentials,
  tempDir
} from '../test-support/git-fixtures.js'

afterAll(removeTempDirs)

describe('authenticated git over HTTP', () => {
  it('sends only the action token, never a second Authorization header from the checkout', async () => {
    const seen: (string | string[] | undefined)[] = []
    const server = http.createServer((req, res) => {
      // Node joins repeated headers; rawHeaders keeps each one.
      const auth: string[] = []
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        if (req.rawHeaders[i].toLowerCase() === 'authorization') auth.push(req.rawHeaders[i + 1])
      }
      seen.push(auth)
      res.writeHead(404).end()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const origin = await createOrigin({ 'a.txt': 'a\n' })
      const workspace = await cloneWorkspace(origin, { depth: 1 })
      const env = isolatedGitEnv(origin.home)
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/o/r`
      await git(workspace, ['remote', 'set-url', 'origin', url], env)
      // Both ways checkout persists a token: a direct extraheader and the v6 includeIf file.
      await simulateCheckoutCredentials(
        workspace,
        await tempDir('runner-temp'),
        'ghs_checkoutTokenXXXXXXXXXXXXXXXX'
      )
      await git(
        workspace,
        ['config', `http.${url}.extraheader`, 'AUTHORIZATION: basic Y2hlY2tvdXQ6dG9rZW4='],
        env
      )

      const token = 'ghs_actionTokenYYYYYYYYYYYYYYYYYY'
      await expect(
        fetchBranch(new Git(workspace, { env }), 'origin', 'main', tokenAuthConfig(token, url))
      ).rejects.toThrow()
      const ours = `basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`
      expect(seen.length).toBeGreaterThan(0)
      for (const headers of seen) expect(headers).toEqual([ours])
    } finally {
      server.close()
    }
  })
})
