#!/usr/bin/env bash
# Issue 39: the convolutions without their biases (backbone.conv_without_bias: meta-test,
# 1cfc5f2, then training too) side by side with the peers, in one sitting. Each round: the
# peers (peers_round; float32, they have no bfloat16 path), then this checkout in float32
# (every plan) and in mixed_bfloat16 (Bayesian TAML train and meta-test, A and B); every other
# process of ours stopped (quiet_sitting.sh), peer episodes, medians of 10, default thread
# pools (2, 1).
# OUT (default this folder) takes a repeat sitting of the same code elsewhere (the evening's:
# OUT=docs/benchmarks/2026-12-07_evening_sitting).
# Usage: PEER_WORK=/tmp/peer_work [OUT=<folder>] bash sitting.sh [ROUNDS]   (from the repo root;
#   default 2)
set -uo pipefail
root=$PWD
out=${OUT:-$root/docs/benchmarks/2026-12-07_unbiased_conv}
mkdir -p "$out"
rounds=${1:-2}
export PEER_WORK=${PEER_WORK:-/tmp/peer_work} TAML_DATA_DIR=${TAML_DATA_DIR:-/work/shared/data}
source "$root/docs/benchmarks/quiet_sitting.sh"
bf=:mixed_bfloat16
for r in $(seq 1 "$rounds"); do
  date -Is
  peers_round "$out" "$r"
  date -Is
  bench_from "$root" "$out/sitting_float32_r$r" "$A:train,$B:train,$M:train,$N:train,$A:test,$B:test"
  date -Is
  bench_from "$root" "$out/sitting_bf16_r$r" "$A:train$bf,$B:train$bf,$A:test$bf,$B:test$bf"
done
tail -n "$((6 * rounds))" "$PEER_WORK/results.jsonl" > "$out/peers.jsonl"
date -Is
