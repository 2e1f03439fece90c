"""taml-train: meta-trains MAML / Meta-SGD / (Bayesian) TAML from absl flags.

Example (Omniglot -> MNIST, the files in ../shared/data as they are):

  taml-train --id_dataset=omniglot --ood_dataset=mnist --data_dir=../shared/data \\
      --variant=bayesian_taml --savedir=runs/omniglot_taml
"""

import sys

import tensorflow as tf
from absl import app
from absl import flags
from absl import logging

from taml_tf.data import experiment
from taml_tf.execution import distribute
from taml_tf.execution import run_dir
from taml_tf.execution import trainer as trainer_lib
from taml_tf.flags import definitions
from taml_tf.flags import resolve
from taml_tf.method import precision
from taml_tf.products import evaluation

definitions.define_shared_flags()
flags.adopt_module_key_flags(definitions)
FLAGS = flags.FLAGS
# Exit status after a preemption (SIGTERM) was checkpointed: non-zero because the run is not
# finished (a script with `set -e` must not go on to evaluate it); 42 is what TensorFlow's
# PreemptionCheckpointHandler exits with for "restart me" outside Google Cloud.
PREEMPTED_EXIT_CODE = 42


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  try:
    pools = resolve.configure_threads(FLAGS)  # before any TensorFlow op: they are fixed then
  except resolve.FlagError as e:
    raise app.UsageError(str(e))
  logging.info('thread pools: inter-op %d, intra-op %d (0: TensorFlow\'s default)', *pools)
  try:
    data = resolve.data_config(FLAGS)
    model = resolve.model_config(FLAGS, data.image_shape)
    train = resolve.train_config(FLAGS)
    execution = resolve.execution_config(FLAGS)
  except resolve.FlagError as e:
    raise app.UsageError(str(e))
  warning = precision.startup_warning(execution.precision, tpu=FLAGS.strategy == 'tpu')
  if warning:
    logging.warning('%s', warning)
  if FLAGS.op_determinism:
    tf.config.experimental.enable_op_determinism()
  try:
    strategy = distribute.make_strategy(FLAGS.strategy, FLAGS.tpu,
                                        collective_timeout=FLAGS.collective_timeout)
    # Every data set is loaded (and checked) now, before any training step.
    dataset_fn = experiment.train_dataset_fn(data, train.seed, train.meta_batch,
                                             execution.pad_to)
    validation = (experiment.evaluation_sets(data, 'val', FLAGS.n_val_episodes)
                  if train.eval_freq else None)
    validate = (evaluation.validation_callback(lambda: validation, train.seed, train.meta_batch)
                if validation else None)
    trainer = trainer_lib.Trainer(model, train, dataset_fn, strategy, validation=validate,
                               ood_names=experiment.ood_names(data),
                               data_config=data.to_dict(), execution=execution)
  except (ValueError, FileNotFoundError) as e:
    # Missing or unusable data, a meta-batch the replicas cannot share, ...: a message, not a
    # traceback.
    raise app.UsageError(str(e))
  try:
    summary = trainer.run()
  except run_dir.IncompatibleRunError as e:
    raise app.UsageError(str(e))
  except (FloatingPointError, trainer_lib.WorkerLostError) as e:
    sys.exit(f'taml-train: {e}')
  if summary['stopped']:
    print(f'taml-train: {summary["stopped"]}: stopped at step {summary["step"]}/'
          f'{train.num_steps}; checkpoint {summary["checkpoint"]} written; run the same '
          f'command to resume', flush=True)
    sys.exit(PREEMPTED_EXIT_CODE)
  print(f'trained {summary["step"]} steps; best: {summary["best"]}')


def run():
  definitions.declare_main_module(__name__)
  app.run(main)


if __name__ == '__main__':
  run()
