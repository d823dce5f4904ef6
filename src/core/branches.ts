import type { Git } from './git/git.js'

// The integration branch and the task branches live side by side under one prefix, never one
// inside the other: git cannot hold both `a/b` and `a/b/c` as branches.
export function integrationBranchName(prefix: string): string {
  return `${prefix}/integration`
}

export function taskBranchName(prefix: string, taskId: string): string {
  return `${prefix}/${taskId}`
}

export function defaultBranchPrefix(issueNumber: number): string {
  return `fanout/issue-${issueNumber}`
}

/** Rejects prefixes git would refuse, or that could be read as an option. */
export async function validateBranchPrefix(git: Git, prefix: string): Promise<void> {
  const bad =
    prefix === '' ||
    prefix.startsWith('-') ||
    prefix.startsWith('/') ||
    prefix.endsWith('/') ||
    prefix.startsWith('refs/') ||
    !(await git.test(['check-ref-format', '--branch', `${prefix}/integration`], {
      okExitCodes: [128]
    }))
  if (bad) {
    throw new Error(
      `Input branch-prefix "${prefix}" is not a usable branch name prefix: use something like "fanout/issue-12" (no spaces, no leading "-" or "/", no "..", no trailing "/").`
    )
  }
}
