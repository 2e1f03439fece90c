"""Two taml-evaluate results.json of one checkpoint on the same episodes, paired per episode.

Usage: python paired_episodes.py BEFORE/results.json AFTER/results.json [FIRST_N]
Prints per data set both accuracies over the first N episodes (default all), the paired
difference with its 95% interval over episodes, how many episodes changed and by how much.
"""
import json, sys
import numpy as np
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
n = int(sys.argv[3]) if len(sys.argv) > 3 else None
for d in ('omniglot', 'mnist'):
  x = np.array(a['datasets'][d]['episode_accuracy'][:n]); y = np.array(b['datasets'][d]['episode_accuracy'][:n])
  diff = y - x
  print(d, f'episodes {len(x)}: before {100*x.mean():.3f} after {100*y.mean():.3f} paired {100*diff.mean():+.3f} +- {196*diff.std(ddof=1)/np.sqrt(len(x)) if diff.std()>0 else 0:.3f}; episodes changed {int((diff!=0).sum())}, largest change {100*np.abs(diff).max():.2f}; nll {a["datasets"][d]["nll"]:.5f} -> {b["datasets"][d]["nll"]:.5f}')
