"""taml-evaluate: meta-tests a trained run in- and out-of-distribution.

Reads the run's configuration from <savedir>/config.json, restores the best (or latest)
checkpoint and writes results.json, results.md and balancing.npz to --output_dir.

  taml-evaluate --savedir=runs/omniglot_taml --n_test_episodes=1000 --eval_mode=mc
"""

import os

import tensorflow as tf
from absl import app
from absl import flags
from absl import logging

from taml_tf import evaluation
from taml_tf import experiment
from taml_tf import export
from taml_tf import training
from taml_tf.flags import definitions
from taml_tf.flags import resolve

definitions.define_run_flags()
definitions.define_data_flags()
definitions.define_model_flags()
# taml-train's flags too, so one flagfile drives train, evaluate and export; those that fix the
# trained run are checked against it (resolve.check_saved_run), the schedule is not used.
definitions.define_train_flags()
definitions.define_eval_flags()
flags.adopt_module_key_flags(definitions)
FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if FLAGS.n_test_episodes < 1:
    raise app.UsageError(f'--n_test_episodes must be >= 1, got {FLAGS.n_test_episodes}')
  try:
    model, data = resolve.evaluation_configs(FLAGS)
    path = training.checkpoint_path(FLAGS.savedir, FLAGS.checkpoint)
  except (FileNotFoundError, ValueError) as e:
    raise app.UsageError(str(e))
  if FLAGS.op_determinism:
    tf.config.experimental.enable_op_determinism()
  sets = experiment.evaluation_sets(data, 'test', FLAGS.n_test_episodes)
  learner = export.restore_learner(model, path)
  logging.info('evaluating %s on %s (%s)', path, list(sets), FLAGS.eval_mode)
  result = evaluation.evaluate(learner, sets, mode=FLAGS.eval_mode, seed=FLAGS.seed)
  out = FLAGS.output_dir or os.path.join(FLAGS.savedir, 'results')
  paths = evaluation.write_results(result, out)
  print(evaluation.markdown(result))
  print(f'written: {paths}')


def run():
  definitions.declare_main_module(__name__)
  app.run(main)


if __name__ == '__main__':
  run()
