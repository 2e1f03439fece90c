#!/usr/bin/env bash
# Issue 39: meta-test's bfloat16 blocks (MaskedBatchNorm.fused_low_precision: with
# --precision=mixed_bfloat16, the blocks that feed another convolution run batch norm, pooling
# and ReLU in bfloat16, without the Casts between them) side by side with the peers, in one
# sitting. Each round: the peers (peers_round; float32, they have no bfloat16 path), then this
# checkout in float32 (every plan: the current result), this checkout in mixed_bfloat16
# (Bayesian TAML train and meta-test, A and B) and the code before the lever ("before", a
# worktree of BEFORE) in mixed_bfloat16 meta-test A and B (the two codes' meta-tests in flipped
# order in even rounds); every other process of ours stopped (quiet_sitting.sh), peer episodes,
# medians of 10, default thread pools (2, 1).
# Usage: BEFORE=<worktree> PEER_WORK=/tmp/peer_work bash sitting.sh [ROUNDS]   (from the repo
#   root; ROUNDS default 2)
set -uo pipefail
root=$PWD
out=$root/docs/benchmarks/2026-12-07_bf16_blocks
rounds=${1:-2}
export PEER_WORK=${PEER_WORK:-/tmp/peer_work} TAML_DATA_DIR=${TAML_DATA_DIR:-/work/shared/data}
before=${BEFORE:?set BEFORE to a worktree of the commit before the lever}
source "$root/docs/benchmarks/quiet_sitting.sh"
bf=:mixed_bfloat16
tests="$A:test$bf,$B:test$bf"
for r in $(seq 1 "$rounds"); do
  date -Is
  peers_round "$out" "$r"
  date -Is
  bench_from "$root" "$out/float32_r$r" "$A:train,$B:train,$M:train,$N:train,$A:test,$B:test"
  codes=("before=$before" "after=$root")
  if [ $((r % 2)) = 0 ]; then codes=("after=$root" "before=$before"); fi
  for item in "${codes[@]}"; do
    date -Is
    bench_from "${item#*=}" "$out/bf16_test_${item%%=*}_r$r" "$tests"
  done
  date -Is
  bench_from "$root" "$out/bf16_train_r$r" "$A:train$bf,$B:train$bf"
done
tail -n "$((6 * rounds))" "$PEER_WORK/results.jsonl" > "$out/peers.jsonl"
date -Is
