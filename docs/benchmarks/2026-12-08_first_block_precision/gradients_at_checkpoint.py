"""Issue 39, training's first block: the gradients of a trained state, by the code that
PYTHONPATH selects, for comparing codes where the parity fixture does not reach.

  measure: a run's checkpoint restored, its own training stream positioned at FIRST (the
    episodes the run saw at that update), and for NUM meta-batches the meta-gradient
    (MetaLearner.compute_gradients at the posterior mean) and, for the first task of the
    first batch, conv1's inner gradient at each inner step along that code's own inner loop.
  compare: two or three such files, each pair's distance relative to the largest entry.

Usage (repository root):
  PYTHONPATH=<code> python gradients_at_checkpoint.py measure SAVEDIR STEP FIRST NUM OUT.npz
  python gradients_at_checkpoint.py compare NAME=A.npz NAME=B.npz [NAME=C.npz]
"""
import itertools
import sys

import numpy as np


def measure(savedir, step, first, num, out):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from taml_tf.method import balancing, inner_loop, learner as learner_lib, parameters  # pylint: disable=g-import-not-at-top
  import trained_state  # pylint: disable=g-import-not-at-top
  learner, stream, _, seed = trained_state.restore(savedir, step, first)
  saved = {}
  for b in range(num):
    batch = next(stream)
    grads, metrics = learner.compute_gradients(batch, tf.constant([seed, first + b]), mode='mean')
    for v, g in zip(learner.meta_variables, grads):
      saved[f'meta{b}/{v.path}'] = g.numpy()
    print(f'batch {first + b}: loss {float(metrics["loss"]):.7f}', flush=True)
    if b:
      continue
    task, task_seed = next(learner_lib._tasks(batch, tf.constant([seed, first]), 0))  # pylint: disable=protected-access
    task, _ = learner.support_to_compute(task)
    dists = learner.posterior(task.support_images, task.support_labels, task.support_mask,
                              task.class_mask)
    bal, _ = learner.balancing_values(dists, task.class_mask, 'mean', task_seed)
    params, steps = learner.initial_params(bal, task.max_way), learner.step_sizes(bal)
    for k in range(learner.config.train_inner_steps):
      flat = tf.nest.flatten(params)
      with tf.GradientTape() as tape:
        tape.watch(flat)
        features = learner.backbone.apply(parameters.conv_layers(params), task.support_images)
        logits = balancing.mask_logits(
            inner_loop.head_logits(features, parameters.head(params)), task.class_mask)
        loss = balancing.weighted_inner_loss(logits, task.support_labels, task.support_mask,
                                             task.class_mask, bal.omega, None)
      g = tape.gradient(loss, flat, unconnected_gradients=tf.UnconnectedGradients.ZERO)
      saved[f'inner/step{k + 1}'] = g[0].numpy()
      params = tf.nest.pack_sequence_as(
          params, [p - s * d for p, s, d in zip(flat, tf.nest.flatten(steps), g)])
  np.savez(out, **saved)


def compare(named):
  files = {name: np.load(path) for name, path in (a.split('=', 1) for a in named)}
  for (na, a), (nb, b) in itertools.combinations(files.items(), 2):
    print(f'{na} vs {nb}')
    # A meta-batch's gradients as one group; each inner step alone.
    group_of = lambda k: k if k.startswith('inner/') else k.split('/')[0]
    for group in sorted({group_of(k) for k in a}):
      keys = [k for k in a if group_of(k) == group]
      largest = max(np.abs(a[k]).max() for k in keys)
      gap = max(np.abs(a[k] - b[k]).max() for k in keys)
      # conv1's inner gradient is 0 at the first step (the head starts at zero).
      print(f'  {group}: ' + (f'{gap / largest:.2e}' if largest else f'both 0, gap {gap:.1e}'))


if __name__ == '__main__':
  if sys.argv[1] == 'compare':
    compare(sys.argv[2:])
  else:
    measure(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
