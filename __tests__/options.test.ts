// One definition of the options (src/core/options.ts) feeds the action's inputs and the CLI's
// flags: action.yml must say what it says, and both front doors must parse alike.
import { describe, expect, it } from '@jest/globals'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { getInputs } from '../src/action/inputs.js'
import { PRESETS } from '../src/core/agents/presets/index.js'
import { CLI_OPTIONS, cliFlag, OPTIONS, readOptions, type OptionName } from '../src/core/options.js'

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const actionYml = parse(readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as {
  inputs: Record<string, { description: string; default?: string; required?: boolean }>
}

describe('action.yml and the option definition', () => {
  it('list the same inputs, in the same order', () => {
    expect(Object.keys(actionYml.inputs)).toEqual(Object.keys(OPTIONS))
  })

  it.each(Object.keys(actionYml.inputs))('%s: same default and description', (name) => {
    const input = actionYml.inputs[name]
    const def = OPTIONS[name as OptionName]
    expect({ default: String(input.default ?? ''), description: input.description.trim() }).toEqual(
      { default: def.default, description: def.description }
    )
    expect(input.required).toBe(false)
  })

  it('offers every agent preset and no other', () => {
    expect([...OPTIONS.agent.values].sort()).toEqual([...PRESETS.keys()].sort())
  })
})

describe('readOptions', () => {
  const none = (): undefined => undefined

  it('gives each option the default action.yml documents', () => {
    const o = readOptions(CLI_OPTIONS, none, (n) => `--${n}`)
    expect(o['max-parallel']).toBe(4)
    expect(o['task-timeout-minutes']).toBe(30 * 60_000)
    expect(o['conflict-strategy']).toEqual(['report'])
    expect(o['max-reruns']).toBe(1)
    expect(o.verify).toBe('final')
    expect([...o['fail-on']]).toEqual(['failed', 'conflicted'])
    expect(o['timeout-minutes']).toBeUndefined()
  })

  it('uses the CLI default where a local run has its own', () => {
    expect(readOptions(['issue-number'], none, (n) => n, 'cli')['issue-number']).toBe(1)
    expect(readOptions(['issue-number'], none, (n) => n, 'action')['issue-number']).toBeUndefined()
    expect(readOptions(['commit-author'], none, (n) => n, 'cli')['commit-author']).toBeUndefined()
  })

  it.each([
    ['max-parallel', '0', '--max-parallel must be a whole number from 1 to 64, got "0".'],
    ['max-parallel', 'lots', '--max-parallel must be a whole number from 1 to 64, got "lots".'],
    ['timeout-minutes', '0', '--timeout-minutes must be a positive number, got "0".'],
    ['task-timeout-minutes', 'x', '--task-timeout-minutes must be a positive number, got "x".'],
    ['fail-on', 'failed,oops', '--fail-on has an unknown outcome "oops"'],
    ['conflict-strategy', 'rerun,magic', '--conflict-strategy has an unknown strategy "magic"'],
    ['verify', 'sometimes', '--verify must be each or final, got "sometimes".'],
    ['max-reruns', '9', '--max-reruns must be a whole number from 0 to 5, got "9".'],
    ['commit-author', 'me', '--commit-author must look like "Name <email@example.com>"']
  ] as const)('%s=%s is refused, naming the option', (name, value, message) => {
    expect(() =>
      readOptions(
        [name],
        () => value,
        (n) => `--${cliFlag(n)}`
      )
    ).toThrow(message)
  })

  it('parses the action inputs and the CLI flags to the same values', () => {
    const given: Partial<Record<OptionName, string>> = {
      'conflict-strategy': 'rerun, agent,report',
      'max-reruns': '2',
      'resolve-command': 'fix.sh',
      'verify-command': 'npm test',
      verify: 'each',
      'task-timeout-minutes': '2.5',
      'timeout-minutes': '10',
      'max-parallel': '3',
      'fail-on': 'failed,no-changes',
      'branch-prefix': 'work/x'
    }
    const action = getInputs(
      (n) => ({ ...given, 'github-token': 't', 'agent-command': 'true' })[n as OptionName] ?? '',
      {}
    )
    const cli = readOptions(
      CLI_OPTIONS,
      (n) => given[n],
      (n) => `--${n}`,
      'cli'
    )
    expect(action).toMatchObject({
      conflictStrategy: cli['conflict-strategy'],
      maxReruns: cli['max-reruns'],
      resolveCommand: cli['resolve-command'],
      verify: { command: cli['verify-command'], mode: cli.verify },
      taskTimeoutMs: cli['task-timeout-minutes'],
      deadlineMs: cli['timeout-minutes'],
      maxParallel: cli['max-parallel'],
      failOn: cli['fail-on'],
      branchPrefix: cli['branch-prefix']
    })
    expect(cli['task-timeout-minutes']).toBe(150_000)
  })

  it('names action inputs as inputs in the action', () => {
    expect(() =>
      getInputs(
        (n) => ({ 'github-token': 't', 'agent-command': 'x', 'max-parallel': '0' })[n] ?? ''
      )
    ).toThrow('Input max-parallel must be a whole number from 1 to 64, got "0".')
  })
})
