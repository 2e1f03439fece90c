#!/usr/bin/env bash
# Max pooling's second order as average pooling of the routed cotangent (kernel_max_pool_2x2),
# measured alone: the code before it (BEFORE, a worktree of c5911bb) and with it (AFTER,
# default this checkout) taking turns, shape B then A, every other process of ours stopped
# (quiet_sitting.sh).
# Usage: BEFORE=<worktree> bash lever_alone.sh [ROUNDS_B] [ROUNDS_A]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
out="$here"
source "$repo/docs/benchmarks/quiet_sitting.sh"
: "${BEFORE:?set BEFORE to a worktree of the code without the lever}"
after="${AFTER:-$repo}"
alternate "${1:-2}" "$out/B_" B before="$BEFORE" after="$after"
alternate "${2:-1}" "$out/A_" A before="$BEFORE" after="$after"
