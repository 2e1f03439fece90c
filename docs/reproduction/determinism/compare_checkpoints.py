"""Compares two TensorFlow checkpoints variable by variable.

Usage: python compare_checkpoints.py CKPT_A CKPT_B
Prints how many variables differ and the largest absolute difference, then how many entries
of the learner's parameters (optimizer slots and counters excluded) differ by more than 1e-4
(about one whole Adam step at learning rate 1e-3) and by 1e-7..1e-4.
"""

import sys

import numpy as np
import tensorflow as tf


def main(path_a, path_b):
  a, b = tf.train.load_checkpoint(path_a), tf.train.load_checkpoint(path_b)
  keys = sorted(k for k in a.get_variable_to_shape_map() if k.endswith('VARIABLE_VALUE'))
  worst, worst_key, differ = 0.0, None, 0
  total = big = small = 0
  for key in keys:
    x, y = a.get_tensor(key), b.get_tensor(key)
    if x.dtype.kind not in 'fiu':
      continue
    d = np.abs(x.astype(np.float64) - y.astype(np.float64))
    if d.size and d.max() > 0:
      differ += 1
      if d.max() > worst:
        worst, worst_key = float(d.max()), key
    if key.startswith('learner/') and '/optimizer/' not in key:
      total += d.size
      big += int((d > 1e-4).sum())
      small += int(((d > 1e-7) & (d <= 1e-4)).sum())
  print(f'{len(keys)} variables, {differ} differ, max |diff| {worst:.3g}'
        + (f' ({worst_key})' if worst_key else ''))
  print(f'learner parameters: {total} entries, {big} differ by > 1e-4, {small} by 1e-7..1e-4')


if __name__ == '__main__':
  main(*sys.argv[1:3])
