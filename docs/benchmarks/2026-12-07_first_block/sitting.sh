#!/usr/bin/env bash
# Issue 39: meta-test's first block from its images' patch moments side by side with the peers,
# meta-test only: each round the peers' Bayesian TAML meta-test A and B (peers_round, float32,
# 2 threads), then this checkout's float32 meta-test A and B; every other process of ours
# stopped (quiet_sitting.sh), peer episodes, medians of 10, default thread pools (2, 1).
# FIRST (default 1) numbers the first round, for a round added later (ran: rounds 1-2, then
# FIRST=3 for round 3, its peers appended to peers.jsonl).
# Usage: PEER_WORK=/tmp/peer_work [FIRST=N] bash sitting.sh [ROUNDS]   (from the repo root;
#   ROUNDS default 2)
set -uo pipefail
root=$PWD
out=$root/docs/benchmarks/2026-12-07_first_block
rounds=${1:-2}
export PEER_WORK=${PEER_WORK:-/tmp/peer_work} TAML_DATA_DIR=${TAML_DATA_DIR:-/work/shared/data}
export CONFIGS="btaml A test,btaml B test"
source "$root/docs/benchmarks/quiet_sitting.sh"
first=${FIRST:-1}
for r in $(seq "$first" "$rounds"); do
  date -Is
  peers_round "$out" "$r"
  date -Is
  bench_from "$root" "$out/sitting_r$r" "$A:test,$B:test"
done
tail -n "$((2 * (rounds - first + 1)))" "$PEER_WORK/results.jsonl" >> "$out/peers.jsonl"
date -Is
