"""Seconds per meta-update of Bayesian TAML on the paper's Omniglot tasks: the Trainer's step
(MetaUpdate.train_step in one tf.function, as taml-train runs it) against TamlModel.fit, on the
same model, meta-batch and episodes. Prints one line per path: the median of 3 timed blocks
of 5 updates, after a warm-up block."""

import os
import statistics
import time

import tensorflow as tf

import taml_tf

STEPS, BLOCKS = 5, 3
task = taml_tf.TaskShape(way=5, max_shot=15, query=15)
stream = taml_tf.make_episodes('omniglot', task, meta_batch=4,
                               data_dir=os.environ.get('TAML_DATA_DIR'))


def timed(block):
  block()  # warm-up (tracing)
  times = []
  for _ in range(BLOCKS):
    start = time.perf_counter()
    block()
    times.append((time.perf_counter() - start) / STEPS)
  return statistics.median(times)


model = taml_tf.TamlModel('bayesian_taml', task=task)
update, it = model._update, iter(stream)  # pylint: disable=protected-access
step = tf.function(lambda batch, seed: update.train_step(batch, seed))


def trainer_block():
  for i in range(STEPS):
    out = step(next(it), tf.constant([0, i], tf.int32))
  float(out['loss'])


model.compile()
keras_s = timed(lambda: model.fit(stream, steps_per_epoch=STEPS, epochs=1, verbose=0))
trainer_s = timed(trainer_block)
print(f'trainer step (MetaUpdate.train_step in tf.function): {trainer_s:.3f} s / update')
print(f'TamlModel.fit: {keras_s:.3f} s / update')
