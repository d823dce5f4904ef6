import { readFileSync, readdirSync } from 'node:fs'

/** PIDs of live processes whose argv is exactly `args` (read from /proc/<pid>/cmdline). */
export function processesWithArgv(args: string[]): number[] {
  const wanted = Buffer.from(args.join('\0') + '\0')
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`)
      if (!cmdline.equals(wanted)) continue
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') continue
      pids.push(Number(entry))
    } catch {
      // exited meanwhile
    }
  }
  return pids
}

/** Processes whose command line contains `needle` (zombies excluded). */
export function livingProcesses(needle: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ')
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      if (cmd.includes(needle) && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z')
        pids.push(Number(entry))
    } catch {
      // gone
    }
  }
  return pids
}
