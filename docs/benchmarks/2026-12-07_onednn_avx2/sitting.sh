#!/usr/bin/env bash
# Issue 39: oneDNN's kernels on an AVX2-only CPU (taml_tf.execution.onednn, a3a4cfe), side by
# side with the peers in one sitting. Each round: the peers, then the code of a3a4cfe (CODE, a
# worktree) with TF_ENABLE_ONEDNN_OPTS=0 (Eigen's kernels: TensorFlow's own default on this
# CPU, what the code before a3a4cfe ran) and as it is (oneDNN's), their order flipped in even
# rounds, every float32 plan, into sitting_{eigen,onednn}_r<N>; every other process of ours
# stopped (quiet_sitting.sh), peer episodes, medians of 10, pools (2, 1). The two differ in
# the variable only: the benchmark's header says which kernels each ran.
# mixed_bfloat16 is not measured: this CPU has no bfloat16 instructions (the goal is for CPUs
# that have them). eigen_sitting/ holds the first, interrupted sitting of the code before
# (2d6bcaf: one round, float32; its mixed_bfloat16 part stopped when the profile showed
# Eigen's op names).
# FIRST=<n> starts at round n (the rounds' labels and order follow), KERNELS picks the kernel
# sets (default "eigen onednn"), and the peers' rows of those rounds are added to peers.jsonl
# (round 3, 19:47 UTC: FIRST=3 KERNELS=onednn ... sitting.sh 3).
# Usage: CODE=<worktree> PEER_WORK=/tmp/peer_work [FIRST=<n>] [KERNELS=<sets>] bash sitting.sh
#   [ROUNDS]   (from the repo root; default 2)
set -uo pipefail
root=$PWD
out=$root/docs/benchmarks/2026-12-07_onednn_avx2
code=${CODE:?a worktree of a3a4cfe}
export PEER_WORK=${PEER_WORK:-/tmp/peer_work} TAML_DATA_DIR=${TAML_DATA_DIR:-/work/shared/data}
if [ -n "${TF_ENABLE_ONEDNN_OPTS:-}" ]; then
  echo "sitting.sh: TF_ENABLE_ONEDNN_OPTS is set; unset it" >&2
  exit 1
fi
source "$root/docs/benchmarks/quiet_sitting.sh"
plan="$A:train,$B:train,$M:train,$N:train,$A:test,$B:test"
eigen() { TF_ENABLE_ONEDNN_OPTS=0 bench_from "$code" "$out/sitting_eigen_r$1" "$plan"; }
onednn() { bench_from "$code" "$out/sitting_onednn_r$1" "$plan"; }
rounds=${1:-2}
first=${FIRST:-1}
read -r -a sets <<< "${KERNELS:-eigen onednn}"
for r in $(seq "$first" "$rounds"); do
  date -Is
  peers_round "$out" "$r"
  mapfile -t order < <(flip "$r" "${sets[@]}")
  for kernels in "${order[@]}"; do
    date -Is
    "$kernels" "$r"
  done
done
if [ "$first" = 1 ]; then
  tail -n "$((6 * rounds))" "$PEER_WORK/results.jsonl" > "$out/peers.jsonl"
else
  tail -n "$((6 * (rounds - first + 1)))" "$PEER_WORK/results.jsonl" >> "$out/peers.jsonl"
fi
date -Is
