// First: re-executes without the secrets in the environment block (see seal-env.ts).
import './seal-env.js'
import * as core from '@actions/core'
import { run } from './main.js'
import { cleanup } from './post.js'

// One bundle serves both `main:` and `post:` (as actions/checkout does): the main step leaves
// a state flag that only the post step of the same job can see.
if (core.getState('isPost') === 'true') {
  await cleanup()
} else {
  core.saveState('isPost', 'true')
  await run()
}
