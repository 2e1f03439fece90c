#!/usr/bin/env bash
# Issue 39 (MAML A memory): glibc's malloc arenas. This checkout with the default arenas (up to
# 8 per core) and with MALLOC_ARENA_MAX=2 takes turns, MAML train A and Bayesian TAML train A,
# peer episodes, medians of 10, every other process of ours stopped (quiet_sitting.sh), the
# default thread pools: does capping the arenas lower the peak above the floor? Ran 14:40-14:51
# UTC (main at a3a85ac's code).
# Usage: bash docs/benchmarks/2026-12-07_malloc_arenas/arenas.sh   (repository root)
set -uo pipefail
root=$PWD
out=$root/docs/benchmarks/2026-12-07_malloc_arenas
export TAML_DATA_DIR=${TAML_DATA_DIR:-/work/shared/data}
source "$root/docs/benchmarks/quiet_sitting.sh"
plan="$M:train,$A:train"
for r in 1 2; do
  date -Is; bench_from "$root" "$out/default_r$r" "$plan"
  date -Is; MALLOC_ARENA_MAX=2 bench_from "$root" "$out/arena2_r$r" "$plan"
done
date -Is
