// A matrix workflow splits `run` into three kinds of job on as many runners: plan (one), task
// (one per task, in parallel), merge (one). They share nothing but the remote and the issue:
// the plan lives in the status comment's state block, each task's result in a git note of its
// own (core/results.ts), so no job depends on another runner's disk. Each job is a file under
// matrix/; they run the engine and publish through the same steps as the single job (steps/).

export { mergeJob } from './matrix/merge.js'
export { planJob } from './matrix/plan.js'
export { artifactName } from './matrix/shared.js'
export { taskJob } from './matrix/task.js'
