#!/usr/bin/env bash
# Issue 39: one lever measured alone and side by side with the peers, in one sitting. The lever:
# each task's loss and meta-gradient as one tf.function, traced once and called per task (not
# inlined outside XLA), instead of every task's second-order graph traced into the step
# (MetaLearner._task_gradients). Each round: the peers (../shared/peer_bench/run.sh, PyTorch
# CPU, 2 threads, float32), then the code without the lever ("before", a worktree of BEFORE's
# commit; training plans only, since the meta-test does not compute meta-gradients), then the
# code with it ("after", this checkout; training and meta-test), every other process of ours
# stopped (quiet_sitting.sh), peer episodes, medians of 10, default thread pools (2, 1).
# Usage: BEFORE=<worktree> PEER_WORK=/tmp/peer_work bash sitting.sh [ROUNDS]   (from the repo
#   root; ROUNDS default 2)
set -uo pipefail
root=$PWD
out=$root/docs/benchmarks/2026-12-06_task_function
rounds=${1:-2}
export PEER_WORK=${PEER_WORK:-/tmp/peer_work} TAML_DATA_DIR=${TAML_DATA_DIR:-/work/shared/data}
before=${BEFORE:?set BEFORE to a worktree of the commit before the lever}
source "$root/docs/benchmarks/quiet_sitting.sh"
train=$A:train,$B:train,$M:train,$N:train
for r in $(seq 1 "$rounds"); do
  date -Is
  LABELS=r$r ITERS=10 bash "$TAML_DATA_DIR/../peer_bench/run.sh" 2>&1 | tee "$out/peers_r$r.txt"
  date -Is
  bench_from "$before" "$out/before_r$r" "$train"
  date -Is
  bench_from "$root" "$out/after_r$r" "$train,$A:test,$B:test"
done
tail -n "$((6 * rounds))" "$PEER_WORK/results.jsonl" > "$out/peers.jsonl"  # this sitting's rows
date -Is
