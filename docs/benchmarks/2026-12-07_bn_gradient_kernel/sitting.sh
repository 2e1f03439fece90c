#!/usr/bin/env bash
# Issue 39: the code with batch norm's backward as the fused gradient kernel (a89fd7b) and
# then pooling before the ReLU, side by side with the peers, in one sitting. Each round: the
# peers (peers_round), then the code without the ReLU lever ("before", a worktree of BEFORE:
# a89fd7b, the gradient kernel alone), then this checkout ("after"; the order of the two codes
# flips in even rounds), every plan (training and meta-test, A and B), every other process of
# ours stopped (quiet_sitting.sh), peer episodes, medians of 10, default thread pools (2, 1).
# Usage: BEFORE=<worktree> PEER_WORK=/tmp/peer_work bash sitting.sh [ROUNDS]   (from the repo
#   root; ROUNDS default 2)
set -uo pipefail
root=$PWD
out=$root/docs/benchmarks/2026-12-07_bn_gradient_kernel
rounds=${1:-2}
export PEER_WORK=${PEER_WORK:-/tmp/peer_work} TAML_DATA_DIR=${TAML_DATA_DIR:-/work/shared/data}
before=${BEFORE:?set BEFORE to a worktree of the commit before the lever}
source "$root/docs/benchmarks/quiet_sitting.sh"
plan="$A:train,$B:train,$M:train,$N:train,$A:test,$B:test"
for r in $(seq 1 "$rounds"); do
  date -Is
  peers_round "$out" "$r"
  codes=("before=$before" "after=$root")
  if [ $((r % 2)) = 0 ]; then codes=("after=$root" "before=$before"); fi
  for item in "${codes[@]}"; do
    date -Is
    bench_from "${item#*=}" "$out/sitting_${item%%=*}_r$r" "$plan"
  done
done
tail -n "$((6 * rounds))" "$PEER_WORK/results.jsonl" > "$out/peers.jsonl"  # this sitting's rows
date -Is
