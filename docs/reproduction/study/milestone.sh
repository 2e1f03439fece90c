#!/usr/bin/env bash
# Tables and figures for one milestone N of the long study, once Meta-SGD and Bayesian TAML have
# <run>/results/step_N: step_N.md (taml-compare), the learning curve, the paper's figures of
# Bayesian TAML at N (taml-figures), and the numbers the doc quotes.
# Usage: bash docs/reproduction/study/milestone.sh N   (from an installed checkout)
# Env: ROOT (the runs, default ~/taml_runs/omniglot_mnist_study), TAML_DATA_DIR.
set -euo pipefail
N=$1
R="${ROOT:-$HOME/taml_runs/omniglot_mnist_study}"
M="$(cd "$(dirname "$0")/../../.." && pwd)"
[ -f "$M/.venv/bin/activate" ] && source "$M/.venv/bin/activate"
export TAML_DATA_DIR="${TAML_DATA_DIR:-$M/../shared/data}" TF_CPP_MIN_LOG_LEVEL=2
taml-compare --runs=$R --results=results/step_$N --references=metasgd \
  --output=$M/docs/reproduction/study/step_$N.md \
  --learning_curve=$M/docs/figures/omniglot_mnist/learning_curve.png | tail -8
O=$M/docs/figures/omniglot_mnist/study/bayesian_taml_step_$N
taml-figures --savedir=$R/bayesian_taml --checkpoint=$N --results_dir=$R/bayesian_taml/results/step_$N --out_dir=$O >/dev/null
rm -f $O/training.png
python3 - "$R" "$N" "$O" <<'PY'
import json, sys
R, N, O = sys.argv[1:4]
for run in ('metasgd', 'bayesian_taml'):
  r = json.load(open(f'{R}/{run}/results/step_{N}/results.json'))
  for d in ('omniglot', 'mnist'):
    x = r['datasets'][d]
    cls = ' '.join(f"{b['bucket']}:{100*b['accuracy']:.2f}" for b in x['by_class_size'] if b['accuracy'] is not None)
    print(run, d, f"{100*x['accuracy']:.2f} +- {100*x['ci95']:.2f}", cls)
s = json.load(open(f'{O}/figures.json'))
print(' omega', {k: round(v,2) for k,v in s['omega_by_class_size'].items() if k in ('1','5','10','15')})
print(' z', {k:round(v['mean'],5) for k,v in s['z_relative_change'].items()})
g = s['gamma_tendency']
for name, row in zip(g['layers'], zip(*g['exp_gamma'])): print(' ', name, round(row[0],3), '->', round(row[-1],3))
PY
