"""The run folder: its layout, its configuration file, its checkpoints, restoring a learner.

A run folder (``--savedir``), written by :class:`taml_tf.execution.trainer.Trainer` and read by
evaluation, export, figures and the binaries::

  config.json          the resolved configuration: {'model', 'train', 'data', 'execution'}
  checkpoints/ckpt-N   the latest checkpoints (tf.train.CheckpointManager)
  best/best-N          the best validation checkpoint, and best/best.json describing it
  logs/train, logs/validation   TensorBoard summaries
  results/             taml-evaluate's results.json, results.md, balancing.npz
  saved_model/         taml-export's default SavedModel

Every checkpoint is written by ``tf.train.Checkpoint(learner=learner, step=step)``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing

import tensorflow as tf

from taml_tf.execution import atomic
from taml_tf.execution import execution_config
from taml_tf.execution.execution_config import ExecutionConfig
from taml_tf.method.config import ModelConfig
from taml_tf.method.learner import MetaLearner

CONFIG_FILE = 'config.json'
CHECKPOINTS = 'checkpoints'
BEST = 'best'
BEST_FILE = 'best.json'
LOGS = 'logs'
RESULTS = 'results'
SAVED_MODEL = 'saved_model'
CHECKPOINT_CHOICES = ('best', 'latest')

# Fields that may change between a run and its resumption; any other difference is refused.
# The 'execution' section (ExecutionConfig: how the math is run, not what it is) may change as
# a whole and is not listed.
RESUMABLE = frozenset({
    ('train', 'num_steps'), ('train', 'save_freq'), ('train', 'eval_freq'),
    ('train', 'log_freq'), ('train', 'max_to_keep'),
    # Where the data files live, not what they are (a run resumed on another machine).
    ('data', 'data_dir')})


class IncompatibleRunError(ValueError):
  """Resuming a run with a configuration that differs from the saved one."""


# ---------------------------------------------------------------------------- layout
def checkpoint_dir(savedir: str) -> str:
  """The folder of the latest checkpoints."""
  return os.path.join(savedir, CHECKPOINTS)


def best_dir(savedir: str) -> str:
  """The folder of the best validation checkpoint and best.json."""
  return os.path.join(savedir, BEST)


def logs_dir(savedir: str, which: str = '') -> str:
  """The TensorBoard folder ('train' or 'validation'; '' for the parent)."""
  return os.path.join(savedir, LOGS, which) if which else os.path.join(savedir, LOGS)


def results_dir(savedir: str) -> str:
  """Where taml-evaluate writes its results by default."""
  return os.path.join(savedir, RESULTS)


def saved_model_dir(savedir: str) -> str:
  """Where taml-export writes the SavedModel by default."""
  return os.path.join(savedir, SAVED_MODEL)


# ---------------------------------------------------------------------- config.json
def resolved_config(model: ModelConfig, train, data: dict,
                    execution: typing.Optional[ExecutionConfig] = None) -> dict:
  """The complete configuration of a run, as written to ``savedir/config.json``.

  Args:
    model: the ModelConfig.
    train: the TrainConfig (any dataclass).
    data: the data description (a plain dict).
    execution: the ExecutionConfig (default: ExecutionConfig()).
  """
  return {'model': dataclasses.asdict(model), 'train': dataclasses.asdict(train),
          'data': data, 'execution': dataclasses.asdict(execution or ExecutionConfig())}


def _defaults(cls) -> dict:
  """JSON-form defaults of a config dataclass' fields."""
  return json.loads(json.dumps({
      f.name: f.default for f in dataclasses.fields(cls)
      if f.default is not dataclasses.MISSING}))


def check_resumable(saved: dict, model: ModelConfig, train, data: dict) -> None:
  """Refuses to resume a run with an incompatible configuration.

  Args:
    saved: the run's config.json (of any version: see :func:`execution_config.upgrade_run_config`).
    model, train, data: the configuration of the resumption (as in :func:`resolved_config`).

  Raises:
    IncompatibleRunError: (a ValueError) listing every field that differs and may not change
      (``RESUMABLE`` fields, ``train.savedir`` and the whole 'execution' section may).
  """
  saved = execution_config.upgrade_run_config(json.loads(json.dumps(saved)))
  current = json.loads(json.dumps(resolved_config(model, train, data)))
  defaults = {'model': _defaults(type(model)), 'train': _defaults(type(train)), 'data': {}}
  problems = []
  for section in ('model', 'train', 'data'):
    a, b = saved.get(section, {}), current.get(section, {})
    for key in sorted(set(a) | set(b)):
      if (section, key) in RESUMABLE or key == 'savedir':
        continue
      if key not in a and key in defaults[section] and b.get(key) == defaults[section][key]:
        # A field added to the package after the run started, at its default: the run was
        # trained with that behaviour.
        continue
      if a.get(key) != b.get(key):
        problems.append(f'{section}.{key}: saved {a.get(key)!r}, now {b.get(key)!r}')
  if problems:
    raise IncompatibleRunError('cannot resume: the configuration differs from the saved run in '
                               + '; '.join(problems) +
                               ' (use a new --savedir or the saved settings)')


def load_run_config(savedir: str) -> dict:
  """Reads ``savedir/config.json`` in today's layout (:func:`execution_config.upgrade_run_config`).

  Raises:
    FileNotFoundError: if the run has no configuration.
    ValueError: if config.json is not a JSON object with 'model', 'train' and 'data' entries.
  """
  path = os.path.join(savedir, CONFIG_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path} not found: is {savedir!r} a taml-tf training folder?')
  with open(path) as f:
    try:
      run = json.load(f)
    except ValueError as e:
      raise ValueError(f'{path} is not valid JSON ({e}): a corrupt run configuration') from e
  missing = [k for k in ('model', 'train', 'data')
             if not isinstance(run, dict) or not isinstance(run.get(k), dict)]
  if missing:
    raise ValueError(f'{path} lacks the {", ".join(missing)} section(s): not a taml-tf run '
                     'configuration')
  try:
    return execution_config.upgrade_run_config(run)
  except (TypeError, ValueError) as e:
    raise ValueError(f'{path}: invalid execution settings ({e})') from e


def load_model_config(savedir: str) -> ModelConfig:
  """The ModelConfig a run was trained with, from its config.json."""
  return ModelConfig.from_dict(load_run_config(savedir)['model'])


def check_and_write_config(savedir: str, model: ModelConfig, train, data: dict,
                           execution: typing.Optional[ExecutionConfig] = None,
                           write: bool = True) -> None:
  """Starts or resumes a run folder: checks an existing config.json, then (re)writes it.

  Args:
    savedir: the run folder (created if needed).
    model, train, data, execution: the run's configuration (as in :func:`resolved_config`);
      config.json records the execution settings of the latest start.
    write: write config.json (only the chief of a cluster writes).

  Raises:
    IncompatibleRunError: if config.json exists and differs (see :func:`check_resumable`);
      it is then left as it was.
  """
  os.makedirs(savedir, exist_ok=True)
  if os.path.exists(os.path.join(savedir, CONFIG_FILE)):
    check_resumable(load_run_config(savedir), model, train, data)
  if write:
    atomic.write_text(os.path.join(savedir, CONFIG_FILE),
                      json.dumps(resolved_config(model, train, data, execution), indent=2,
                                 sort_keys=True))


def read_best(savedir: str) -> typing.Optional[dict]:
  """best/best.json (the best validation step, score, rule and accuracies), or None."""
  path = os.path.join(best_dir(savedir), BEST_FILE)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def write_best(savedir: str, best: dict) -> None:
  """Writes best/best.json atomically."""
  atomic.write_text(os.path.join(best_dir(savedir), BEST_FILE), json.dumps(best, indent=2))


# ----------------------------------------------------------------------- checkpoints
def latest_checkpoint(savedir: str) -> typing.Optional[str]:
  """The newest checkpoint prefix in ``checkpoints/``, or None."""
  return tf.train.latest_checkpoint(checkpoint_dir(savedir))


def checkpoint_path(savedir: str, which: str = 'best') -> str:
  """The checkpoint of a run to evaluate or export.

  Args:
    savedir: the run folder.
    which: 'best' (the best validation checkpoint, falling back to the latest when validation
      never ran), 'latest', or a step number ('2000': the checkpoint saved at that step, for
      learning curves; keep them with ``TrainConfig.max_to_keep``).

  Returns:
    A checkpoint prefix.

  Raises:
    FileNotFoundError: if the run has no checkpoint (at that step).
    ValueError: for an unknown `which`.
  """
  which = str(which)
  if which not in CHECKPOINT_CHOICES and not which.isdigit():
    raise ValueError(f"checkpoint must be 'best', 'latest' or a step number, got {which!r}")
  if which.isdigit():
    path = os.path.join(checkpoint_dir(savedir), f'ckpt-{int(which)}')
    if not tf.io.gfile.exists(path + '.index'):
      kept = sorted(int(p.rsplit('-', 1)[1].split('.')[0]) for p in tf.io.gfile.glob(
          os.path.join(checkpoint_dir(savedir), 'ckpt-*.index')))
      raise FileNotFoundError(f'{savedir!r} has no checkpoint at step {int(which)}; kept: '
                              f'{kept or "none"}')
    return path
  if which == 'best':
    path = tf.train.latest_checkpoint(best_dir(savedir))
    if path:
      return path
  path = latest_checkpoint(savedir)
  if not path:
    raise FileNotFoundError(f'no checkpoint in {savedir!r}: train first (taml-train '
                            f'--savedir={savedir})')
  return path


# ---------------------------------------------------------------------------- restore
def learner_variables(learner: MetaLearner) -> list:
  """(Keras variable, its backing tf.Variable) for every variable predictions read.

  The backbone's, the set encoder's and alpha's, in a fixed order.

  Raises:
    TypeError: if a Keras variable is not backed by a tf.Variable.
  """
  keras_vars = list(learner.backbone.variables)
  if learner.encoder is not None:
    keras_vars += list(learner.encoder.variables)
  keras_vars += [learner.alpha[k] for k in sorted(learner.alpha)]
  out = []
  for v in keras_vars:
    raw = v if isinstance(v, tf.Variable) else v.value
    if not isinstance(raw, tf.Variable):
      raise TypeError(f'variable {getattr(v, "path", v)} is not backed by a tf.Variable')
    out.append((v, raw))
  return out


def uncheckpointed_variables(learner: MetaLearner) -> list:
  """Paths of the learner's variables that ``tf.train.Checkpoint(learner=learner)`` misses.

  A variable the checkpoint's object graph does not reach is neither saved by the training
  loop nor restored here; an evaluation or export would then silently use its initial value.

  Args:
    learner: a MetaLearner.

  Returns:
    Variable paths (empty when every variable is checkpointed).
  """
  reached = set()
  for obj in tf.train.TrackableView(learner).descendants():
    reached.add(id(obj))
    value = getattr(obj, '_value', None)  # A Keras variable's backing tf.Variable.
    if isinstance(value, tf.Variable):
      reached.add(id(value))
  out = []
  for v, raw in learner_variables(learner):
    if id(v) not in reached and id(raw) not in reached:
      out.append(getattr(v, 'path', raw.name))
  return out


def restore_learner(config: ModelConfig, checkpoint_path: str,
                    precision: str = 'float32') -> MetaLearner:
  """Builds a MetaLearner from `config` and restores its variables from a training checkpoint.

  The checkpoint is one written by ``tf.train.Checkpoint(learner=learner, ...)`` (optimizer,
  step and other objects in it are ignored).

  Args:
    config: the configuration the checkpoint was trained with.
    checkpoint_path: a checkpoint prefix, or a directory (its latest checkpoint is used).
    precision: the compute precision of the restored learner (taml_tf.method.precision); variables
      are float32 in both, so any checkpoint restores in either, whatever it was trained in.

  Returns:
    The restored learner.

  Raises:
    FileNotFoundError: if no checkpoint is found at `checkpoint_path`.
    ValueError: if the checkpoint does not hold every variable of the learner (e.g. another
      config or no `learner` entry).
  """
  return restore_into(MetaLearner(config, precision=precision), checkpoint_path)


def restore_into(learner: MetaLearner, checkpoint_path: str) -> MetaLearner:
  """Restores an existing learner's variables from a training checkpoint (as
  :func:`restore_learner`, for a learner built elsewhere, e.g. inside a TamlModel).

  Args:
    learner: a MetaLearner built from the configuration the checkpoint was trained with.
    checkpoint_path: a checkpoint prefix, or a directory (its latest checkpoint is used).

  Returns:
    `learner`, restored.

  Raises:
    FileNotFoundError, ValueError: as :func:`restore_learner`.
  """
  path = os.fspath(checkpoint_path)
  if tf.io.gfile.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if latest is None:
      raise FileNotFoundError(f'no checkpoint in directory {path}')
    path = latest
  elif not tf.io.gfile.exists(path + '.index'):
    raise FileNotFoundError(f'no checkpoint at {path} (expected {path}.index)')
  missing = uncheckpointed_variables(learner)
  if missing:
    raise ValueError(
        f'{len(missing)} variables of the learner are not reachable from '
        f'tf.train.Checkpoint(learner=learner), so no checkpoint can hold them and exporting '
        f'would serve untrained weights: {missing[:8]}{" ..." if len(missing) > 8 else ""}')
  status = tf.train.Checkpoint(learner=learner).restore(path).expect_partial()
  try:
    status.assert_existing_objects_matched()
  except AssertionError as e:
    raise ValueError(f'checkpoint {path} does not hold the learner built from the config '
                     f'(written by tf.train.Checkpoint(learner=...) with this config?): '
                     f'{e}') from e
  return learner


def restore(savedir: str, which: str = 'best',
            config: typing.Optional[ModelConfig] = None) -> tuple:
  """Restores the learner of a run folder.

  Args:
    savedir: the run folder.
    which: which checkpoint, as in :func:`checkpoint_path`.
    config: the ModelConfig to build (default: the run's, from config.json); evaluation passes
      the run's with meta-test settings applied (inner steps, samples, max_way).

  Returns:
    (learner, checkpoint path).

  Raises:
    FileNotFoundError, ValueError: as :func:`load_run_config`, :func:`checkpoint_path` and
      :func:`restore_learner`.
  """
  config = load_model_config(savedir) if config is None else config
  path = checkpoint_path(savedir, which)
  return restore_learner(config, path), path
