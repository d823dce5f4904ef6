import type { PhrasingContent, RootContent } from 'mdast'
import * as md from '../core/report/mdast.js'

// GitHub refusing to open the pull request (403, 422) is the failure a first run meets most:
// "Allow GitHub Actions to create and approve pull requests" is off by default. The status
// comment then says what GitHub said, the fix, and where the work is (its branches are pushed
// before the pull request is asked for), so nothing is lost and the next run only opens it.

export type RefusalKind =
  | 'actions-not-permitted'
  | 'no-permission'
  | 'token-refused'
  | 'no-commits'
  | 'already-exists'
  | 'other'

export interface PullRefusal {
  status: number
  /** GitHub's words (untrusted-ish: shown as text). */
  message: string
  kind: RefusalKind
}

/** The refusal in an API error (one with an HTTP status), or undefined for other errors. */
export function pullRefusal(error: unknown, usedPrToken: boolean): PullRefusal | undefined {
  const e = error as {
    status?: unknown
    message?: unknown
    response?: { data?: { message?: unknown; errors?: { message?: unknown }[] } }
  } | null
  if (typeof e?.status !== 'number') return undefined
  const data = e.response?.data
  const details = (data?.errors ?? []).map((x) => x?.message).filter((m) => typeof m === 'string')
  const message =
    [typeof data?.message === 'string' ? data.message : String(e.message ?? ''), ...details]
      .filter(Boolean)
      .join(': ') || `HTTP ${e.status}`
  return { status: e.status, message, kind: refusalKind(e.status, message, usedPrToken) }
}

function refusalKind(status: number, message: string, usedPrToken: boolean): RefusalKind {
  if (status === 422 && /no commits between/i.test(message)) return 'no-commits'
  if (status === 422 && /already exists/i.test(message)) return 'already-exists'
  if (status === 403 || status === 401 || status === 404) {
    if (usedPrToken) return 'token-refused'
    if (/not permitted to create or approve pull requests/i.test(message))
      return 'actions-not-permitted'
    if (/resource not accessible/i.test(message)) return 'no-permission'
    return status === 403 ? 'actions-not-permitted' : 'no-permission'
  }
  return 'other'
}

/** True when the step should fail: work is waiting for a pull request that is not there. */
export function refusalFailsStep(refusal: PullRefusal): boolean {
  return refusal.kind !== 'no-commits'
}

const SETTING = 'Allow GitHub Actions to create and approve pull requests'

function fix(refusal: PullRefusal, head: string, base: string): PhrasingContent[] {
  const prToken: PhrasingContent[] = [
    md.text('Or set the '),
    md.inline('pr-token'),
    md.text(
      ' input to a token that may open pull requests (a fine-grained personal access token or a GitHub App token with Pull requests: write and Contents: read on this repository): pull requests it opens also start the repository’s workflows (CI), which pull requests opened with '
    ),
    md.inline('GITHUB_TOKEN'),
    md.text(' never do.')
  ]
  switch (refusal.kind) {
    case 'actions-not-permitted':
      return [
        md.text('In the repository’s Settings → Actions → General → Workflow permissions, tick '),
        md.strong(md.text(SETTING)),
        md.text(
          ' and save (in an organization, an owner first allows it in the organization’s Settings → Actions → General). '
        ),
        ...prToken
      ]
    case 'no-permission':
      return [
        md.text('Give the job '),
        md.inline('permissions: pull-requests: write'),
        md.text(' (and check that '),
        md.strong(md.text(SETTING)),
        md.text(' is ticked in Settings → Actions → General). '),
        ...prToken
      ]
    case 'token-refused':
      return [
        md.text('The '),
        md.inline('pr-token'),
        md.text(
          ' may not open pull requests here: give it Pull requests: write and Contents: read on this repository (or a new one that has them), or remove '
        ),
        md.inline('pr-token'),
        md.text(' to open it with '),
        md.inline('github-token'),
        md.text('.')
      ]
    case 'no-commits':
      return [
        md.inline(head),
        md.text(' holds no commit that '),
        md.inline(base),
        md.text(
          ' does not have: the tasks’ work is on the base already, so there is nothing to review.'
        )
      ]
    case 'already-exists':
      return [
        md.text('A pull request from '),
        md.inline(head),
        md.text(' is already open against another base. Close it, or change its base to '),
        md.inline(base),
        md.text(' (or set '),
        md.inline('base-branch'),
        md.text(' to its base), and run again.')
      ]
    default:
      return [md.text('GitHub’s message above says what it refused; fix that and run again.')]
  }
}

/**
 * The status comment's notice: GitHub's answer, the fix, the pushed branches that hold the
 * work, a link to open the pull request by hand, and that a new run only opens it.
 */
export function refusalNotice(
  refusal: PullRefusal,
  o: { head: string; base: string; pushed: string[]; compareUrl?: string }
): RootContent[] {
  const tasks = o.pushed.filter((b) => b !== o.head)
  const lines: PhrasingContent[][] = [
    [
      md.strong(md.text(`⚠️ GitHub refused to open the pull request (HTTP ${refusal.status}).`)),
      md.text(' It said: '),
      md.untrusted(refusal.message, 400)
    ],
    [md.strong(md.text('Fix:')), md.text(' '), ...fix(refusal, o.head, o.base)],
    [
      md.strong(md.text('Nothing is lost:')),
      md.text(' the merged work is on '),
      md.inline(o.head),
      ...(tasks.length
        ? [
            md.text(', each task’s on its branch ('),
            ...md.joined(
              tasks.map((b) => [md.inline(b)]),
              ', '
            ),
            md.text(')')
          ]
        : []),
      md.text(', all pushed. '),
      ...(o.compareUrl
        ? [md.link(o.compareUrl, md.text('Open the pull request by hand')), md.text(', or run ')]
        : [md.text('Run ')]),
      md.text('again after the fix ('),
      md.inline('/fanout run'),
      md.text('): finished tasks are reused, so it only opens the pull request.')
    ]
  ]
  return [md.blockquote(md.paragraph(...md.joined(lines, '\n')))]
}

/** The one-line reason for "No pull request:" and for the step's failure message. */
export function refusalReason(refusal: PullRefusal): string {
  const what =
    refusal.kind === 'actions-not-permitted'
      ? `turn on "${SETTING}" (Settings → Actions → General) or set pr-token`
      : refusal.kind === 'no-permission'
        ? 'give the job pull-requests: write, or set pr-token'
        : refusal.kind === 'token-refused'
          ? 'the pr-token needs Pull requests: write on this repository'
          : refusal.kind === 'no-commits'
            ? 'the integration branch holds nothing the base does not'
            : refusal.kind === 'already-exists'
              ? 'a pull request from the integration branch is open against another base'
              : 'see the status comment'
  return `GitHub refused to open it (HTTP ${refusal.status}): ${what}.`
}
