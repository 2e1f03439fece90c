"""Issue 39, training's first block: how far the exact meta-gradient moved. On the authors'
parity fixture (../shared/reference/l2b_parity: their TF1 code's exact gradient of their
objective for one fixed episode and weights), each variant's meta-gradient, its relative
distance (to the largest entry) from the authors', and the gradients saved to OUT.npz; then,
given two such files, their distance from each other.

Usage (repository root; PYTHONPATH selects the code measured):
  PYTHONPATH=<code> TAML_PARITY_DIR=../shared/reference/l2b_parity python parity_gap.py OUT.npz
  python parity_gap.py --compare BEFORE.npz AFTER.npz
"""
import sys

import numpy as np

VARIANTS = ('maml', 'metasgd', 'bayesian_taml')


def measure(out):
  from taml_tf.method import episodes as episodes_lib  # pylint: disable=g-import-not-at-top
  from tests import l2b_fixture  # pylint: disable=g-import-not-at-top
  fixture = l2b_fixture.Fixture()
  saved = {}
  for variant in VARIANTS:
    learner = fixture.learner(variant)
    grads, _ = learner.compute_gradients(episodes_lib.to_tensors(fixture.batch(variant)),
                                         [0, 0], mode='mean')
    ours = learner.gradients_by_authors_name(grads)
    print(variant, 'from the authors\' exact gradient:',
          f"{l2b_fixture.relative_to_largest(ours, fixture.gradient(variant, 'grad')):.2e}")
    saved.update({f'{variant}/{k}': np.asarray(v) for k, v in ours.items()})
  np.savez(out, **saved)


def compare(before, after):
  a, b = np.load(before), np.load(after)
  for variant in VARIANTS:
    keys = [k for k in a if k.startswith(variant + '/')]
    largest = max(np.abs(a[k]).max() for k in keys)
    print(variant, 'after from before:',
          f'{max(np.abs(a[k] - b[k]).max() for k in keys) / largest:.2e}')


if __name__ == '__main__':
  if sys.argv[1] == '--compare':
    compare(sys.argv[2], sys.argv[3])
  else:
    measure(sys.argv[1])
