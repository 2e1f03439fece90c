"""taml-evaluate: meta-tests a trained run in- and out-of-distribution.

Reads the run's configuration from <savedir>/config.json, restores the best (or latest)
checkpoint and writes results.json, results.md and balancing.npz to --output_dir.

  taml-evaluate --savedir=runs/omniglot_taml --n_test_episodes=1000 --eval_mode=mc

The meta-test computes in float32 unless --precision=mixed_bfloat16 (bfloat16 convolutions and
matmuls, as in training with that flag); a checkpoint restores in either precision.

or an exported SavedModel on any data set it can read:

  taml-evaluate --saved_model=pretrained/omniglot_mnist/bayesian_taml \\
      --id_dataset=omniglot --ood_dataset=mnist --max_shot=15 --query=5 --eval_mode=mc
"""

import dataclasses

import tensorflow as tf
from absl import app
from absl import flags
from absl import logging

from taml_tf.data import experiment
from taml_tf.execution import run_dir
from taml_tf.flags import definitions
from taml_tf.flags import resolve
from taml_tf.method import precision
from taml_tf.products import evaluation
from taml_tf.products import predictors
from taml_tf.products import reports

definitions.define_shared_flags()
flags.adopt_module_key_flags(definitions)
FLAGS = flags.FLAGS


def evaluate_saved_model():
  """--saved_model: meta-tests an exported model on the data sets the data flags name."""
  try:
    data = resolve.data_config(FLAGS)
    predictor = predictors.SavedModelPredictor(FLAGS.saved_model, FLAGS.eval_mode)
  except (FileNotFoundError, ValueError) as e:
    raise app.UsageError(str(e))
  shape = tuple(int(d) for d in predictor.info['image_shape'])
  if data.way > int(predictor.info['max_way']):
    raise app.UsageError(f"--way={data.way} exceeds the model's serving limit max_way="
                         f"{int(predictor.info['max_way'])} (taml-export --max_way)")
  data = dataclasses.replace(data, image_shape=shape)
  sets = experiment.evaluation_sets(data, 'test', FLAGS.n_test_episodes)
  logging.info('evaluating %s on %s (%s)', FLAGS.saved_model, list(sets), FLAGS.eval_mode)
  result = evaluation.evaluate_saved_model(predictor, sets, seed=FLAGS.seed)
  print(reports.markdown(result))
  if FLAGS.output_dir:
    print(f'written: {reports.write_results(result, FLAGS.output_dir)}')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  try:
    resolve.configure_threads(FLAGS)  # before any TensorFlow op: the pools are fixed then
  except resolve.FlagError as e:
    raise app.UsageError(str(e))
  if FLAGS.n_test_episodes < 1:
    raise app.UsageError(f'--n_test_episodes must be >= 1, got {FLAGS.n_test_episodes}')
  if FLAGS.saved_model:
    if FLAGS['savedir'].present:
      raise app.UsageError('--saved_model and --savedir both name the model: give one')
    if FLAGS['test_padding'].present:
      raise app.UsageError('--test_padding with --saved_model: an export computes every '
                           'episode on its own real rows (evaluate the run folder instead)')
    if FLAGS.precision != 'float32':
      raise app.UsageError(f'--precision={FLAGS.precision} with --saved_model: an exported '
                           'SavedModel computes in float32 (its graph is fixed at export)')
    evaluate_saved_model()
    return
  try:
    model, data = resolve.evaluation_configs(FLAGS)
    padded = resolve.padded_meta_batch(FLAGS, model, resolve.saved_configs(FLAGS.savedir)[2])
    path = run_dir.checkpoint_path(FLAGS.savedir, FLAGS.checkpoint)
  except (FileNotFoundError, ValueError) as e:
    raise app.UsageError(str(e))
  warning = precision.startup_warning(FLAGS.precision)
  if warning:
    logging.warning('%s', warning)
  if FLAGS.op_determinism:
    tf.config.experimental.enable_op_determinism()
  sets = experiment.evaluation_sets(data, 'test', FLAGS.n_test_episodes)
  learner = run_dir.restore_learner(model, path, precision=FLAGS.precision)
  logging.info('evaluating %s on %s (%s)', path, list(sets), FLAGS.eval_mode)
  result = evaluation.evaluate(learner, sets, mode=FLAGS.eval_mode, seed=FLAGS.seed,
                               padded_meta_batch=padded)
  out = FLAGS.output_dir or run_dir.results_dir(FLAGS.savedir)
  paths = reports.write_results(result, out)
  print(reports.markdown(result))
  print(f'written: {paths}')


def run():
  definitions.declare_main_module(__name__)
  app.run(main)


if __name__ == '__main__':
  run()
