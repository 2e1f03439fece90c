"""Training curves of the long study's runs side by side: training accuracy, validation accuracy.

Usage:
  python docs/reproduction/study/training_curves.py --root ~/taml_runs/omniglot_mnist_study \
      --runs metasgd bayesian_taml --out docs/figures/omniglot_mnist/training_curves.png

Left: the query accuracy of the training tasks, as logged every 50 meta-updates (one
meta-batch of 4 tasks each), averaged over a window of 5 logged points (250 updates). Right: the
validation accuracy (100 validation-split episodes per data set, posterior mean, every 500
updates). A resumed run's re-logged steps count once (figures.read_scalars). Also prints the
numbers the figure shows.
"""

import argparse
import os

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from taml_tf.execution import run_dir
from taml_tf.products import figures

WINDOW = 5


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--root', required=True)
  parser.add_argument('--runs', nargs='+', required=True)
  parser.add_argument('--out', required=True)
  args = parser.parse_args()
  if not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
    parser.error(f'--out: the folder of {args.out} does not exist')
  fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
  for name in args.runs:
    savedir = os.path.join(os.path.expanduser(args.root), name)
    train = figures.read_scalars(run_dir.logs_dir(savedir, 'train'))
    val = figures.read_scalars(run_dir.logs_dir(savedir, 'validation'))
    steps, acc = (np.asarray(v, np.float64) for v in train['accuracy'])
    smooth = np.convolve(acc, np.ones(WINDOW) / WINDOW, mode='valid')
    line, = left.plot(steps[WINDOW - 1:], 100 * smooth, label=name)
    print(f'{name} training accuracy (mean of the last {WINDOW} logged steps, '
          f'to step {int(steps[-1])}): {100 * smooth[-1]:.1f}')
    for tag, style in (('omniglot/accuracy', '-o'), ('mnist/accuracy', '--s')):
      if tag in val:
        right.plot(val[tag][0], 100 * np.asarray(val[tag][1]), style, color=line.get_color(),
                   label=f'{name}, {tag.split("/")[0]}')
        print(f'{name} validation {tag}: ' + ', '.join(
            f'{s}: {100 * a:.2f}' for s, a in zip(*val[tag])))
  left.set(xlabel='meta-updates', ylabel='training query accuracy (%)',
           title=f'training tasks ({WINDOW * 50}-update mean)')
  right.set(xlabel='meta-updates', ylabel='validation accuracy (%)',
            title='validation (100 episodes, posterior mean)')
  for ax in (left, right):
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(args.out, dpi=110)
  print(f'written: {args.out}')


if __name__ == '__main__':
  main()
