"""The one place absl flags become the library's frozen configurations.

Contradictory or invalid flags fail here, at start-up, with a message naming the flags.
"""

from __future__ import annotations

import dataclasses

from absl import flags

from taml_tf.data import experiment
from taml_tf.data.experiment import DataConfig
from taml_tf.execution import run_dir
from taml_tf.execution import threads
from taml_tf.execution import trainer as trainer_lib
from taml_tf.execution.execution_config import ExecutionConfig
from taml_tf.method.config import ModelConfig, VARIANTS
from taml_tf.method.models import posteriors
from taml_tf.products import evaluation


class FlagError(ValueError):
  """Flags that contradict each other or are invalid."""


def _present(values: flags.FlagValues, name: str) -> bool:
  return name in values and values[name].present


def _switches(values: flags.FlagValues) -> dict:
  """alpha/omega/gamma/z/deterministic from --variant and the explicit switch flags."""
  names = _SWITCH_FLAGS[1:]
  explicit = {n: values[n].value for n in names if values[n].value is not None}
  variant = values.variant
  if variant is None:
    if explicit and not any(explicit.values()):
      variant = 'maml'
    elif explicit:
      # Switches alone: unspecified ones are off, as in the authors' run scripts.
      return {n: bool(explicit.get(n, False)) for n in names}
    else:
      variant = 'bayesian_taml'
  preset = {n: False for n in names}
  preset.update(VARIANTS[variant])
  clashes = [f'--{n}={explicit[n]}' for n in explicit if explicit[n] != preset[n]]
  if clashes:
    raise FlagError(f'--variant={variant} contradicts {", ".join(clashes)}: give either the '
                    f'variant or the switches')
  return preset


def image_shape(values: flags.FlagValues) -> tuple:
  """(H, W, C) from --image_size/--image_channels or the first --id_dataset's convention."""
  h, w, c = experiment.default_image_shape(values.id_dataset[0])
  if values.image_size is not None:
    h = w = values.image_size
  if values.image_channels is not None:
    c = values.image_channels
  if c not in (1, 3):
    raise FlagError(f'--image_channels must be 1 or 3, got {c}')
  return (h, w, c)


def data_config(values: flags.FlagValues) -> DataConfig:
  """DataConfig from the data flags."""
  if not values.id_dataset:
    raise FlagError('--id_dataset is empty: name at least one in-distribution data set')
  try:
    return DataConfig(
        id_datasets=tuple(values.id_dataset), ood_datasets=tuple(values.ood_dataset or ()),
        data_dir=values.data_dir, image_shape=image_shape(values), way=values.way,
        min_way=values.min_way, max_shot=values.max_shot, query=values.query,
        shot_mode=values.shot_mode, rotations=values.rotations)
  except ValueError as e:
    raise FlagError(f'invalid data flags: {e}') from e


def model_config(values: flags.FlagValues, shape: tuple) -> ModelConfig:
  """ModelConfig from the model flags."""
  switches = _switches(values)
  if _present(values, 'inner_lr') and switches['alpha_on']:
    raise FlagError('--inner_lr is the fixed step size of MAML and is unused with alpha on '
                    '(Meta-SGD / TAML learn it; set --alpha_init instead)')
  if _present(values, 'n_mc_samples') and switches['deterministic']:
    raise FlagError('--n_mc_samples has no effect on a deterministic variant')
  try:
    return ModelConfig(
        image_shape=shape, channels=values.n_channels, max_way=values.way,
        max_shot=values.max_shot, inner_lr=values.inner_lr, alpha_init=values.alpha_init,
        train_inner_steps=values.n_steps, test_inner_steps=values.n_test_steps,
        first_order=values.first_order, n_mc_samples=values.n_mc_samples,
        meta_lr=values.meta_lr, grad_clip=values.grad_clip, encoder_init=values.encoder_init,
        bn_second_order=values.bn_second_order, authors_padding=values.authors_padding,
        **switches)
  except ValueError as e:
    raise FlagError(f'invalid model flags: {e}') from e


def execution_config(values: flags.FlagValues) -> ExecutionConfig:
  """ExecutionConfig from --jit_compile, --sequential_tasks, --pad_to, --steps_per_call,
  --precision, --recompute and --strategy (a TPU needs static shapes; ExecutionConfig decides
  the padding)."""
  try:
    return ExecutionConfig(
        jit_compile=values.jit_compile, sequential_tasks=values.sequential_tasks,
        static_shapes=values.strategy == 'tpu', pad_to=values.pad_to,
        steps_per_call=values.steps_per_call, precision=values.precision,
        recompute=values.recompute)
  except ValueError as e:
    raise FlagError(f'invalid execution flags (--jit_compile, --strategy, --pad_to, '
                    f'--steps_per_call, --precision): {e}') from e


def configure_threads(values: flags.FlagValues) -> threads.Pools:
  """Sizes TensorFlow's thread pools from --inter_op_threads and --intra_op_threads; the first
  call of a binary's main (the pools are fixed once TensorFlow has run an op)."""
  for name in ('inter_op_threads', 'intra_op_threads'):
    if values[name].value is not None and values[name].value < 0:
      raise FlagError(f'--{name} must be >= 0 (0: TensorFlow\'s default), got '
                      f'{values[name].value}')
  return threads.configure(values.inter_op_threads, values.intra_op_threads)


def train_config(values: flags.FlagValues) -> trainer_lib.TrainConfig:
  """TrainConfig from the training flags."""
  if values.tpu and values.strategy != 'tpu':
    raise FlagError(f'--tpu={values.tpu!r} needs --strategy=tpu (got --strategy='
                    f'{values.strategy})')
  try:
    return trainer_lib.TrainConfig(
        savedir=values.savedir, num_steps=values.n_train_iters, meta_batch=values.metabatch,
        save_freq=values.save_freq,
        eval_freq=values.eval_freq, log_freq=values.log_freq, seed=values.seed,
        best_rule=values.best_rule, max_to_keep=values.max_to_keep)
  except ValueError as e:
    raise FlagError(f'invalid training flags: {e}') from e


def saved_configs(savedir: str) -> tuple:
  """(ModelConfig, DataConfig, TrainConfig) of a trained run, from its config.json (of any
  version: run_dir.load_run_config moves older runs' execution settings out of these)."""
  run = run_dir.load_run_config(savedir)
  model = ModelConfig.from_dict(run['model'])
  data = DataConfig(**run['data'])
  train = trainer_lib.TrainConfig(**run['train'])
  return model, data, train


# Flags that fix what a trained run is, and the saved field each must equal. taml-evaluate and
# taml-export accept every taml-train flag, so that one flagfile drives all three binaries (as
# the authors' one script did with --mode), and refuse these when they contradict the run
# rather than ignore them: a flagfile of another variant would otherwise evaluate the wrong run
# silently. Schedule flags (--metabatch, --n_train_iters, ...) do not change a trained model.
# --way and --min_way are not here: they are meta-test settings (tasks wider or narrower than
# training, see evaluation_overrides), not a contradiction of the run.
_SAVED_MODEL_FLAGS = {'n_channels': 'channels', 'max_shot': 'max_shot',
                      'inner_lr': 'inner_lr', 'alpha_init': 'alpha_init',
                      'first_order': 'first_order', 'meta_lr': 'meta_lr',
                      'grad_clip': 'grad_clip', 'encoder_init': 'encoder_init',
                      'bn_second_order': 'bn_second_order',
                      'authors_padding': 'authors_padding'}
_SAVED_DATA_FLAGS = {'id_dataset': 'id_datasets', 'query': 'query',
                     'shot_mode': 'shot_mode', 'rotations': 'rotations'}
_SWITCH_FLAGS = (('variant', 'alpha_on') + tuple(v.switch for v in posteriors.VARIABLES)
                 + ('deterministic',))


def _same(a, b) -> bool:
  if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
    return tuple(a or ()) == tuple(b or ())
  return a == b


def check_saved_run(values: flags.FlagValues, model: ModelConfig, data: DataConfig) -> None:
  """Refuses flags given explicitly that contradict the trained run being read.

  Args:
    values: parsed flags of taml-evaluate or taml-export.
    model: the run's saved ModelConfig.
    data: the run's saved DataConfig.

  Raises:
    FlagError: naming every contradicting flag with the run's value.
  """
  problems = []
  if any(_present(values, n) for n in _SWITCH_FLAGS):
    # --variant and the authors' switches resolve as in taml-train, then must match the run.
    for name, on in _switches(values).items():
      if getattr(model, name) != on:
        problems.append(f'--{name}={on} (run: {getattr(model, name)})')
  for flag, field in _SAVED_MODEL_FLAGS.items():
    if _present(values, flag) and not _same(values[flag].value, getattr(model, field)):
      problems.append(f'--{flag}={values[flag].value} (run: {getattr(model, field)})')
  for flag, field in _SAVED_DATA_FLAGS.items():
    if _present(values, flag) and not _same(values[flag].value, getattr(data, field)):
      problems.append(f'--{flag}={values[flag].value} (run: {getattr(data, field)})')
  for flag, axis in (('image_size', 0), ('image_channels', 2)):
    if _present(values, flag) and values[flag].value != model.image_shape[axis]:
      problems.append(f'--{flag}={values[flag].value} (run: {model.image_shape[axis]})')
  if (_present(values, 'n_steps') and _present(values, 'n_test_steps') and
      values.n_steps != model.train_inner_steps):
    problems.append(f'--n_steps={values.n_steps} (run: {model.train_inner_steps})')
  if problems:
    raise FlagError(f'flags contradict the run in {values.savedir} ({", ".join(problems)}): '
                    'evaluation and export use the configuration it was trained with; drop '
                    'these flags or point --savedir at a run trained with them')


def padded_meta_batch(values: flags.FlagValues, model: ModelConfig,
                      train: trainer_lib.TrainConfig):
  """The meta-batch size of the authors' padded meta-test (--test_padding), or None.

  Raises:
    FlagError: --test_padding=run given for a run trained without --authors_padding.
  """
  if values.test_padding == 'none':
    return None
  if not model.authors_padding:
    if _present(values, 'test_padding'):
      raise FlagError(f'--test_padding=run: the run in {values.savedir} was trained without '
                      '--authors_padding, so its meta-test is not padded')
    return None
  return evaluation.authors_meta_batch(model, train.meta_batch)


def evaluation_configs(values: flags.FlagValues) -> tuple:
  """(ModelConfig, DataConfig) that taml-evaluate and taml-export use for --savedir.

  The run's saved configuration, checked against the flags given (check_saved_run), with the
  meta-test flags applied (evaluation_overrides).

  Args:
    values: parsed flags (any taml-train flag may be present, e.g. from a shared flagfile).

  Returns:
    (model, data).

  Raises:
    FileNotFoundError: no config.json in --savedir.
    FlagError: flags contradict the run or each other.
  """
  model, data, _ = saved_configs(values.savedir)
  check_saved_run(values, model, data)
  return evaluation_overrides(values, model, data)


def evaluation_overrides(values: flags.FlagValues, model: ModelConfig,
                         data: DataConfig) -> tuple:
  """Applies the meta-test flags given explicitly to a saved run's configs.

  --n_steps / --n_test_steps, --n_mc_samples, --ood_dataset, --data_dir, and --way / --min_way
  (tasks of another width than training; the model's max_way grows to the widest).

  Raises:
    FlagError: for contradictory or invalid values.
  """
  changes = {}
  # The authors' meta-test runs pass the meta-test inner steps as --n_steps; with
  # --n_test_steps also given (one flagfile for train and evaluate), --n_steps is the
  # training one (check_saved_run compares it with the run).
  if _present(values, 'n_test_steps'):
    changes['test_inner_steps'] = values.n_test_steps
  elif _present(values, 'n_steps'):
    changes['test_inner_steps'] = values.n_steps
  if _present(values, 'n_mc_samples'):
    changes['n_mc_samples'] = values.n_mc_samples
  data_changes = {}
  if _present(values, 'way') or _present(values, 'min_way'):
    # Tasks wider (or narrower) than training: nothing in the model depends on the way (zero
    # head with one shared alpha column; the set encoder pools over classes), only the padded
    # class axis must hold the widest task.
    data_changes['way'] = values.way if _present(values, 'way') else data.way
    data_changes['min_way'] = values.min_way if _present(values, 'min_way') else data.min_way
    changes['max_way'] = max(model.max_way, data_changes['way'])
  if changes:
    try:
      model = model.replace(**changes)
    except ValueError as e:
      raise FlagError(f'invalid meta-test flags: {e}') from e
  if _present(values, 'ood_dataset'):
    data_changes['ood_datasets'] = tuple(values.ood_dataset or ())
  if _present(values, 'data_dir'):
    data_changes['data_dir'] = values.data_dir
  if data_changes:
    try:
      data = dataclasses.replace(data, **data_changes)
    except ValueError as e:
      raise FlagError(f'invalid meta-test flags: {e}') from e
  return model, data
