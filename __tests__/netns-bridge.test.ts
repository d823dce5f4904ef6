// The network namespace the real-CLI suite runs the action in: local stand-ins reachable at the
// same 127.0.0.1 URLs, everything else unreachable.
import { afterAll, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import { LoopbackBridge, netnsAvailable } from '../test-support/netns.js'

const available = await netnsAvailable()
const server = http.createServer((_req, res) => res.end('stand-in'))
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const port = (server.address() as AddressInfo).port
afterAll(() => new Promise((resolve) => server.close(resolve)))

const probe = `
const get = (url) => fetch(url).then((r) => r.text(), (e) => 'error ' + (e.cause?.code ?? e.message))
console.log(JSON.stringify([await get('http://127.0.0.1:${port}/'), await get('http://192.0.2.1:80/')]))`

if (available.ok)
  it('reaches the bridged stand-in at its URL, and nothing beyond loopback', async () => {
    const bridge = await LoopbackBridge.start([port])
    try {
      const [command, args] = bridge.wrap(process.execPath, ['--input-type=module', '-e', probe])
      const { stdout } = await promisify(execFile)(command, args)
      expect(JSON.parse(stdout)).toEqual(['stand-in', 'error ENETUNREACH'])
    } finally {
      await bridge.stop()
    }
  })
else {
  const reason = available.reason
  // eslint-disable-next-line jest/no-disabled-tests, jest/expect-expect
  it.skip(`SKIPPED: no network namespace here: ${reason}`, () => {})
}
