#!/usr/bin/env bash
# Issue 39: --precision=mixed_bfloat16 against the peers (float32; they have no bfloat16 path),
# side by side in one sitting on the code with the fused meta-test batch norm: the peers
# (../shared/peer_bench/run.sh), then taml-tf's Bayesian TAML train and meta-test, A and B, in
# mixed_bfloat16, every other process of ours stopped (quiet_sitting.sh), peer episodes, medians
# of 10. Usage: PEER_WORK=/tmp/peer_work bash bf16.sh [ROUNDS]   (from the repo root; default 1)
set -uo pipefail
root=$PWD
out=$root/docs/benchmarks/2026-12-06_fused_metatest
rounds=${1:-1}
export PEER_WORK=${PEER_WORK:-/tmp/peer_work} TAML_DATA_DIR=${TAML_DATA_DIR:-/work/shared/data}
source "$root/docs/benchmarks/quiet_sitting.sh"
bf=:mixed_bfloat16
for r in $(seq 1 "$rounds"); do
  date -Is
  LABELS=bf16_r$r ITERS=10 bash "$TAML_DATA_DIR/../peer_bench/run.sh" 2>&1 | tee "$out/peers_bf16_r$r.txt"
  date -Is
  bench_from "$root" "$out/bf16_r$r" "$A:train$bf,$B:train$bf,$A:test$bf,$B:test$bf"
done
tail -n "$((6 * rounds))" "$PEER_WORK/results.jsonl" > "$out/peers_bf16.jsonl"  # this sitting's rows
date -Is
