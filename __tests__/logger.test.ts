import { describe, expect, it } from '@jest/globals'
import { inertLogText } from '../src/core/logger.js'
import { runnerCommands } from './adversarial/support.js'

// What the runner would run from a log line is read as actions/runner reads it (support.ts).
describe('inertLogText', () => {
  const hostile = [
    'T2: conflicts in x\n::error::pwned, y',
    'conflicts in a\r::warning::cr, b\r\n::notice::crlf',
    '::stop-commands::abc',
    'reason:\n   \t::add-mask::indented',
    'nbsp\n\u00a0\u2003::debug::wide',
    'file ##[error]legacy and ##[group]g',
    'x\n\n::endgroup::'
  ]

  it('leaves no workflow command in any line of a message', () => {
    for (const message of hostile) {
      expect(runnerCommands(message)).not.toEqual([])
      expect([message, runnerCommands(inertLogText(message))]).toEqual([message, []])
    }
  })

  // .NET's TrimStart also trims U+0085 (NEL), which support.ts's JavaScript trimStart does not.
  it('starts with a zero-width space a line that only .NET whitespace keeps from starting with ::', () => {
    expect(inertLogText('nel\n\u0085::set-output name=x::y')).toBe(
      'nel\n\u200b\u0085::set-output name=x::y'
    )
  })

  it('keeps the text and its line breaks, adding only zero-width spaces', () => {
    for (const message of hostile)
      expect(inertLogText(message).replace(/\u200b/g, '')).toBe(message)
    for (const ordinary of ['[T1] started: Fix the greeting', 'pushed a: ok\nb::c', ''])
      expect(inertLogText(ordinary)).toBe(ordinary)
  })
})
