#!/usr/bin/env bash
# Issue 39: meta-test's first block from its images' patch moments, pooled before normalising
# (Conv4.first_block) measured alone: the code before it (BEFORE, a worktree of ebe5478) and
# this checkout take turns (the order flipped in even rounds), float32 meta-test A and B, peer
# episodes, medians of 10, every other process of ours stopped (quiet_sitting.sh), the default
# thread pools.
# Usage: BEFORE=<worktree> bash alone.sh [ROUNDS]   (from the repo root; ROUNDS default 2)
set -uo pipefail
root=$PWD
out=$root/docs/benchmarks/2026-12-07_first_block
rounds=${1:-2}
export TAML_DATA_DIR=${TAML_DATA_DIR:-/work/shared/data}
before=${BEFORE:?set BEFORE to a worktree of the commit before the lever}
source "$root/docs/benchmarks/quiet_sitting.sh"
plan="$A:test,$B:test"
turns "$rounds" "$plan" "$before" "$root"
