"""The table of metatest_check.sh: one checkpoint meta-tested by the code before meta-test's
bfloat16 blocks and by the code with them (both mixed_bfloat16), and by the latter in float32;
the paired differences on the same 1,000 episodes per data set, with their 95% intervals over
the episodes (taml_tf.products.comparison.paired_difference). Given BEFORE AFTER (two run
names under ROOT), the table of those two and their paired difference instead (the first
block's check, ../2026-12-07_first_block/metatest_check.sh).

Usage: python metatest_table.py ROOT [BEFORE AFTER]
"""
import os
import sys

from taml_tf.products import comparison

CODES = ('before_bf16', 'after_bf16', 'after_float32')
PAIRS = (('after_bf16', 'before_bf16'), ('after_bf16', 'after_float32'),
         ('before_bf16', 'after_float32'))


def main(root, codes=CODES, pairs=PAIRS):
  entries = {code: comparison.load_entry(os.path.join(root, code), code) for code in codes}
  print('| data set | ' + ' | '.join(f'{c} (%)' for c in codes) + ' | ' +
        ' | '.join(f'{a} - {b}, paired (points)' for a, b in pairs) + ' |')
  print('|---' * (1 + len(codes) + len(pairs)) + '|')
  for dataset in ('omniglot', 'mnist'):
    cells = []
    for code in codes:
      r = entries[code].results['datasets'][dataset]
      cells.append(f"{100 * r['accuracy']:.2f} ± {100 * r['ci95']:.2f}")
    for a, b in pairs:
      diff, ci, _ = comparison.paired_difference(entries[a], entries[b], dataset)
      cells.append(f'{100 * diff:+.2f} ± {100 * ci:.2f}')
    print(f'| {dataset} | ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
  if len(sys.argv) == 4:
    main(sys.argv[1], tuple(sys.argv[2:]), ((sys.argv[3], sys.argv[2]),))
  elif len(sys.argv) == 2:
    main(sys.argv[1])
  else:
    sys.exit(__doc__)
