#!/usr/bin/env bash
# Issue 39 item 3 for meta-test's first block from its images' patch moments (Conv4.first_block):
# the published pretrained/omniglot_mnist/bayesian_taml meta-tested in float32 by the code
# before the lever (BEFORE, a worktree of ebe5478) and by this checkout, side by side, on its
# card's 1,000 + 1,000 episodes (../2026-12-07_bf16_blocks/metatest_check.sh with
# PRECISION=float32); the table and the paired difference into metatest_check.md. Ran 16:26 UTC
# beside a CI rehearsal (its times are not read).
# Usage: BEFORE=<worktree> [MODEL=<SavedModel>] [ROOT=<out>] bash metatest_check.sh
here="$(cd "$(dirname "$0")" && pwd)"
PRECISION=float32 ROOT=${ROOT:-$HOME/taml_runs/first_block_check} \
  TABLE=$here/metatest_check.md exec bash "$here/../2026-12-07_bf16_blocks/metatest_check.sh"
