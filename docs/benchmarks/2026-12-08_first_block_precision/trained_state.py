"""A training run's state at one of its checkpoints, for gradients_at_checkpoint.py and
perturbation.py: the restored learner and the run's own training stream from a given update."""
import os

from taml_tf.data import experiment
from taml_tf.execution import run_dir


def restore(savedir, step, first_update):
  """(learner restored from SAVEDIR's ckpt-STEP, the run's training meta-batches from
  FIRST_UPDATE on (an iterator), meta-batch size, the run's seed)."""
  run = run_dir.load_run_config(savedir)
  data = experiment.DataConfig(**{k: tuple(v) if isinstance(v, list) else v
                                  for k, v in run['data'].items()})
  learner = run_dir.restore_learner(run_dir.load_model_config(savedir),
                                    os.path.join(savedir, 'checkpoints', f'ckpt-{step}'))
  meta_batch, seed = run['train']['meta_batch'], run['train']['seed']
  stream = experiment.train_dataset_fn(data, seed, meta_batch, run['execution']['pad_to'])
  return learner, iter(stream(first_update * meta_batch)), meta_batch, seed
