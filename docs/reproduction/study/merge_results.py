"""Merges taml-evaluate result folders of disjoint data sets into one, as one call would write.

Usage:
  python docs/reproduction/study/merge_results.py OUT_DIR IN_DIR [IN_DIR ...]

Why: a Monte-Carlo meta-test (10 samples) of 1,000 episodes per data set takes about 40
minutes per data set on one core. Evaluating Omniglot and MNIST in two processes side by side
halves the wall time, and gives the same numbers as one call, because episode i of a data set
is drawn and sampled from seeds that depend only on the data set and i
(``taml_tf.products.evaluation.episode_seed``), not on which other data sets the call evaluates.

The inputs must agree on everything but their data sets and times (mode, samples, inner steps,
seed, precision, padding, buckets, recorded variables: every other entry of results.json, kept
in the merged one, as comparisons read the protocol from it) and name no data set twice. Writes OUT_DIR/results.json (the
data sets side by side, 'seconds' summed, 'merged_from' naming the inputs), balancing.npz (the
rows of all inputs, in order) and results.md (the inputs' tables, one after the other).
"""

import argparse
import json
import os

import numpy as np

from taml_tf.execution import atomic
from taml_tf.products import reports

# Entries of results.json that differ between the inputs by design; every other one is the
# meta-test's protocol and must be the same in all of them.
OWN = ('datasets', 'seconds', 'merged_from')


def merge(inputs):
  """(results dict, balancing arrays, markdown) of the merged folders; ValueError on a clash."""
  loaded = [reports.read_results(d) for d in inputs]
  first = loaded[0][0]
  shared = sorted({k for results, _ in loaded for k in results} - set(OWN))
  merged = {k: first.get(k) for k in shared}
  merged['seconds'] = 0.0
  merged['datasets'] = {}
  merged['merged_from'] = [os.path.abspath(d) for d in inputs]
  for d, (results, _) in zip(inputs, loaded):
    for k in shared:
      if results.get(k) != first.get(k):
        raise ValueError(f'{d}: {k} = {results.get(k)!r}, but {inputs[0]} has '
                         f'{first.get(k)!r}: not one meta-test')
    for name, value in results['datasets'].items():
      if name in merged['datasets']:
        raise ValueError(f'{d}: data set {name!r} is already in an earlier input')
      merged['datasets'][name] = value
    merged['seconds'] += float(results.get('seconds') or 0.0)
  keys = set(loaded[0][1])
  for d, (_, arrays) in zip(inputs, loaded):
    if set(arrays) != keys:
      raise ValueError(f'{d}: balancing.npz holds {sorted(arrays)}, not {sorted(keys)}')
  arrays = {}
  for k in keys:
    parts = [a[k] for _, a in loaded]
    if parts[0].ndim == 2:  # [E, way]-shaped rows: pad to the widest input
      width = max(p.shape[1] for p in parts)
      parts = [np.pad(p, [(0, 0), (0, width - p.shape[1])]) for p in parts]
    arrays[k] = np.concatenate(parts)
  text = '\n'.join(open(os.path.join(d, 'results.md')).read() for d in inputs
                   if os.path.isfile(os.path.join(d, 'results.md')))
  return merged, arrays, text


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('out_dir')
  parser.add_argument('inputs', nargs='+')
  args = parser.parse_args()
  merged, arrays, text = merge(args.inputs)
  os.makedirs(args.out_dir, exist_ok=True)
  atomic.write_bytes(os.path.join(args.out_dir, 'results.json'),
                     (json.dumps(merged, indent=2, allow_nan=False) + '\n').encode())
  path = os.path.join(args.out_dir, 'balancing.npz')
  tmp = path + '.tmp.npz'
  np.savez(tmp, **arrays)
  os.replace(tmp, path)
  atomic.write_bytes(os.path.join(args.out_dir, 'results.md'), text.encode())
  names = ', '.join(merged['datasets'])
  print(f'written: {args.out_dir} ({names}; {merged["mode"]})')


if __name__ == '__main__':
  main()
