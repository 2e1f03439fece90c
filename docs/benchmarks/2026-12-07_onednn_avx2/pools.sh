#!/usr/bin/env bash
# Issue 39: the thread pools re-measured on this AVX2 CPU with oneDNN's kernels (the default
# (2, 1) was chosen on AVX-512 CPUs). Bayesian TAML train A and meta-test A under
# --inter_op_threads / --intra_op_threads (2, 1), (1, 2) and (2, 2), taking turns (the order
# reversed in round 2), into pools_<inter>_<intra>_r<N>; every other process of ours stopped.
# Usage: CODE=<worktree of a3a4cfe> bash pools.sh [ROUNDS]   (from the repo root; default 2)
set -uo pipefail
root=$PWD
out=$root/docs/benchmarks/2026-12-07_onednn_avx2
code=${CODE:?a worktree of a3a4cfe}
export TAML_DATA_DIR=${TAML_DATA_DIR:-/work/shared/data}
source "$root/docs/benchmarks/quiet_sitting.sh"
pools=("2 1" "1 2" "2 2")
for r in $(seq 1 "${1:-2}"); do
  order=("${pools[@]}")
  if [ $((r % 2)) = 0 ]; then order=("2 2" "1 2" "2 1"); fi
  for p in "${order[@]}"; do
    set -- $p
    date -Is
    bench_from "$code" "$out/pools_$1_$2_r$r" "$A:train,$A:test" --inter_op_threads="$1" \
      --intra_op_threads="$2"
  done
done
date -Is
