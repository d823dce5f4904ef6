// The real-CLI suite (npm run test:agents): real Claude Code and Codex CLIs, installed into a
// cache outside the project, against local model-API stand-ins. Not part of `npm test`.
import base from './jest.config.js'

export default {
  ...base,
  testMatch: ['**/__tests__/agents/**/*.agents.ts'],
  // Each CLI's case runs eight copies of it at once: one case at a time on 2 cores.
  maxWorkers: 1,
  testTimeout: 300000
}
