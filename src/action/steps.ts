// The steps of one run that the single-job action and the matrix jobs share, one concern a
// file under steps/: the run's context, the issue and its tasks, the lock and labels, preparing
// the plan, running the engine, publishing its result, and `/fanout status`.

export { backgroundWorkDone, coreLogger, runLink, type Run } from './steps/context.js'
export { runEngine } from './steps/engine.js'
export { explainOnIssue, readIssue, readTasks } from './steps/issue.js'
export { setProgressLabel, withIssueLock } from './steps/lock.js'
export {
  fetchBase,
  fetchReused,
  keepOrStop,
  prepareRun,
  refuseBranchClashes,
  resolveBaseBranch,
  type PreparedRun
} from './steps/prepare.js'
export { runAndPublish, setOutputs, taskOutput } from './steps/publish.js'
export { refreshStatus } from './steps/status.js'
