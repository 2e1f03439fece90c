"""The bfloat16 parity table: accuracy of each (trained, meta-tested) precision pair and its
paired difference to float32-trained, float32-tested, on the same 1,000 episodes per data set,
and of the float32 control (the same training with --sequential_tasks).
Usage: python parity_table.py ROOT   (ROOT: the folder parity.sh wrote, runs <variant>_<precision>)
"""
import os
import sys

from taml_tf.products import comparison

root = sys.argv[1]
print('| variant | trained in | meta-tested in | Omniglot (%) | MNIST (%) | '
      'paired vs float32/float32: Omniglot | MNIST |')
print('|---|---|---|---|---|---|---|')
for variant in ('metasgd', 'bayesian_taml'):
  base_dir = os.path.join(root, f'{variant}_float32', 'results', 'test_float32')
  if not os.path.exists(base_dir):
    continue
  base = comparison.load_entry(base_dir)
  for trained in ('float32', 'mixed_bfloat16'):
    for tested in (trained, 'float32' if trained != 'float32' else 'mixed_bfloat16'):
      path = os.path.join(root, f'{variant}_{trained}', 'results', f'test_{tested}')
      if not os.path.exists(os.path.join(path, 'results.json')):
        continue
      e = comparison.load_entry(path)
      cells = []
      for ds in ('omniglot', 'mnist'):
        r = e.results['datasets'][ds]
        cells.append(f"{100 * r['accuracy']:.2f} ± {100 * r['ci95']:.2f}")
      diffs = []
      for ds in ('omniglot', 'mnist'):
        d, h, n = comparison.paired_difference(e, base, ds)
        diffs.append('-' if path == base_dir else f'{100 * d:+.2f} ± {100 * h:.2f} ({n})')
      print(f'| {variant} | {trained} | {tested} | {cells[0]} | {cells[1]} | {diffs[0]} | '
            f'{diffs[1]} |')
  # The float32 control: the same training with --sequential_tasks (sums in another order).
  path = os.path.join(root, f'{variant}_float32_sequential', 'results', 'test_float32')
  if os.path.exists(os.path.join(path, 'results.json')):
    e = comparison.load_entry(path)
    cells = [f"{100 * e.results['datasets'][ds]['accuracy']:.2f} ± "
             f"{100 * e.results['datasets'][ds]['ci95']:.2f}" for ds in ('omniglot', 'mnist')]
    diffs = ['%+.2f ± %.2f (%d)' % (100 * d, 100 * h, n) for d, h, n in
             (comparison.paired_difference(e, base, ds) for ds in ('omniglot', 'mnist'))]
    print(f'| {variant} (control) | float32, --sequential_tasks | float32 | {cells[0]} | '
          f'{cells[1]} | {diffs[0]} | {diffs[1]} |')
