#!/usr/bin/env bash
# Issue 39, the thread-pool lever (taml_tf/execution/threads.py), side by side with the PyTorch
# peers in one sitting, every other process of ours stopped (SIGSTOP). Each round: the peers
# (../shared/peer_bench/run.sh, 2 threads), then `taml-benchmark --episodes=peer` with the
# measured default pools (one inter-op thread per core, one intra-op thread per op), then the
# same code under TensorFlow's default pools (--inter_op_threads=0 --intra_op_threads=0: the
# lever measured alone). Round 1 adds the mixed_bfloat16 plan under the default pools.
# Usage: PEER_WORK=/tmp/peer_work TAML_BIN=/path/to/venv/bin bash side_by_side.sh OUT_DIR [ROUNDS]
set -uo pipefail
out=${1:?usage: side_by_side.sh OUT_DIR [ROUNDS]}
rounds=${2:-2}
mkdir -p "$out"
export PEER_WORK=${PEER_WORK:-/tmp/peer_work} TAML_DATA_DIR=${TAML_DATA_DIR:-/work/shared/data}
bin=${TAML_BIN:?set TAML_BIN to the bin folder of a venv with taml-tf installed}
# The study's training lanes and anything else of ours stopped, lscpu, the plan names:
source "$(dirname "$0")/../quiet_sitting.sh"
f32=$A:train,$B:train,$A:test,$B:test,$M:train,$N:train
bf16=$A:train:mixed_bfloat16,$B:train:mixed_bfloat16,$A:test:mixed_bfloat16
bf16=$bf16,$B:test:mixed_bfloat16,$M:train:mixed_bfloat16,$N:train:mixed_bfloat16
bench() {  # tag plan [flags...]
  local tag=$1 plan=$2; shift 2
  date -Is
  "$bin/taml-benchmark" --data_dir="$TAML_DATA_DIR" --episodes=peer \
    --peer_spec="$TAML_DATA_DIR/../peer_bench/episodes_spec.json" --iterations=10 \
    --plan="$plan" --out="$out/taml_$tag.md" --json_out="$out/taml_$tag.json" "$@" 2>&1 | filter
}
for r in $(seq 1 "$rounds"); do
  date -Is
  LABELS=r$r ITERS=10 bash "$TAML_DATA_DIR/../peer_bench/run.sh" 2>&1 | tee "$out/peers_r$r.txt"
  plan=$f32
  [ "$r" = 1 ] && plan=$f32,$bf16
  bench "r$r" "$plan"
  bench "tf_pools_r$r" "$f32" --inter_op_threads=0 --intra_op_threads=0
done
cp "$PEER_WORK/results.jsonl" "$out/peers.jsonl"
date -Is
