// Retries, the cost cap and the agents' reports through the bundled action (dist/index.js):
// what a user sees in the status comment, the pull request, the job summary and the outputs.
import { describe, expect, it } from '@jest/globals'
import { act, statusComments, tasksOutput, useCleanup, world } from '../adversarial/support.js'

useCleanup()

/** Counts its starts per task in $SCRATCH; writes a result file; `then` runs after. */
const agent = (cost: number, then: string): string =>
  [
    'n=$(( $(cat "$SCRATCH/n-$TASK_ID" 2>/dev/null || echo 0) + 1 )); echo $n > "$SCRATCH/n-$TASK_ID"',
    `echo '{"summary":"Did @someone #1 work","cost_usd":${cost},"input_tokens":1000,"output_tokens":50}' > "$TASK_RESULT_FILE"`,
    then
  ].join('\n')

describe('retries and cost in the action', () => {
  it('retries a rate-limited task, and reports every attempt, cost and tokens', async () => {
    const w = await world('- [ ] T1: First\n- [ ] T2: Second\n')
    const r = await act(
      w,
      agent(
        0.25,
        // T1's first start is "rate limited": it exits 75 and asks for no wait.
        'if [ "$TASK_ID" = T1 ] && [ $n = 1 ]; then echo "429 Too Many Requests; retry-after: 0"; exit 75; fi\necho ok > "out-$TASK_ID.txt"'
      )
    )
    expect({ exit: r.exitCode, errors: r.errors }).toEqual({ exit: 0, errors: [] })
    expect(tasksOutput(r)).toEqual([
      expect.objectContaining({
        id: 'T1',
        status: 'merged',
        costUsd: 0.5,
        inputTokens: 2000,
        outputTokens: 100,
        attempts: 2
      }),
      expect.objectContaining({ id: 'T2', status: 'merged', costUsd: 0.25, attempts: 1 })
    ])
    expect(r.outputs['total-cost-usd']).toBe('0.75')
    const comment = statusComments(w)[0].body
    expect(comment).toContain("Agents' reported cost: $0.7500 · tokens: 3,000 in / 150 out.")
    expect(comment).toContain('2 attempts: exit status 75 (temporary failure); then succeeded')
    expect(comment).toMatch(/\| T1 +\|.*\| \$0\.5000 +\| 2,000 in \/ 100 out +\|/)
    // The agent's summary is text: no mention, no cross-reference.
    expect(comment).toContain('Did @\u200bsomeone #\u200b1 work')
    expect(w.api.pulls[0].body).toContain("Agents' reported cost: $0.7500")
    expect(r.summary).toContain("Agents' reported cost: $0.7500")
  })

  it('starts no agent once max-cost-usd is reached; the tasks not started are skipped', async () => {
    const w = await world('- [ ] T1: a\n- [ ] T2: b\n- [ ] T3: c\n')
    const r = await act(w, agent(0.6, 'echo ok > "out-$TASK_ID.txt"'), {
      inputs: { 'max-parallel': '1', 'max-cost-usd': '1' }
    })
    expect(r.exitCode).toBe(0)
    expect(tasksOutput(r).map((t) => [t.id, t.status, t.reason])).toEqual([
      ['T1', 'merged', undefined],
      ['T2', 'merged', undefined],
      ['T3', 'skipped', "not started: the run's reported spend $1.20 reached max-cost-usd $1.00"]
    ])
    expect(r.outputs['total-cost-usd']).toBe('1.2')
    const comment = statusComments(w)[0].body
    expect(comment).toContain('⏭️ skipped')
    expect(comment).toContain(
      "**T3**: ⏭️ not started: the run's reported spend $1.20 reached max-cost-usd $1.00"
    )
  })
})
