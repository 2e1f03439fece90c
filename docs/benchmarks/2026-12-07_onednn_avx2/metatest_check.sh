#!/usr/bin/env bash
# Issue 39 item 3 for oneDNN's kernels on an AVX2 CPU (a3a4cfe): the published
# pretrained/omniglot_mnist/bayesian_taml meta-tested in float32 through the training code's
# meta-test (../2026-12-07_bf16_blocks/metatest_pretrained.py) with Eigen's kernels
# (TF_ENABLE_ONEDNN_OPTS=0) and oneDNN's (=1; set explicitly: that script imports TensorFlow
# before taml_tf), side by side (one thread each), at the posterior mean on its card's 1,000 +
# 1,000 episodes; the table and the paired difference (metatest_table.py) into
# metatest_check.md. Accuracy only: it ran beside a CI rehearsal, its times are not read.
# Usage: [ROOT=<out>] bash metatest_check.sh   (from the repo root)
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
tools="$here/../2026-12-07_bf16_blocks"
bin=${TAML_BIN:-$repo/.venv/bin}
model=${MODEL:-$repo/pretrained/omniglot_mnist/bayesian_taml}
root=${ROOT:-$HOME/taml_runs/onednn_check}
mkdir -p "$root"
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 TF_CPP_MIN_LOG_LEVEL=2
export TAML_DATA_DIR=${TAML_DATA_DIR:-$(cd "$repo/../shared/data" && pwd)}
evaluate() {  # evaluate NAME ONEDNN
  (cd "$repo" && TF_ENABLE_ONEDNN_OPTS=$2 "$bin/python" "$tools/metatest_pretrained.py" \
    "$model" float32 "$root/$1" > "$root/$1.log" 2>&1)
}
date -Is | tee "$root/started.txt"
evaluate eigen 0 & first=$!
evaluate onednn 1 & second=$!
wait "$first" "$second"
date -Is | tee "$root/finished.txt"
(cd "$repo" && "$bin/python" "$tools/metatest_table.py" "$root" eigen onednn) 2>/dev/null |
  tee "$here/metatest_check.md"
