"""The table of a before/after training (issue 39 item 3): two codes' step-500 meta-test
accuracies and their paired difference, after - before, on the same 1,000 episodes per data
set, with its 95% interval over the episodes (taml_tf.products.comparison.paired_difference).

Usage: python before_after_table.py ROOT [BEFORE AFTER BEFORE_LABEL AFTER_LABEL]
  ROOT: the folder the dated before_after.sh trained in, one run folder per code;
  BEFORE, AFTER: the two runs' names there (default plain, closed: the closed-form sitting);
  BEFORE_LABEL, AFTER_LABEL: their column headings (default the names). The difference's
  heading names the runs, with '_' written '-'.
"""
import os
import sys

from taml_tf.products import comparison


def main(root, before='plain', after='closed', before_label=None, after_label=None):
  codes = (before, after)
  labels = (before_label or before, after_label or after)
  entries = {code: comparison.load_entry(os.path.join(root, code, 'results', 'test'), code)
             for code in codes}
  short = [code.replace('_', '-') for code in codes]
  print(f'| data set | {labels[0]} (%) | {labels[1]} (%) | '
        f'{short[1]} - {short[0]}, paired (points) |')
  print('|---|---|---|---|')
  for dataset in ('omniglot', 'mnist'):
    cells = []
    for code in codes:
      r = entries[code].results['datasets'][dataset]
      cells.append(f"{100 * r['accuracy']:.2f} ± {100 * r['ci95']:.2f}")
    diff, ci, n = comparison.paired_difference(entries[after], entries[before], dataset)
    print(f'| {dataset} | {cells[0]} | {cells[1]} | {100 * diff:+.2f} ± {100 * ci:.2f} '
          f'({n} episodes) |')


if __name__ == '__main__':
  if len(sys.argv) not in (2, 4, 6):
    sys.exit(__doc__)
  main(*sys.argv[1:])
