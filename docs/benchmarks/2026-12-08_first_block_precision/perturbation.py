"""Issue 39, training's first block: how sensitive one task's meta-gradient is at a trained
state, under each code, to a perturbation of rounding size. A run's checkpoint restored, one
meta-batch of its own training stream; per task the meta-gradient at a posterior sample
(the training's mode) by the lever's first block (patch moments) and by the code before's
(statistics of the activation: Conv4.uses_moments switched off for the differentiated pass),
each with conv layer PCONV's kernel as saved and multiplied by (1 + 3e-7); printed: the two
codes' distance, and each code's distance from its perturbed self (relative to the largest
entry), and the four losses.

Usage (PYTHONPATH: a worktree of eb1d922 or later, which has Conv4.uses_moments; trained_state.py
beside this script):
  PCONV=0 PYTHONPATH=<code> python perturbation.py SAVEDIR STEP BATCH
"""
import os
import sys

import numpy as np
import tensorflow as tf

from taml_tf.method import learner as learner_lib
from taml_tf.method.models import backbone as backbone_lib
import trained_state


def main(savedir, step, batch_index, conv_index):
  learner, stream, meta_batch, seed = trained_state.restore(savedir, step, batch_index)
  batch = next(stream)
  moments = backbone_lib.Conv4.uses_moments
  statistics = lambda self, fused_norm: fused_norm and moments(self, fused_norm)
  kernel = learner.backbone.convs[conv_index].kernel
  saved = kernel.numpy()
  results = {}
  for code, uses_moments in (('moments', moments), ('activation', statistics)):
    backbone_lib.Conv4.uses_moments = uses_moments
    for perturbed in (0, 1):
      kernel.assign(saved * (1 + perturbed * 3e-7))
      tasks = learner_lib._tasks(batch, tf.constant([seed, batch_index]), 0)  # pylint: disable=protected-access
      for t, (task, task_seed) in enumerate(tasks):
        grads, (loss, _) = learner._gradients(lambda: learner.task_loss(task, task_seed, 'sample'))  # pylint: disable=protected-access,cell-var-from-loop
        results[code, perturbed, t] = ([g.numpy() for g in grads], float(loss))
  kernel.assign(saved)
  backbone_lib.Conv4.uses_moments = moments

  def gap(a, b):
    return (max(np.abs(x - y).max() for x, y in zip(a[0], b[0]))
            / max(np.abs(y).max() for y in b[0]))

  for t in range(meta_batch):
    r = lambda code, p: results[code, p, t]  # pylint: disable=cell-var-from-loop
    print(f'batch {batch_index} task {t}: moments vs activation {gap(r("moments", 0), r("activation", 0)):.2e}'
          f' | activation vs perturbed {gap(r("activation", 1), r("activation", 0)):.2e}'
          f' | moments vs perturbed {gap(r("moments", 1), r("moments", 0)):.2e}'
          f' | losses {r("moments", 0)[1]:.7f} {r("moments", 1)[1]:.7f}'
          f' {r("activation", 0)[1]:.7f} {r("activation", 1)[1]:.7f}', flush=True)


if __name__ == '__main__':
  main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(os.environ.get('PCONV', '0')))
