#!/usr/bin/env bash
# Runs conv_probe.py under each math mode and dtype, with ONEDNN_VERBOSE=1: per oneDNN
# implementation, its calls and mean milliseconds (the verbose log's last field), into
# probe.txt. Usage: PYTHON=<venv>/bin/python bash conv_probe.sh   (from this folder)
set -uo pipefail
python=${PYTHON:-python}
for run in "STRICT float32" "BF16 float32" "STRICT bfloat16"; do
  set -- $run
  echo "== ONEDNN_DEFAULT_FPMATH_MODE=$1, $2"
  ONEDNN_DEFAULT_FPMATH_MODE=$1 "$python" conv_probe.py "$2" 2>/dev/null | tail -n 1
  ONEDNN_VERBOSE=1 ONEDNN_DEFAULT_FPMATH_MODE=$1 "$python" conv_probe.py "$2" 2>&1 |
    grep ",exec," | awk -F, '{k=$5","$6","$7; s[k]+=$NF; n[k]++}
      END {for (k in s) printf "%s: %d calls, %.3f ms each\n", k, n[k], s[k]/n[k]}'
done | tee probe.txt
