#!/usr/bin/env bash
# Issue 39 after the batch-norm closed form became the default (2026-12-05): the peers
# (../shared/peer_bench/run.sh, PyTorch 2.13 CPU, 2 threads), then `taml-benchmark
# --episodes=peer` in float32 with the default thread pools, ROUNDS times, every other process
# of ours stopped (SIGSTOP). BF16=1 adds the mixed_bfloat16 plan to round 1. Ran twice on
# 2026-12-05: in the morning with ROUNDS=1 (OUT_DIR docs/benchmarks/2026-12-05_side_by_side), in
# the afternoon with BF16=1 and ROUNDS=2 (docs/benchmarks/2026-12-05_side_by_side_pm).
# Usage: PEER_WORK=/tmp/peer_work TAML_BIN=/path/to/venv/bin bash side_by_side.sh OUT_DIR [ROUNDS]
set -uo pipefail
out=${1:?usage: side_by_side.sh OUT_DIR [ROUNDS]}
rounds=${2:-2}
mkdir -p "$out"
export PEER_WORK=${PEER_WORK:-/tmp/peer_work} TAML_DATA_DIR=${TAML_DATA_DIR:-/work/shared/data}
bin=${TAML_BIN:?set TAML_BIN to the bin folder of a venv with taml-tf installed}
source "$(dirname "$0")/../quiet_sitting.sh"
f32=$A:train,$B:train,$A:test,$B:test,$M:train,$N:train
bf16=$A:train:mixed_bfloat16,$B:train:mixed_bfloat16,$A:test:mixed_bfloat16
bf16=$bf16,$B:test:mixed_bfloat16,$M:train:mixed_bfloat16,$N:train:mixed_bfloat16
for r in $(seq 1 "$rounds"); do
  date -Is
  LABELS=r$r ITERS=10 bash "$TAML_DATA_DIR/../peer_bench/run.sh" 2>&1 | tee "$out/peers_r$r.txt"
  plan=$f32
  [ "$r" = 1 ] && [ "${BF16:-0}" = 1 ] && plan=$f32,$bf16
  date -Is
  "$bin/taml-benchmark" --data_dir="$TAML_DATA_DIR" --episodes=peer \
    --peer_spec="$TAML_DATA_DIR/../peer_bench/episodes_spec.json" --iterations=10 \
    --plan="$plan" --out="$out/taml_r$r.md" --json_out="$out/taml_r$r.json" 2>&1 | filter
done
cp "$PEER_WORK/results.jsonl" "$out/peers.jsonl"
date -Is
