#!/usr/bin/env bash
# Issue 39, after batch norm became one op with a closed-form backward (b2d7951), on an Intel
# Xeon with AVX-512, AVX512_BF16 and AMX: the PyTorch peers (../shared/peer_bench/run.sh, PyTorch
# 2.13 CPU, float32) and then taml-tf (`taml-benchmark --episodes=peer`: the peers' task sizes
# and pixels), with every other process of ours stopped (SIGSTOP): round r1 in float32 and
# mixed_bfloat16, round r2 in float32 (BF16=0), then (BEFORE_BIN) the code before the batch-norm
# lever in float32.
# Usage: PEER_WORK=/tmp/peer_work TAML_BIN=/path/to/venv/bin ROUND=r1 [BF16=1] [BEFORE_BIN=...]
#          [PEERS=0] [TAML=0] bash side_by_side.sh OUT_DIR
# As run on 2026-12-04: ROUND=r1; ROUND=r2 BF16=0; then ROUND=r2 PEERS=0 TAML=0 BEFORE_BIN=<66bf74e's venv>.
set -uo pipefail
out=${1:?usage: side_by_side.sh OUT_DIR}
mkdir -p "$out"
export PEER_WORK=${PEER_WORK:-/tmp/peer_work} TAML_DATA_DIR=${TAML_DATA_DIR:-/work/shared/data}
bin=${TAML_BIN:?set TAML_BIN to the bin folder of a venv with taml-tf installed}
round=${ROUND:-r1}
# The study's training lanes and anything else of ours stopped, lscpu, the plan names:
source "$(dirname "$0")/../quiet_sitting.sh"
date -Is
if [ "${PEERS:-1}" = 1 ]; then
  LABELS=$round ITERS=10 bash "$TAML_DATA_DIR/../peer_bench/run.sh" 2>&1 | tee "$out/peers_$round.txt"
  date -Is
fi
plan=$A:train,$B:train,$A:test,$B:test,$M:train,$N:train
if [ "${BF16:-1}" = 1 ]; then
  plan=$plan,$A:train:mixed_bfloat16,$B:train:mixed_bfloat16,$A:test:mixed_bfloat16
  plan=$plan,$B:test:mixed_bfloat16,$M:train:mixed_bfloat16,$N:train:mixed_bfloat16
fi
[ "${TAML:-1}" = 1 ] && "$bin/taml-benchmark" --data_dir="$TAML_DATA_DIR" --episodes=peer \
  --peer_spec="$TAML_DATA_DIR/../peer_bench/episodes_spec.json" --iterations=10 --plan="$plan" \
  --out="$out/taml_$round.md" --json_out="$out/taml_$round.json" 2>&1 | filter
# The batch-norm lever measured alone: the same float32 plan with the code before it
# (BEFORE_BIN: a venv of 66bf74e, the parent of b2d7951), in the same sitting.
if [ -n "${BEFORE_BIN:-}" ]; then
  "$BEFORE_BIN/taml-benchmark" --data_dir="$TAML_DATA_DIR" --episodes=peer \
    --peer_spec="$TAML_DATA_DIR/../peer_bench/episodes_spec.json" --iterations=10 \
    --plan="$A:train,$B:train,$A:test,$B:test,$M:train,$N:train" \
    --out="$out/taml_before_bn_$round.md" --json_out="$out/taml_before_bn_$round.json" 2>&1 | filter
fi
cp "$PEER_WORK/results.jsonl" "$out/peers.jsonl"
date -Is
