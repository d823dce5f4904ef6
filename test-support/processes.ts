import { readFileSync, readdirSync } from 'node:fs'

/** PIDs of live (not zombie) processes whose argv, as read from /proc/<pid>/cmdline, matches. */
function livingWhere(matches: (cmdline: Buffer) => boolean): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (!matches(readFileSync(`/proc/${entry}/cmdline`))) continue
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      if (stat[stat.lastIndexOf(')') + 2] !== 'Z') pids.push(Number(entry))
    } catch {
      // exited meanwhile
    }
  }
  return pids
}

/** PIDs of live processes whose argv is exactly `args`. */
export function processesWithArgv(args: string[]): number[] {
  const wanted = Buffer.from(args.join('\0') + '\0')
  return livingWhere((cmdline) => cmdline.equals(wanted))
}

/** Live processes whose command line (arguments joined by spaces) contains `needle`. */
export function livingProcesses(needle: string): number[] {
  return livingWhere((cmdline) => cmdline.toString('utf8').replace(/\0/g, ' ').includes(needle))
}
