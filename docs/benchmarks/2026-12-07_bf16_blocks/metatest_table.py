"""The table of metatest_check.sh: one checkpoint meta-tested by the code before meta-test's
bfloat16 blocks and by the code with them (both mixed_bfloat16), and by the latter in float32;
the paired differences on the same 1,000 episodes per data set, with their 95% intervals over
the episodes (taml_tf.products.comparison.paired_difference).

Usage: python metatest_table.py ROOT
"""
import os
import sys

from taml_tf.products import comparison

CODES = ('before_bf16', 'after_bf16', 'after_float32')
PAIRS = (('after_bf16', 'before_bf16'), ('after_bf16', 'after_float32'),
         ('before_bf16', 'after_float32'))


def main(root):
  entries = {code: comparison.load_entry(os.path.join(root, code), code) for code in CODES}
  print('| data set | ' + ' | '.join(f'{c} (%)' for c in CODES) + ' | ' +
        ' | '.join(f'{a} - {b}, paired (points)' for a, b in PAIRS) + ' |')
  print('|---' * (1 + len(CODES) + len(PAIRS)) + '|')
  for dataset in ('omniglot', 'mnist'):
    cells = []
    for code in CODES:
      r = entries[code].results['datasets'][dataset]
      cells.append(f"{100 * r['accuracy']:.2f} ± {100 * r['ci95']:.2f}")
    for a, b in PAIRS:
      diff, ci, _ = comparison.paired_difference(entries[a], entries[b], dataset)
      cells.append(f'{100 * diff:+.2f} ± {100 * ci:.2f}')
    print(f'| {dataset} | ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
  if len(sys.argv) != 2:
    sys.exit(__doc__)
  main(sys.argv[1])
