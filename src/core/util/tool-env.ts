/**
 * The environment for the small tools the engine starts itself (rm, mkfifo, the perl probe):
 * PATH to find them and nothing else. The action's own environment holds the token again once
 * it has re-executed itself (action/seal-env.ts), and a child's /proc/<pid>/environ is
 * readable by agents, which run as the same user while these tools do.
 */
export function toolEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' }
}
