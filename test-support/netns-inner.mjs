// Runs inside a fresh network namespace (`unshare -n node netns-inner.mjs <sockdir> <port>... --
// <command> <args>...`), started by test-support/netns.ts: brings up the namespace's own
// loopback, listens on 127.0.0.1:<port> for each port and forwards every connection to the Unix
// socket <sockdir>/<port>.sock (a path, so reachable from the test's namespace, where it leads
// to the stand-in on that same port), then runs the command and exits as it does. Nothing else
// is reachable: no interface but lo exists in the namespace.
import { execFileSync, spawn } from 'node:child_process'
import net from 'node:net'
import path from 'node:path'

const argv = process.argv.slice(2)
const split = argv.indexOf('--')
const [sockDir, ...ports] = argv.slice(0, split)
const [command, ...args] = argv.slice(split + 1)

execFileSync('ip', ['link', 'set', 'lo', 'up'])
const servers = await Promise.all(
  ports.map(
    (port) =>
      new Promise((resolve, reject) => {
        const server = net.createServer((inbound) => {
          const outbound = net.connect(path.join(sockDir, `${port}.sock`))
          inbound.on('error', () => outbound.destroy())
          outbound.on('error', () => inbound.destroy())
          inbound.pipe(outbound).pipe(inbound)
        })
        server.once('error', reject)
        server.listen(Number(port), '127.0.0.1', () => resolve(server))
      })
  )
)
const child = spawn(command, args, { stdio: 'inherit' })
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => child.kill(signal))
child.on('exit', (code, signal) => {
  for (const server of servers) server.close()
  if (signal) process.kill(process.pid, signal)
  process.exit(code ?? 1)
})
