#!/usr/bin/env bash
# The least a worktree-per-task tool must do, in plain git and bash: a baseline of the parallel
# case (bench/run.mjs), run in the same session as agent-fanout so that the two share the
# machine's state. Per task: register a worktree, check it out, run the agent in it, commit.
# No merge, no report, no output capture, no process supervision. Its wall time is what this
# machine allows; one-at-a-time ÷ this wall is the best speedup any such tool could show here.
#
# usage: minimal-pipeline.sh <repo> <dir> <tasks> <parallel> <agent-command>
#   TASK_ID=t<k> is in the agent's environment, as with agent-fanout.
set -euo pipefail
repo=$1 dir=$2 tasks=$3 parallel=$4 agent=$5
# Checkouts two at a time (more measured no faster on 2 cores); registration one at a time, as
# concurrent `git worktree add` can read each other's half-written entries (git 2.39).
lanes=2
mkdir -p "$dir"

task() {
  local t=$1 wt=$dir/t$1
  flock "$dir/.register" git -C "$repo" worktree add -q --no-checkout --detach "$wt" main
  flock "$dir/.lane$((t % lanes))" git -C "$wt" reset -q --hard
  (cd "$wt" && TASK_ID=t$t bash -c "$agent")
  git -C "$wt" add -A
  git -C "$wt" commit -q -m "task t$t"
}

# `parallel` slots, each running its share of the tasks one after another.
slot() {
  local t
  for ((t = $1; t <= tasks; t += parallel)); do task "$t"; done
}

pids=()
for ((s = 1; s <= parallel && s <= tasks; s++)); do
  slot "$s" &
  pids+=($!)
done
# Every slot is waited for, even after one failed: the caller deletes the worktrees next.
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit "$status"
