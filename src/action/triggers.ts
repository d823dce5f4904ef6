import type { Logger } from '../core/types.js'
import { errorMessage } from '../core/util/errors.js'
import type { GitHubApi } from '../github/api.js'
import { parseCommand, type ParsedCommand } from './commands.js'
import type { ActionInputs } from './inputs.js'

/** Labels that say where an issue stands, so a schedule never picks it up twice. */
export const PROGRESS_LABELS = {
  running: 'fanout:running',
  done: 'fanout:done',
  attention: 'fanout:needs-attention'
} as const

/** One piece of work this run was asked for. */
export interface Trigger {
  issueNumber: number
  command: Exclude<ParsedCommand, { kind: 'none' }>
  /** The person (or bot) on whose authority the run acts. */
  actor: string
  actorType: string
  /** The issue body as the actor saw it (from the event), when the event carries it. */
  approvedBody?: string
  /** When the actor approved the text (label time), for events that do not carry the body. */
  approvedAt?: string
  commentId?: number
  how: string
}

export interface EventContext {
  eventName: string
  payload: Record<string, unknown> & {
    action?: string
    issue?: {
      number: number
      body?: string | null
      labels?: (string | { name?: string })[]
      pull_request?: unknown
    }
    label?: { name?: string }
    comment?: { id: number; body?: string; user?: { login?: string; type?: string } }
    sender?: { login?: string; type?: string }
  }
  actor: string
}

/** Refusals stop work on one trigger without failing the step (e.g. an unauthorised actor). */
export class Refusal extends Error {}

/**
 * What the event asks for. `issues` runs on the trigger label; `issue_comment` carries a
 * `/fanout` command; `workflow_dispatch` names an issue; `schedule` sweeps open issues carrying
 * the trigger label that no run has taken yet, oldest first, on the authority of whoever applied
 * the label.
 */
export async function resolveTriggers(
  ctx: EventContext,
  inputs: ActionInputs,
  api: GitHubApi,
  logger: Logger
): Promise<Trigger[]> {
  const p = ctx.payload
  const sender = { actor: p.sender?.login ?? ctx.actor, actorType: p.sender?.type ?? 'User' }
  switch (ctx.eventName) {
    case 'issues': {
      const issue = p.issue
      if (!issue) return []
      const labelled = p.action === 'labeled' && p.label?.name === inputs.triggerLabel
      const openedWithLabel =
        p.action === 'opened' &&
        (issue.labels ?? []).some(
          (l) => (typeof l === 'string' ? l : l.name) === inputs.triggerLabel
        )
      if (!labelled && !openedWithLabel) {
        logger.info(
          `Ignoring issues.${p.action ?? '?'}: only "${inputs.triggerLabel}" being applied starts a run (input trigger-label).`
        )
        return []
      }
      return [
        {
          issueNumber: inputs.issueNumber ?? issue.number,
          command: { kind: 'run' },
          ...sender,
          approvedBody: issue.body ?? '',
          how: `label "${inputs.triggerLabel}"`
        }
      ]
    }
    case 'issue_comment': {
      if (p.action !== 'created') {
        logger.info(
          `Ignoring issue_comment.${p.action ?? '?'}: only new comments carry commands (an edited command is not run).`
        )
        return []
      }
      const command = parseCommand(p.comment?.body ?? '')
      if (command.kind === 'none') {
        logger.info('The comment is not a /fanout command; nothing to do.')
        return []
      }
      if (p.issue?.pull_request) {
        throw new Refusal(
          'agent-fanout does not take commands on pull requests: it works from issues and never runs pull request code.'
        )
      }
      const author = p.comment?.user
      return [
        {
          issueNumber: inputs.issueNumber ?? p.issue!.number,
          command,
          actor: author?.login ?? sender.actor,
          actorType: author?.type ?? sender.actorType,
          approvedBody: p.issue?.body ?? '',
          commentId: p.comment?.id,
          how: `comment ${command.kind === 'help' ? '' : `/fanout ${command.kind}`}`.trim()
        }
      ]
    }
    case 'workflow_dispatch': {
      const issueNumber = inputs.issueNumber ?? p.issue?.number
      if (!issueNumber) {
        throw new Error(
          'No issue to work on: workflow_dispatch carries no issue, so set the issue-number input (e.g. issue-number: ${{ inputs.issue }}).'
        )
      }
      // The dispatcher approves the issue as it is now.
      return [{ issueNumber, command: { kind: 'run' }, ...sender, how: 'workflow_dispatch' }]
    }
    case 'schedule':
      return scheduledTriggers(inputs, api, logger)
    default: {
      const issueNumber = inputs.issueNumber ?? p.issue?.number
      if (!issueNumber)
        throw new Error(
          `agent-fanout does not know what to do on a ${ctx.eventName} event without the issue-number input.`
        )
      return [{ issueNumber, command: { kind: 'run' }, ...sender, how: ctx.eventName }]
    }
  }
}

async function scheduledTriggers(
  inputs: ActionInputs,
  api: GitHubApi,
  logger: Logger
): Promise<Trigger[]> {
  if (inputs.issueNumber) {
    throw new Error(
      'A scheduled run picks issues by the trigger-label input; do not set issue-number on schedule.'
    )
  }
  const taken = new Set<string>(Object.values(PROGRESS_LABELS))
  const candidates = (await api.listOpenIssuesWithLabel(inputs.triggerLabel)).filter(
    (i) => !i.labels.some((l) => taken.has(l))
  )
  logger.info(
    `Schedule: ${candidates.length} open issue(s) carry "${inputs.triggerLabel}" and were not taken by a run yet; processing at most ${inputs.maxIssues}`
  )
  const triggers: Trigger[] = []
  for (const issue of candidates.slice(0, inputs.maxIssues)) {
    let events
    try {
      events = await api.listLabelEvents(issue.number)
    } catch (error) {
      logger.warning(
        `#${issue.number}: could not read who labelled it (${errorMessage(error)}); skipped`
      )
      continue
    }
    const labelled = events
      .filter((e) => e.event === 'labeled' && e.label === inputs.triggerLabel)
      .at(-1)
    if (!labelled) {
      logger.warning(`#${issue.number}: no "${inputs.triggerLabel}" label event found; skipped`)
      continue
    }
    triggers.push({
      issueNumber: issue.number,
      command: { kind: 'run' },
      actor: labelled.actor,
      actorType: labelled.actorType,
      approvedAt: labelled.createdAt,
      how: `schedule (labelled by ${labelled.actor})`
    })
  }
  return triggers
}

/**
 * The actor must be a human with write, maintain or admin permission (the collaborator
 * permission API, not author_association), or a bot listed in allowed-bots.
 */
export async function authorize(
  trigger: Trigger,
  inputs: ActionInputs,
  api: GitHubApi,
  logger: Logger
): Promise<void> {
  const isBot = trigger.actorType === 'Bot' || trigger.actor.endsWith('[bot]')
  if (isBot) {
    if (inputs.allowedBots.includes(trigger.actor.toLowerCase())) {
      logger.info(
        `Triggered by ${trigger.actor}, a bot listed in allowed-bots (not permission-checked)`
      )
      return
    }
    throw new Refusal(
      `${trigger.actor} is a bot; bots may trigger agent-fanout only when listed in the allowed-bots input.`
    )
  }
  let permission: string
  try {
    permission = await api.getPermission(trigger.actor)
  } catch (error) {
    // Fail closed: no answer is no permission.
    throw new Error(
      `Could not check ${trigger.actor}'s permission on the repository: ${errorMessage(error)}`
    )
  }
  if (!['admin', 'maintain', 'write'].includes(permission)) {
    throw new Refusal(
      `@${trigger.actor} has "${permission}" permission on ${api.owner}/${api.repo}; agent-fanout runs only for people with write, maintain or admin permission.`
    )
  }
  logger.info(`Triggered by ${trigger.actor} (${permission} permission) through ${trigger.how}`)
}

/**
 * Issue text edited after the actor approved it is not used: someone else (the author) may
 * have changed what the agents will read. Returns the reason to refuse, if any.
 */
export async function editedAfterApproval(
  trigger: Trigger,
  body: string,
  api: GitHubApi
): Promise<string | undefined> {
  if (trigger.approvedBody !== undefined) {
    if (trigger.approvedBody.replace(/\r\n/g, '\n') === body.replace(/\r\n/g, '\n'))
      return undefined
    return `the issue was edited after ${trigger.actor} triggered this run (${trigger.how}), so its new text was not approved. Re-apply the label or comment the command again to run on the current text.`
  }
  if (trigger.approvedAt) {
    const edited = await api.getBodyLastEditedAt(trigger.issueNumber)
    if (edited && Date.parse(edited) > Date.parse(trigger.approvedAt)) {
      return `the issue was edited at ${edited}, after ${trigger.actor} labelled it at ${trigger.approvedAt}, so its new text was not approved. Remove and re-apply the trigger label to run on the current text.`
    }
  }
  return undefined
}
