// npm leaves platform-specific optional packages out of package-lock.json when the registry it
// resolved against does not serve them (a filtered mirror, as on our build machines). `npm ci`
// then refuses the lockfile on every machine. This adds the missing entries with the os/cpu
// their names encode, so npm skips them where they do not apply and fetches them where they do.
// Run after `npm install` changes the lockfile: node scripts/complete-lockfile.mjs
import { readFileSync, writeFileSync } from 'node:fs'

const OS = [
  'android',
  'darwin',
  'freebsd',
  'linux',
  'openharmony',
  'win32',
  'netbsd',
  'openbsd',
  'sunos',
  'aix'
]
const CPU = ['arm64', 'arm', 'x64', 'ia32', 'loong64', 'ppc64', 'riscv64', 's390x', 'wasm32']

const file = new URL('../package-lock.json', import.meta.url)
const lock = JSON.parse(readFileSync(file, 'utf8'))
let added = 0
for (const [location, meta] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(meta.optionalDependencies ?? {})) {
    if (lock.packages[`node_modules/${name}`] || lock.packages[`${location}/node_modules/${name}`])
      continue
    const parts = name.split('/').pop().split('-')
    const os = parts.find((p) => OS.includes(p))
    const cpu = parts.find((p) => CPU.includes(p))
    if (!os || !cpu) {
      console.error(`cannot tell the platform of ${name}; left out`)
      continue
    }
    const entry = { version, cpu: [cpu], optional: true, os: [os] }
    if (parts.includes('gnu') || parts.includes('gnueabihf')) entry.libc = ['glibc']
    if (parts.includes('musl') || parts.includes('musleabihf')) entry.libc = ['musl']
    lock.packages[`node_modules/${name}`] = entry
    added++
  }
}
lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1))
)
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`)
console.log(`package-lock.json: added ${added} platform package entr${added === 1 ? 'y' : 'ies'}`)
