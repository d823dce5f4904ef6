import { describe, expect, it } from '@jest/globals'
import { runInDependencyOrder, type Verdict } from '../src/core/run/schedule.js'

interface T {
  id: string
  dependsOn?: string[]
}
const t = (id: string, ...dependsOn: string[]): T => ({ id, dependsOn })

/**
 * A fake runTask: each task finishes when the test says so (`finish(id, verdict)`), so the
 * order of events is decided by the test, never by timing. `log` records starts and skips.
 */
function harness(tasks: T[], limit = 4, outside: (id: string) => Verdict = () => ({ ok: true })) {
  const log: string[] = []
  const pending = new Map<string, (v: Verdict) => void>()
  const running = new Set<string>()
  let most = 0
  const done = runInDependencyOrder({
    tasks,
    limit,
    outside,
    run: (task) =>
      new Promise<Verdict>((resolve) => {
        log.push(`start ${task.id}`)
        running.add(task.id)
        most = Math.max(most, running.size)
        pending.set(task.id, (v) => {
          running.delete(task.id)
          resolve(v)
        })
      }),
    skip: (task, reason) => log.push(`skip ${task.id}: ${reason}`)
  })
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 10; i++) await Promise.resolve()
  }
  return {
    log,
    done,
    most: () => most,
    running: () => [...running].sort(),
    finish: async (id: string, verdict: Verdict = { ok: true }): Promise<void> => {
      await settle()
      const resolve = pending.get(id)
      if (!resolve) throw new Error(`${id} is not running (log: ${log.join('; ')})`)
      pending.delete(id)
      resolve(verdict)
      await settle()
    },
    settle
  }
}

describe('runInDependencyOrder', () => {
  it('runs a chain one after the other: T3 starts only after T2, T2 only after T1', async () => {
    const h = harness([t('T1'), t('T2', 'T1'), t('T3', 'T2')])
    await h.settle()
    expect(h.running()).toEqual(['T1'])
    await h.finish('T1')
    expect(h.running()).toEqual(['T2'])
    await h.finish('T2')
    expect(h.running()).toEqual(['T3'])
    await h.finish('T3')
    const verdicts = await h.done
    expect([...verdicts.values()].every((v) => v.ok)).toBe(true)
    expect(h.log).toEqual(['start T1', 'start T2', 'start T3'])
  })

  it('does not hold an independent task back, and starts a dependent as soon as its own dependency finished (no waves)', async () => {
    // T2 depends on T1; T3 is independent and slow; T4 depends on T3.
    const h = harness([t('T1'), t('T2', 'T1'), t('T3'), t('T4', 'T3')])
    await h.settle()
    expect(h.running()).toEqual(['T1', 'T3'])
    await h.finish('T1')
    // T3 still runs: in waves T2 would wait for it.
    expect(h.running()).toEqual(['T2', 'T3'])
    await h.finish('T2')
    await h.finish('T3')
    expect(h.running()).toEqual(['T4'])
    await h.finish('T4')
    await h.done
  })

  it('starts the join of a diamond once both sides finished', async () => {
    const h = harness([t('T1'), t('T2', 'T1'), t('T3', 'T1'), t('T4', 'T2', 'T3')])
    await h.finish('T1')
    expect(h.running()).toEqual(['T2', 'T3'])
    await h.finish('T3')
    expect(h.running()).toEqual(['T2'])
    await h.finish('T2')
    expect(h.running()).toEqual(['T4'])
    await h.finish('T4')
    await h.done
  })

  it('skips the dependents of a failed task with the chain as the reason, and runs the rest', async () => {
    const h = harness([t('T1'), t('T2', 'T1'), t('T3', 'T2'), t('T4')])
    await h.finish('T1', { ok: false, says: 'failed' })
    await h.finish('T4')
    const verdicts = await h.done
    expect(h.log).toEqual([
      'start T1',
      'start T4',
      'skip T2: T1 failed',
      'skip T3: T2 skipped (T1 failed)'
    ])
    expect(verdicts.get('T3')).toEqual({ ok: false, says: 'skipped (T2 skipped (T1 failed))' })
  })

  it('waits for every dependency before skipping, and names each that let it down', async () => {
    const h = harness([t('T1'), t('T2'), t('T3'), t('T4', 'T1', 'T2', 'T3')])
    await h.finish('T2', { ok: false, says: 'had no changes' })
    expect(h.log).not.toContain('skip T4: T2 had no changes')
    await h.finish('T1', { ok: false, says: 'failed' })
    await h.finish('T3')
    await h.done
    expect(h.log.at(-1)).toBe('skip T4: T1 failed, T2 had no changes')
  })

  it('asks about dependencies outside the run: done ones are there to build on, dropped ones are not', async () => {
    const outside = (id: string): Verdict =>
      id === 'T1' ? { ok: true } : { ok: false, says: 'was dropped' }
    const h = harness([t('T3', 'T1'), t('T4', 'T2'), t('T5', 'T4')], 4, outside)
    await h.finish('T3')
    await h.done
    expect(h.log).toEqual([
      'skip T4: T2 was dropped',
      'skip T5: T4 skipped (T2 was dropped)',
      'start T3'
    ])
  })

  it('keeps at most `limit` tasks running, preferring list order among ready tasks', async () => {
    const h = harness([t('T1'), t('T2'), t('T3'), t('T4', 'T1'), t('T5')], 2)
    await h.settle()
    expect(h.running()).toEqual(['T1', 'T2'])
    await h.finish('T1')
    // T3 came first in the list among the ready ones (T3, T4, T5).
    expect(h.running()).toEqual(['T2', 'T3'])
    await h.finish('T2')
    expect(h.running()).toEqual(['T3', 'T4'])
    await h.finish('T3')
    await h.finish('T4')
    await h.finish('T5')
    await h.done
    expect(h.most()).toBe(2)
  })

  it('counts a run that throws as failed for its dependents, starts nothing more and rethrows once the rest settled', async () => {
    const log: string[] = []
    let releaseT2: () => void = () => undefined
    const done = runInDependencyOrder({
      tasks: [t('T1'), t('T2'), t('T3', 'T1'), t('T4')],
      limit: 2,
      outside: () => ({ ok: true }),
      run: async (task) => {
        log.push(`start ${task.id}`)
        if (task.id === 'T1') throw new Error('worktree broke')
        await new Promise<void>((resolve) => (releaseT2 = resolve))
        log.push(`end ${task.id}`)
        return { ok: true }
      },
      skip: (task, reason) => log.push(`skip ${task.id}: ${reason}`)
    })
    for (let i = 0; i < 10; i++) await Promise.resolve()
    releaseT2()
    await expect(done).rejects.toThrow('worktree broke')
    expect(log).toEqual(['start T1', 'start T2', 'skip T3: T1 failed', 'end T2'])
  })

  it('resolves at once with nothing to run', async () => {
    const verdicts = await runInDependencyOrder({
      tasks: [],
      limit: 2,
      outside: () => ({ ok: true }),
      run: () => Promise.resolve({ ok: true }),
      skip: () => undefined
    })
    expect(verdicts.size).toBe(0)
  })
})
