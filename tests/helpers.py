"""Helpers shared by several test modules (no test module imports another).

Tiny models, data and trainers for 2 shared CPU cores, the one MirroredStrategy of a process,
a hand-made evaluation result and the tiny flags of the binaries' tests.
"""

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf

from taml_tf.data import experiment
from taml_tf.execution import distribute
from taml_tf.execution import execution_config
from taml_tf.execution import trainer as trainer_lib
from taml_tf.method import config as config_lib
from taml_tf.products import calibration
from taml_tf.products import evaluation
from taml_tf.products import results

WAY, SHOT, QUERY = 3, 2, 1
TESTDATA = os.path.join(os.path.dirname(__file__), 'testdata')


def tiny_model(variant='bayesian_taml', **overrides):
  """A model small enough for 2 shared CPU cores."""
  kw = dict(image_shape=(16, 16, 1), channels=4, num_blocks=2, max_way=WAY, max_shot=SHOT,
            train_inner_steps=1, test_inner_steps=1, n_mc_samples=2, encoder_channels=4,
            encoder_features=8, meta_lr=1e-2)
  kw.update(overrides)
  return config_lib.variant(variant, **kw)


def tiny_config(name='bayesian_taml', **overrides):
  """A 28x28 model with few channels and inner steps (the learner's own tests)."""
  settings = dict(channels=8, train_inner_steps=2, test_inner_steps=2, max_way=5, max_shot=5,
                  n_mc_samples=3)
  settings.update(overrides)
  return config_lib.variant(name, **settings)


def tiny_data(**overrides):
  kw = dict(id_datasets=('embedded',), ood_datasets=('embedded_ood',), image_shape=(16, 16, 1),
            way=WAY, max_shot=SHOT, query=QUERY)
  kw.update(overrides)
  return experiment.DataConfig(**kw)


_SOURCES = {}


def dataset_fn(data, seed, meta_batch, pad_to='max'):
  """experiment.train_dataset_fn, with the sources loaded once per process."""
  key = (data, seed, meta_batch, pad_to)
  if key not in _SOURCES:
    _SOURCES[key] = experiment.train_dataset_fn(data, seed, meta_batch, pad_to)
  return _SOURCES[key]


def make_trainer(savedir, num_steps=4, model=None, data=None, strategy=None, validation=False,
                 execution=None, **train_kw):
  model = model or tiny_model()
  data = data or tiny_data()
  execution = execution or execution_config.ExecutionConfig(pad_to='max')
  kw = dict(savedir=savedir, num_steps=num_steps, meta_batch=2, save_freq=2, eval_freq=0,
            log_freq=1, seed=3)
  kw.update(train_kw)
  train = trainer_lib.TrainConfig(**kw)
  validate = None
  if validation:
    cached = experiment.evaluation_sets(data, 'val', 2)
    validate = evaluation.validation_callback(lambda: cached, train.seed, train.meta_batch)
  return trainer_lib.Trainer(model, train,
                          dataset_fn(data, train.seed, train.meta_batch, execution.pad_to),
                          strategy, validation=validate,
                          ood_names=experiment.ood_names(data), data_config=data.to_dict(),
                          execution=execution)


def state(trainer):
  """Every variable of the run as numpy: step, optimizer iterations, meta-variables, slots."""
  out = {'step': int(trainer.step.numpy()),
         'iterations': int(trainer.optimizer.iterations.numpy())}
  for i, v in enumerate(trainer.learner.meta_variables):
    out[f'var{i}'] = np.array(v.numpy())
  for i, v in enumerate(trainer.optimizer.variables):
    out[f'opt{i}'] = np.array(v.numpy())
  return out


def tmpdir(test):
  """A fresh folder removed after `test` (works under pytest, where absl flags are unparsed)."""
  path = tempfile.mkdtemp(prefix='taml_test_')
  test.addCleanup(shutil.rmtree, path, ignore_errors=True)
  return path


def flat(batch):
  return [np.asarray(x) for x in batch]


_MIRRORED = []


def mirrored():
  """One 2-replica MirroredStrategy per process: collectives of a second MirroredStrategy on
  the same devices, run after the first one's, abort with 'Shape mismatch in the collective
  instance 100' (TF 2.21, CPU); a binary only ever builds one strategy."""
  if _MIRRORED:
    return _MIRRORED[0]
  strategy = distribute.make_strategy('mirrored')
  _MIRRORED.append(strategy)
  assert strategy.num_replicas_in_sync == 2, strategy.extended.worker_devices
  return strategy


def replica_shares(strategy, batch):
  """Splits a global meta-batch (a namedtuple of task-major tensors) into consecutive equal
  shares, replica i taking tasks [i * share, (i + 1) * share), as a distributed value of
  `strategy`: the split a distributed dataset makes."""
  replicas = strategy.num_replicas_in_sync
  share = len(batch[0]) // replicas
  assert share * replicas == len(batch[0]), (len(batch[0]), replicas)
  return strategy.experimental_distribute_values_from_function(
      lambda ctx: type(batch)(*[x[ctx.replica_id_in_sync_group * share:
                                  (ctx.replica_id_in_sync_group + 1) * share] for x in batch]))


def tiny_result():
  """A hand-made EvaluationResult of one data set with two episodes."""
  rel = calibration.reliability_from_confidences(np.array([0.9, 0.6, 0.8]),
                                                 np.array([True, False, True]))
  rows = [results.SplitRow(results.bucket_label(lo, hi), lo, hi, 0, 0, 0, 0, math.nan,
                           math.nan, math.nan) for lo, hi in results.TASK_SIZE_BUCKETS]
  rows[0] = results.SplitRow('1-25', 1, 25, 2, 4, 3, 2, 0.75, 0.49, 0.4)
  classes = [results.SplitRow(results.bucket_label(lo, hi), lo, hi, 0, 0, 0, 0, math.nan,
                              math.nan, math.nan) for lo, hi in results.CLASS_SIZE_BUCKETS]
  data = results.DatasetResult(
      name='toy', episodes=2, queries=3, accuracy=0.75, ci95=0.49, nll=0.4,
      ece=calibration.ece_from_reliability(rel), reliability=rel, by_task_size=rows,
      by_class_size=classes, episode_accuracy=np.array([1.0, 0.5]))
  records = [results.TaskRecord('toy', i, 2, 4, 2 - i, np.array([2, 2]), acc, 0.4,
                                omega=np.array([0.5, 0.5], np.float32))
             for i, acc in enumerate((1.0, 0.5))]
  return results.EvaluationResult(mode='mean', num_samples=None, num_steps=2, seed=0,
                                  variables=('omega',), datasets={'toy': data},
                                  records=records, seconds=1.5)


# The tiny flags of a binaries run (binaries_test, multi_worker_test).
STEPS = 8
TINY = ['--id_dataset=omniglot', '--ood_dataset=mnist', '--n_channels=4', '--n_steps=1',
        '--n_test_steps=1', '--way=3', '--max_shot=2', '--query=1', '--metabatch=2',
        f'--n_train_iters={STEPS}', '--save_freq=2', '--eval_freq=3', '--n_val_episodes=2',
        '--log_freq=1', '--n_mc_samples=2', '--seed=5',
        # Two uninterrupted CPU runs with the same seed differ by up to ~3e-3 relative on some
        # Adam slots without op determinism (multi-threaded kernels); with it, by ~1e-16.
        '--op_determinism']

DATA_FILES = ('omniglot_28x28.npz', 'mnist_test.npz')
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='')


def binary(name, *args, check=True, timeout=300):
  """Runs taml-<name>; returns the CompletedProcess."""
  proc = subprocess.run(module(name, *args), capture_output=True, text=True, timeout=timeout,
                        env=ENV, cwd=REPO)
  if check and proc.returncode:
    raise AssertionError(f'taml-{name} {args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}')
  return proc


def fresh_python(code: str, drop=(), timeout=120, **env):
  """Runs `code` in a new Python process (ENV less the variables in `drop`, plus `env`), for
  what a process fixes once (thread pools, TensorFlow's kernels); returns the JSON value of
  the last stdout line starting 'RESULT '.

  Raises:
    AssertionError: the process failed or printed no such line (its stderr's tail attached).
  """
  environment = {k: v for k, v in ENV.items() if k not in drop}
  environment.update(env)
  proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                        env=environment, cwd=REPO, timeout=timeout, check=False)
  lines = [l for l in proc.stdout.splitlines() if l.startswith('RESULT ')]
  if proc.returncode or not lines:
    raise AssertionError(f'the fresh process failed ({proc.returncode}):\n{proc.stderr[-3000:]}')
  return json.loads(lines[-1][len('RESULT '):])


def side_by_side(commands, timeout=300):
  """Runs independent commands at once; returns their CompletedProcesses in order.

  Most of a short binary's time is the single-threaded import of TensorFlow, so two cores
  run two such commands in about the time of one.
  """
  procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV, cwd=REPO) for c in commands]
  try:
    done = []
    for command, proc in zip(commands, procs):
      stdout, stderr = proc.communicate(timeout=timeout)
      done.append(subprocess.CompletedProcess(command, proc.returncode, stdout, stderr))
    return done
  finally:
    for proc in procs:
      if proc.poll() is None:
        proc.kill()
        proc.communicate()


def module(name, *args):
  """The command line of `python -m taml_tf.launch.<name> args`."""
  return [sys.executable, '-m', f'taml_tf.launch.{name}', *args]


def console_script(name):
  """Path of the installed console script taml-<name> (next to this Python), or None."""
  path = os.path.join(os.path.dirname(sys.executable), f'taml-{name}')
  return path if os.access(path, os.X_OK) else None


def variables(prefix):
  """Every variable of a checkpoint (by its checkpoint key) as numpy."""
  reader = tf.train.load_checkpoint(prefix)
  return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
          if not k.startswith('_CHECKPOINTABLE_OBJECT_GRAPH')}
