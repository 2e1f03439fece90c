"""The calibration's four seeds side by side with the lever's check (2026-12-07): per seed the
paired difference (points, 1,000 + 1,000 episodes) of (a) the float64 first block against the
code before (1040ff2's library), (b) the lever (patch moments, eb1d922) against the code before,
(c) the lever against the float64 first block; then each one's mean over the seeds with a
Student-t 95% interval (quantile 3.18, 3 degrees of freedom).
Usage: python summary.py [ROOT_PREFIX] (default ~/taml_runs/train_first_block_before_after)
"""
import os
import sys

import numpy as np

from taml_tf.products import comparison

PAIRS = (('float64 first block - code before', 'activation_statistics', 'float64_first_block'),
         ('patch moments - code before', 'activation_statistics', 'patch_moments'),
         ('patch moments - float64 first block', 'float64_first_block', 'patch_moments'))
T_95_3DF = 3.182


def main(prefix):
  rows = {}
  for seed in range(4):
    root = prefix + ('' if seed == 0 else f'_seed{seed}')
    entries = {}
    for name in ('activation_statistics', 'float64_first_block', 'patch_moments'):
      entries[name] = comparison.load_entry(os.path.join(root, name, 'results', 'test'), name)
    for label, before, after in PAIRS:
      for dataset in ('omniglot', 'mnist'):
        diff, half, _ = comparison.paired_difference(entries[after], entries[before], dataset)
        rows.setdefault((label, dataset), []).append((100 * diff, 100 * half))
  print('| difference | data set | seed 0 | seed 1 | seed 2 | seed 3 | mean over seeds, t 95% |')
  print('|---|---|---|---|---|---|---|')
  for (label, dataset), diffs in rows.items():
    means = np.array([d for d, _ in diffs])
    half = T_95_3DF * means.std(ddof=1) / np.sqrt(len(means))
    cells = ' | '.join(f'{d:+.2f} ± {h:.2f}' for d, h in diffs)
    print(f'| {label} | {dataset} | {cells} | {means.mean():+.2f} ± {half:.2f} |')


if __name__ == '__main__':
  main(sys.argv[1] if len(sys.argv) > 1
       else os.path.expanduser('~/taml_runs/train_first_block_before_after'))
