"""Two taml-evaluate folders of one checkpoint on the same episodes, paired per episode.

Usage: python paired_episodes.py BEFORE_DIR AFTER_DIR   (folders with results.json and
balancing.npz). Pairs their common first episodes with the package's own
``comparison.paired_difference`` (which refuses evaluations of different episodes) and adds
how many episodes changed and by how much; the NLL where both saw the same episodes.
"""
import sys

import numpy as np

from taml_tf.products import comparison

before, after = (comparison.load_entry(d) for d in sys.argv[1:3])
for d in ('omniglot', 'mnist'):
  diff, ci, n = comparison.paired_difference(after, before, d)
  x, y = before.episode_accuracy(d)[:n], after.episode_accuracy(d)[:n]
  changed = y - x
  nll = ''
  if len(before.episode_accuracy(d)) == len(after.episode_accuracy(d)) == n:
    nll = (f'; nll {before.results["datasets"][d]["nll"]:.5f} -> '
           f'{after.results["datasets"][d]["nll"]:.5f}')
  print(f'{d} episodes {n}: before {100 * x.mean():.3f} after {100 * y.mean():.3f} paired '
        f'{100 * diff:+.3f} +- {100 * ci:.3f}; episodes changed {int((changed != 0).sum())}, '
        f'largest change {100 * np.abs(changed).max():.2f}{nll}')
