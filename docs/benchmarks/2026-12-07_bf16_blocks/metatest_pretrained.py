"""Meta-tests a published model's weights through the training code's meta-test (not its
SavedModel graph), at a chosen precision: the check of meta-test's bfloat16 blocks on a trained
model when no training checkpoint is on the machine.

The SavedModel's variables (``ServingModule.model_variables``, the order of
``serving.serving_variables``) are assigned to a MetaLearner built from its
``assets.extra/model_config.json``; the episodes are those of its MODEL_CARD's command (Omniglot
test split and MNIST, 5-way, up to 15 shots, mixed, 5 queries, 1,000 each, seed 0), each on its
own real rows (no padding: the fused batch-norm path runs).

Usage: python metatest_pretrained.py MODEL_DIR PRECISION OUT_DIR [EPISODES]
"""
import os
import sys

import numpy as np
import tensorflow as tf

from taml_tf.data import experiment
from taml_tf.method.config import ModelConfig
from taml_tf.method.learner import MetaLearner
from taml_tf.products import evaluation
from taml_tf.products import reports
from taml_tf.products import serving


def main(model_dir, precision, out_dir, episodes=1000):
  with open(os.path.join(model_dir, 'assets.extra', 'model_config.json')) as f:
    config = ModelConfig.from_json(f.read())
  learner = MetaLearner(config, precision=precision)
  targets = serving.serving_variables(learner)
  sources = tf.saved_model.load(model_dir).model_variables
  if len(targets) != len(sources):
    raise ValueError(f'{len(sources)} saved variables for {len(targets)} of the learner')
  for target, source in zip(targets, sources):
    if tuple(target.shape) != tuple(source.shape):
      raise ValueError(f'{target.name} {target.shape} against saved {source.name} '
                       f'{source.shape}')
    target.assign(source)
  data = experiment.DataConfig(id_datasets=('omniglot',), ood_datasets=('mnist',),
                               image_shape=tuple(config.image_shape), way=5, max_shot=15,
                               query=5, shot_mode='mixed')
  sets = experiment.evaluation_sets(data, 'test', episodes)
  result = evaluation.evaluate(learner, sets, mode='mean', seed=0)
  print(reports.markdown(result))
  print(f'written: {reports.write_results(result, out_dir)}')
  weights = np.concatenate([v.numpy().ravel() for v in targets])
  print(f'weights: {weights.size} values, sum {weights.sum():.6f}')


if __name__ == '__main__':
  if len(sys.argv) not in (4, 5):
    sys.exit(__doc__)
  main(*sys.argv[1:4], *(int(a) for a in sys.argv[4:]))
