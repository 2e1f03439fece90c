#!/usr/bin/env bash
# The main job on the embedded offline data: train, evaluate in- and out-of-distribution, export.
# Usage: bash launch/main_job.sh [SAVEDIR] [extra taml-train flags...]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
savedir="${1:-runs/embedded_taml}"
shift || true
taml-train --flagfile="$here/flagfiles/embedded.cfg" --savedir="$savedir" "$@"
taml-evaluate --savedir="$savedir" --n_test_episodes=50
taml-export --savedir="$savedir" --overwrite
echo "results: $savedir/results/results.md; SavedModel: $savedir/saved_model"
