#!/usr/bin/env bash
# Issue 9, on a CPU with bfloat16 hardware (AMD EPYC, Zen 4: AVX-512, AVX512_BF16, no AMX):
# the PyTorch peers (../shared/peer_bench/run.sh, PyTorch 2.13 CPU, float32) and taml-tf
# (`taml-benchmark --episodes=peer`: the peers' task sizes and pixels) in float32, in
# mixed_bfloat16 and with --recompute, one after the other with every other process of the
# machine stopped (SIGSTOP); then profiler traces of the train step (`--profile_dir`).
# Usage: PEER_WORK=~/peer_work TAML_BIN=/path/to/venv/bin [ROUND=r2 PROFILE=0] \
#          bash side_by_side.sh OUT_DIR
set -uo pipefail
out=${1:?usage: side_by_side.sh OUT_DIR}
mkdir -p "$out"
export PEER_WORK=${PEER_WORK:-$HOME/peer_work} TAML_DATA_DIR=${TAML_DATA_DIR:-/work/shared/data}
bin=${TAML_BIN:?set TAML_BIN to the bin folder of a venv with taml-tf installed}
round=${ROUND:-r1}
# The study's training lanes and anything else of ours stopped, lscpu, the plan names:
OTHERS='taml_runs/venv/|taml_runs/venv_bf16/|/work/ci_check|pytest|bazel'
source "$(dirname "$0")/../quiet_sitting.sh"
date -Is
LABELS=$round ITERS=10 bash "$TAML_DATA_DIR/../peer_bench/run.sh" 2>&1 | tee "$out/peers_$round.txt"
date -Is
plan=$A:train,$B:train,$A:test,$B:test,$M:train,$N:train
plan=$plan,$A:train:mixed_bfloat16,$B:train:mixed_bfloat16,$A:test:mixed_bfloat16
plan=$plan,$B:test:mixed_bfloat16,$M:train:mixed_bfloat16,$N:train:mixed_bfloat16
plan=$plan,$B:train:recompute,B:bayesian_taml:second:sequential:train:recompute
"$bin/taml-benchmark" --data_dir="$TAML_DATA_DIR" --episodes=peer \
  --peer_spec="$TAML_DATA_DIR/../peer_bench/episodes_spec.json" --iterations=10 --plan="$plan" \
  --out="$out/taml_$round.md" --json_out="$out/taml_$round.json" 2>&1 | filter
date -Is
[ "${PROFILE:-1}" = 1 ] && "$bin/taml-benchmark" --data_dir="$TAML_DATA_DIR" --episodes=peer \
  --peer_spec="$TAML_DATA_DIR/../peer_bench/episodes_spec.json" --iterations=3 \
  --plan="$A:train,$A:train:mixed_bfloat16,$B:train" --profile_dir="$out/traces" \
  --profile_calls=3 --out="$out/profile.md" --json_out="$out/profile.json" 2>&1 | filter
cp "$PEER_WORK/results.jsonl" "$out/peers.jsonl"
date -Is
