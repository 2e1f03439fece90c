"""Replays one meta-update of the study's Bayesian TAML run task by task, eagerly, and prints
what is not finite: the posterior, the drawn balancing variables, each inner step's support
loss and the parameters' size, the query loss, the KL and the meta-gradient.

It runs against the study's frozen code (eef3f86: MetaLearner.alpha, initial_params,
step_sizes and inner_loop.adapt as they were then), not this repository's. Usage, for the
update after a run folder's latest checkpoint (the run resumes to the step before the bad one
first, e.g. taml-train ... --n_train_iters=3243):

  cd ~/taml_runs/code && TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 \
      ~/taml_runs/venv/bin/python .../inspect_step_eef3f86.py RUN_FOLDER
"""
import os, sys
import numpy as np
import tensorflow as tf
from taml_tf.data import experiment, training, balancing, inner_loop
from taml_tf.flags import resolve
from taml_tf.method.learner import _tasks

sd = os.path.expanduser(sys.argv[1])
model, data, train = resolve.saved_configs(sd)
trainer = training.Trainer(model, train, experiment.train_dataset_fn(data, train.seed, train.meta_batch),
                           ood_names=experiment.ood_names(data), data_config=data.to_dict(),
                           stop_signals=())
step = trainer.restore()
L = trainer.learner
bad = [v.path for v in L.meta_variables if not np.all(np.isfinite(v.numpy()))]
print('restored step', step, 'non-finite variables:', bad)
print('alpha (mean per param):', {k: float(tf.reduce_mean(v)) for k, v in sorted(L.alpha.items())})
batch = L.validate(next(trainer.make_iterator(step)), batched=True)
seed = tf.constant([train.seed, step], tf.int32)
f = lambda x: np.array2string(np.asarray(x).ravel()[:8], precision=3)
for t, (task, tseed) in enumerate(_tasks(batch, seed, 0)):
  task = L.real_support(task)
  shots = tf.reduce_sum(tf.one_hot(task.support_labels, task.max_way) * task.support_mask[:, None], 0)
  print(f'--- task {t}: shots {shots.numpy().astype(int)}, queries {int(tf.reduce_sum(task.query_mask))}')
  dists = L.posterior(task.support_images, task.support_labels, task.support_mask, task.class_mask)
  for k, d in dists.items():
    print(f'  q({k}) loc {f(d.loc)} scale {f(d.scale)}')
  bal, kl = L.balancing_values(dists, task.class_mask, 'sample', tseed)
  print('  gamma drawn', f(bal.gamma), 'exp', f(np.exp(bal.gamma)))
  print('  z drawn: min %.3f max %.3f' % (float(tf.reduce_min(bal.z)), float(tf.reduce_max(bal.z))), ' omega', f(bal.omega), ' kl', float(kl))
  params = L.initial_params(bal, task.max_way)
  steps = L.step_sizes(params, bal)
  print('  step sizes max per layer:', {k: float(tf.reduce_max(v)) for k, v in sorted(steps.items()) if 'kernel' in k})
  for k in range(model.train_inner_steps + 1):
    p = inner_loop.adapt(L.backbone, params, steps, task.support_images, task.support_labels,
                         task.support_mask, task.class_mask, omega=bal.omega, num_steps=k)
    logits = inner_loop.forward(L.backbone, p, task.support_images, task.support_mask, task.class_mask)
    loss = balancing.weighted_inner_loss(logits, task.support_labels, task.support_mask, task.class_mask, bal.omega)
    qlog = L.query_logits(p, task)
    ce, acc = L._score(qlog, task)
    print(f'  inner step {k}: support loss {float(loss):.4g}  query ce {float(ce):.4g} acc {float(acc):.2f}'
          f'  max|logit| {float(tf.reduce_max(tf.abs(qlog))):.4g}  max|param| ' +
          ' '.join(f'{n.split("/")[0]}:{float(tf.reduce_max(tf.abs(v))):.3g}' for n, v in sorted(p.items()) if 'kernel' in n))
  with tf.GradientTape() as tape:
    loss, out = L.task_loss(task, tseed, 'sample')
  grads = tape.gradient(loss, [v.value for v in L.meta_variables], unconnected_gradients=tf.UnconnectedGradients.ZERO)
  nonfin = [v.path for v, g in zip(L.meta_variables, grads) if not np.all(np.isfinite(g.numpy()))]
  big = max(float(tf.reduce_max(tf.abs(g))) for g in grads)
  print(f'  task loss {float(loss):.4g} (ce {float(out.cross_entropy):.4g}, kl {float(out.kl):.4g}); '
        f'gradient max|g| {big:.4g}; non-finite gradients: {nonfin[:6]}')
