"""The before/after table of before_after.sh: each code's step-500 meta-test accuracy and the
paired difference closed - plain on the same 1,000 episodes per data set, with its 95% interval
over the episodes (taml_tf.products.comparison.paired_difference).
Usage: python before_after_table.py ROOT   (ROOT: the folder before_after.sh trained in)
"""
import os
import sys

from taml_tf.products import comparison

root = sys.argv[1]
entries = {code: comparison.load_entry(os.path.join(root, code, 'results', 'test'), code)
           for code in ('plain', 'closed')}
print('| data set | plain, 1e1dcc4 (%) | closed form, 8987f28 (%) | closed - plain, paired (points) |')
print('|---|---|---|---|')
for dataset in ('omniglot', 'mnist'):
  cells = []
  for code in ('plain', 'closed'):
    r = entries[code].results['datasets'][dataset]
    cells.append(f"{100 * r['accuracy']:.2f} ± {100 * r['ci95']:.2f}")
  diff, ci, n = comparison.paired_difference(entries['closed'], entries['plain'], dataset)
  print(f'| {dataset} | {cells[0]} | {cells[1]} | {100 * diff:+.2f} ± {100 * ci:.2f} ({n} episodes) |')
