#!/usr/bin/env bash
# Issue 39: the code with max pooling's second order as average pooling (kernel_max_pool_2x2)
# side by side with the peers, in one sitting. Each round: the peers (peers_round), then the
# code without it ("before", a worktree of BEFORE: c5911bb, with the gradient kernel and pooling
# before the ReLU), then this checkout ("after"; the order of the two codes flips in even
# rounds), every plan (training and meta-test, A and B), every other process of ours stopped
# (quiet_sitting.sh), peer episodes, medians of 10, default thread pools (2, 1).
# Usage: BEFORE=<worktree> PEER_WORK=/tmp/peer_work bash sitting.sh [ROUNDS]   (from the repo
#   root; ROUNDS default 2)
set -uo pipefail
root=$PWD
out=$root/docs/benchmarks/2026-12-07_pool_second_order
rounds=${1:-2}
export PEER_WORK=${PEER_WORK:-/tmp/peer_work} TAML_DATA_DIR=${TAML_DATA_DIR:-/work/shared/data}
before=${BEFORE:?set BEFORE to a worktree of the commit before the lever}
source "$root/docs/benchmarks/quiet_sitting.sh"
sitting "$rounds" "$before" "$root"
