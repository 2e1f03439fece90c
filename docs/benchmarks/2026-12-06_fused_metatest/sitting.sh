#!/usr/bin/env bash
# Issue 39: one lever measured alone and side by side with the peers, in one sitting. The lever:
# meta-test's inner loop (first order: nothing differentiates a prediction; padding dropped)
# runs batch norm as TensorFlow's fused kernel (FusedBatchNormV3 and its gradient) instead of
# the closed form, which training's exact path keeps. Each round: the peers
# (../shared/peer_bench/run.sh, PyTorch CPU, 2 threads, float32), then the code without the
# lever ("before", a worktree of BEFORE's commit; meta-test plans only, since training is
# unchanged), then the code with it ("after", this checkout; training and meta-test), every
# other process of ours stopped (quiet_sitting.sh), peer episodes, medians of 10, default
# thread pools (2, 1).
# Usage: BEFORE=<worktree> PEER_WORK=/tmp/peer_work bash sitting.sh [ROUNDS]   (from the repo
#   root; ROUNDS default 2)
set -uo pipefail
root=$PWD
out=$root/docs/benchmarks/2026-12-06_fused_metatest
rounds=${1:-2}
export PEER_WORK=${PEER_WORK:-/tmp/peer_work} TAML_DATA_DIR=${TAML_DATA_DIR:-/work/shared/data}
before=${BEFORE:?set BEFORE to a worktree of the commit before the lever}
source "$root/docs/benchmarks/quiet_sitting.sh"
for r in $(seq 1 "$rounds"); do
  date -Is
  LABELS=r$r ITERS=10 bash "$TAML_DATA_DIR/../peer_bench/run.sh" 2>&1 | tee "$out/peers_r$r.txt"
  date -Is
  bench_from "$before" "$out/before_r$r" "$A:test,$B:test"
  date -Is
  bench_from "$root" "$out/after_r$r" "$A:train,$B:train,$M:train,$N:train,$A:test,$B:test"
done
tail -n "$((6 * rounds))" "$PEER_WORK/results.jsonl" > "$out/peers.jsonl"  # this sitting's rows
date -Is
