import { spawn } from 'node:child_process'
import { toolEnv } from '../util/tool-env.js'

/**
 * A child subreaper between the action and each agent (Linux).
 *
 * An agent's process group and the marker in its environment find almost everything it leaves
 * behind, but a daemon that starts a new session *and* clears its environment (`setsid env -i …`)
 * escapes both, and once its parent exits the kernel hands it to init. A process that has set
 * `PR_SET_CHILD_SUBREAPER` receives such orphans instead, so one small supervisor per agent knows
 * every process the agent left, whatever the process did to its session or environment.
 *
 * Node cannot call prctl(2). Perl can, through `syscall`, and Debian's and Ubuntu's git packages
 * depend on perl, so it is wherever the action's git is; it starts in a few milliseconds and
 * leaves the environment alone (Python would add LC_CTYPE in a C locale). Where neither the
 * platform nor perl allows it, agents run as before and the README's stated limit applies.
 *
 * The supervisor, the leader of the agent's process group:
 * - forks the agent into its own group (so a signal to the group reaches the agent) and waits;
 * - on SIGTERM/SIGINT/SIGHUP passes SIGTERM on to the group and to the orphans it has adopted;
 * - on SIGUSR1 kills them all at once (the caller's grace period is over);
 * - once the agent has exited, ends what is left: SIGTERM, the grace period, then SIGKILL, until
 *   it has no child and nothing else in its group (an orphan's children come to it in turn);
 * - exits as the agent did (same status, or the same signal).
 */
const SUPERVISOR = String.raw`
my ($nr, $grace, @cmd) = @ARGV;
syscall($nr, 36, 1, 0, 0, 0) == 0 or exec { $cmd[0] } @cmd or exit 127;
my ($me, $pg, $now) = ($$, getpgrp(), 0);
sub left {
  my @pids;
  opendir(my $d, '/proc') or return ();
  for my $e (readdir $d) {
    next unless $e =~ /^\d+$/ && $e != $me;
    open(my $f, '<', "/proc/$e/stat") or next;
    my $s = <$f> // next;
    my ($state, $ppid, $pgrp) = substr($s, rindex($s, ')') + 2) =~ /^(\S) (\d+) (\d+)/ or next;
    push @pids, $e if $state ne 'Z' && ($ppid == $me || $pgrp == $pg);
  }
  return @pids;
}
sub reap { 1 while waitpid(-1, 1) > 0 }
sub pause { select(undef, undef, undef, 0.025) }
$SIG{TERM} = $SIG{INT} = $SIG{HUP} = sub { kill 'TERM', left() };
$SIG{USR1} = sub { $now = 1; kill 'KILL', left() };
my $agent = fork() // exit 127;
if (!$agent) {
  $SIG{$_} = 'DEFAULT' for qw(TERM INT HUP USR1);
  exec { $cmd[0] } @cmd or exit 127;
}
my $status;
while (1) {
  my $pid = waitpid(-1, 0);
  if ($pid == $agent) { $status = $?; last }
  if ($pid < 0) { $status = 127 << 8; last }
}
my @left = left();
my %told = map { $_ => 1 } @left;
kill 'TERM', @left if @left && !$now;
for (my $i = 0; @left && !$now && $i < $grace / 25; $i++) {
  pause(); reap(); @left = left();
  my @new = grep { !$told{$_}++ } @left;
  kill 'TERM', @new if @new;
}
for (my $i = 0; @left && $i < 40; $i++) { kill 'KILL', @left; pause(); reap(); @left = left() }
if (my $sig = $status & 127) {
  $SIG{$_} = 'DEFAULT' for qw(TERM INT HUP USR1);
  kill $sig, $$;
  exit 128 + $sig;
}
exit $status >> 8;
`

/** prctl's syscall number where GitHub runs Linux jobs. */
const PRCTL: Partial<Record<string, number>> = { x64: 157, arm64: 167 }

let available: Promise<boolean> | undefined

/** Whether this machine can run the supervisor: Linux, a known architecture, perl, a kernel that allows it. */
export function subreaperAvailable(): Promise<boolean> {
  const nr = PRCTL[process.arch]
  if (process.platform !== 'linux' || nr === undefined) return Promise.resolve(false)
  available ??= new Promise<boolean>((resolve) => {
    const probe = spawn('perl', ['-e', `exit(syscall(${nr}, 36, 1, 0, 0, 0) == 0 ? 0 : 3)`], {
      stdio: 'ignore',
      env: toolEnv()
    })
    probe.once('error', () => resolve(false))
    probe.once('exit', (code) => resolve(code === 0))
  })
  return available
}

/** The argv that runs `command` (an argv) under the supervisor. */
export function supervised(command: string[], graceMs: number): string[] {
  const nr = PRCTL[process.arch]
  if (nr === undefined) throw new Error(`no prctl syscall number for ${process.arch}`)
  return [
    'perl',
    '-e',
    SUPERVISOR,
    String(nr),
    String(Math.max(0, Math.round(graceMs))),
    ...command
  ]
}
