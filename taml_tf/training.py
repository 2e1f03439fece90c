"""Strategy-agnostic meta-training: the replica step, the host loop, checkpoints, summaries.

The :class:`~taml_tf.learner.MetaLearner` computes; this module runs it. :class:`MetaUpdate`
owns the replica step (as orbit's trainers do): the meta-gradient, XLA-compiled where
configured, its mean over replicas, clipping, and the Adam optimizer.

The loop follows tensorflow/models' orbit style: a ``tf.function`` runs ``steps_per_call``
steps of ``strategy.run(replica_step, ...)`` per host call (what TPUs need), and the host does
the rest between calls: checkpoints (``tf.train.CheckpointManager``), TensorBoard summaries, a
progress line, periodic validation and the best-checkpoint rule. A run killed at any moment
resumes from its last checkpoint with the same step, optimizer state and episode stream, and
reaches the same parameters as an uninterrupted run with the same seed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import threading
import time
import typing

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from taml_tf import atomic
from taml_tf import distribute
from taml_tf import evaluation
from taml_tf import config as config_lib
from taml_tf.config import ExecutionConfig
from taml_tf.config import ModelConfig
from taml_tf.episodes import Episode
from taml_tf.learner import MetaLearner

BEST_RULES = ('id', 'ood', 'mean')
CONFIG_FILE = 'config.json'
# What each meta-update reports (MetaUpdate.train_step), logged as TensorBoard scalars.
METRICS = ('loss', 'cross_entropy', 'kl', 'accuracy', 'clip_fraction')


class MetaUpdate:
  """Runs the meta-update of a MetaLearner: gradient, mean over replicas, clip, Adam step.

  Create it inside the strategy's scope, so that the optimizer's slots are distributed like
  the variables they belong to.

  Args:
    learner: the MetaLearner whose ``meta_variables`` are learned (its config gives
      ``meta_lr`` and ``grad_clip``).
    execution: how the gradient is computed (XLA, tasks in turn, static shapes).
  """

  def __init__(self, learner: MetaLearner, execution: ExecutionConfig | None = None):
    self.learner = learner
    self.execution = execution or ExecutionConfig()
    self.optimizer = keras.optimizers.Adam(learner.config.meta_lr)
    # XLA (when configured) compiles the gradient computation only: the value assertions of
    # validation.py and the optimizer update stay outside the compiled cluster.
    self.compiled_gradients = tf.function(self.compute_gradients,
                                          jit_compile=self.execution.jit_compile)

  def build(self) -> None:
    """Creates the optimizer slots (needed before a distributed first step)."""
    self.optimizer.build(self.learner.meta_variables)

  def compute_gradients(self, batch: Episode, seed, task_offset=0):
    """The learner's meta-gradient of `batch`, computed as ``execution`` says (not compiled).

    Args:
      batch: a batched Episode of tensors.
      seed: int32 [2] stateless seed for the posterior samples.
      task_offset: the batch's first task in the global meta-batch (see
        :meth:`MetaLearner.batch_loss`).

    Returns:
      (gradients, metrics) of :meth:`MetaLearner.compute_gradients`.
    """
    return self.learner.compute_gradients(
        batch, seed, task_offset=task_offset, sequential=self.execution.sequential_tasks,
        static_shapes=self.execution.static_shapes)

  def apply_gradients(self, grads) -> tf.Tensor:
    """Clips by value to [-grad_clip, grad_clip] and takes one Adam step.

    Under a distribution strategy with R replicas (called inside ``strategy.run``), each
    replica's gradient is that of the mean loss over its own tasks; the global meta-batch
    gradient is their mean, and clipping applies to that global gradient, so R replicas
    compute exactly the update of one device on the whole meta-batch.

    Args:
      grads: this replica's gradients, in the order of the learner's ``meta_variables``.

    Returns:
      The fraction of gradient entries the clip changed (|g| > grad_clip), a diagnostic of
      how often the [-3, 3] clip of the authors' code binds.
    """
    clip = self.learner.config.grad_clip
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    context = tf.distribute.get_replica_context()
    if replicas > 1 and context is not None:
      grads = context.all_reduce(tf.distribute.ReduceOp.SUM, [g / replicas for g in grads])
    clipped = tf.add_n([tf.reduce_sum(tf.cast(tf.abs(g) > clip, tf.float32)) for g in grads])
    clip_fraction = clipped / float(sum(g.shape.num_elements() for g in grads))
    grads = [tf.clip_by_value(g, -clip, clip) for g in grads]
    if replicas > 1 and context is not None:
      # The Keras optimizer sums the replicas' gradients once more.
      grads = [g / replicas for g in grads]
    self.optimizer.apply_gradients(zip(grads, self.learner.meta_variables))
    return clip_fraction

  def train_step(self, batch: Episode, seed, task_offset=0) -> dict:
    """One meta-update: validate the batch, compute the meta-gradient, clip, Adam.

    Usable eagerly or inside ``tf.function`` / ``strategy.run``. The gradient computation is
    compiled with XLA when ``execution.jit_compile`` is set.

    Args:
      batch: a batched Episode of tensors.
      seed: int32 [2] stateless seed for the posterior samples.
      task_offset: see :meth:`compute_gradients`.

    Returns:
      The metrics dict of :meth:`MetaLearner.batch_loss` plus 'clip_fraction' (see
      :meth:`apply_gradients`).

    Raises:
      ValueError / tf.errors.InvalidArgumentError: for a malformed batch, before any update.
    """
    batch = self.learner.validate(batch, batched=True)
    grads, metrics = self.compiled_gradients(batch, tf.convert_to_tensor(seed, tf.int32),
                                             task_offset=task_offset)
    # Inside tf.function the optimizer's step counter has no data dependency on the gradients,
    # and a control dependency on a (possibly inlined) function call only waits for its side
    # effects. A dependency on a data output keeps the whole update behind `validate`'s checks.
    with tf.control_dependencies([tf.identity(metrics['loss'])]):
      clip_fraction = self.apply_gradients(grads)
    return dict(metrics, clip_fraction=clip_fraction)


class _CheckpointedLearner(tf.Module):
  """The 'learner' node of a training checkpoint: the learner's state and the optimizer.

  Checkpoints keep the optimizer under ``learner/optimizer/...`` (the layout of every run
  written so far, tests/testdata/checkpoint_keys.json), so runs resume across versions, and
  ``tf.train.Checkpoint(learner=learner)`` (evaluation, export) reads them ignoring the
  optimizer. The attributes are the learner's own checkpointed children.
  """

  def __init__(self, learner: MetaLearner, optimizer):
    super().__init__(name=learner.name)
    self.backbone = learner.backbone
    self.encoder = learner.encoder
    self.alpha = learner.alpha
    self.checkpoint_variables = learner.checkpoint_variables
    self.optimizer = optimizer


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """How long and how to meta-train.

  Attributes:
    savedir: folder for checkpoints, the resolved configuration, logs and the best model.
    num_steps: meta-updates in total (the authors' ``n_train_iters``).
    meta_batch: tasks per meta-update over all replicas (the authors' ``metabatch``).
    save_freq: checkpoint every this many steps.
    eval_freq: validate every this many steps (0: never during training).
    log_freq: progress line and summaries every this many steps.
    seed: seeds the initial parameters (the Trainer sets Keras' global seed), the episode
      stream and the posterior samples.
    best_rule: which validation accuracy picks the best checkpoint: 'id' (in-distribution
      validation, the default: out-of-distribution data stays unseen until meta-test), 'ood',
      or 'mean' (over all validation sets: the authors' rule, whose ``meta_test`` sums the
      in- and out-of-distribution accuracies, which orders checkpoints the same way).
    max_to_keep: recent checkpoints kept.
  """

  savedir: str
  num_steps: int = 50000
  meta_batch: int = 4
  save_freq: int = 1000
  eval_freq: int = 1000
  log_freq: int = 50
  seed: int = 0
  best_rule: str = 'id'
  max_to_keep: int = 3

  def __post_init__(self):
    problems = []
    for name in ('num_steps', 'meta_batch', 'save_freq', 'log_freq', 'max_to_keep'):
      if getattr(self, name) < 1:
        problems.append(f'{name} must be >= 1, got {getattr(self, name)}')
    if self.eval_freq < 0:
      problems.append(f'eval_freq must be >= 0, got {self.eval_freq}')
    if self.best_rule not in BEST_RULES:
      problems.append(f'best_rule must be one of {BEST_RULES}, got {self.best_rule!r}')
    if not self.savedir:
      problems.append('savedir must be set')
    if problems:
      raise ValueError('invalid TrainConfig: ' + '; '.join(problems))


# Fields that may change between a run and its resumption; any other difference is refused.
# The 'execution' section (ExecutionConfig) may change as a whole.
_RESUMABLE = {('train', 'num_steps'), ('train', 'save_freq'), ('train', 'eval_freq'),
              ('train', 'log_freq'), ('train', 'max_to_keep'),
              # Where the data files live, not what they are (a run resumed on another machine).
              ('data', 'data_dir')}


class IncompatibleRunError(ValueError):
  """Resuming a run with a configuration that differs from the saved one."""


def resolved_config(model: ModelConfig, train: TrainConfig, data: dict,
                    execution: ExecutionConfig | None = None) -> dict:
  """The complete configuration of a run, as written to ``savedir/config.json``."""
  return {'model': dataclasses.asdict(model), 'train': dataclasses.asdict(train),
          'data': data, 'execution': dataclasses.asdict(execution or ExecutionConfig())}


def check_resumable(saved: dict, current: dict) -> None:
  """Refuses to resume a run with an incompatible configuration.

  Args:
    saved: the run's config.json (of any version: see :func:`config.upgrade_run_config`).
    current: :func:`resolved_config` of the resuming process.

  Raises:
    IncompatibleRunError: (a ValueError) listing every field that differs and may not change
      (execution settings always may).
  """
  saved = config_lib.upgrade_run_config(json.loads(json.dumps(saved)))
  current = config_lib.upgrade_run_config(json.loads(json.dumps(current)))
  problems = []
  for section in ('model', 'train', 'data'):
    a, b = saved.get(section, {}), current.get(section, {})
    defaults = _defaults(section)
    for key in sorted(set(a) | set(b)):
      if (section, key) in _RESUMABLE or key == 'savedir':
        continue
      if key not in a and key in defaults and b.get(key) == defaults[key]:
        # A field added to the package after the run started, at its default: the run was
        # trained with that behaviour.
        continue
      if a.get(key) != b.get(key):
        problems.append(f'{section}.{key}: saved {a.get(key)!r}, now {b.get(key)!r}')
  if problems:
    raise IncompatibleRunError('cannot resume: the configuration differs from the saved run in '
                     + '; '.join(problems) + ' (use a new --savedir or the saved settings)')


def _defaults(section: str) -> dict:
  """JSON-form defaults of a config section's dataclass fields ({} for 'data')."""
  cls = {'model': ModelConfig, 'train': TrainConfig}.get(section)
  if cls is None:
    return {}
  return json.loads(json.dumps({
      f.name: f.default for f in dataclasses.fields(cls)
      if f.default is not dataclasses.MISSING}))


def load_run_config(savedir: str) -> dict:
  """Reads ``savedir/config.json`` in today's layout (:func:`config.upgrade_run_config`).

  Raises:
    FileNotFoundError: if the run has no configuration.
  """
  path = os.path.join(savedir, CONFIG_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path} not found: is {savedir!r} a taml-tf training folder?')
  with open(path) as f:
    return config_lib.upgrade_run_config(json.load(f))


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
  if which not in ('best', 'latest') and not which.isdigit():
    raise ValueError(f"checkpoint must be 'best', 'latest' or a step number, got {which!r}")
  if which.isdigit():
    path = os.path.join(savedir, 'checkpoints', f'ckpt-{int(which)}')
    if not tf.io.gfile.exists(path + '.index'):
      kept = sorted(int(p.rsplit('-', 1)[1].split('.')[0]) for p in tf.io.gfile.glob(
          os.path.join(savedir, 'checkpoints', 'ckpt-*.index')))
      raise FileNotFoundError(f'{savedir!r} has no checkpoint at step {int(which)}; kept: '
                              f'{kept or "none"}')
    return path
  if which == 'best':
    path = tf.train.latest_checkpoint(os.path.join(savedir, 'best'))
    if path:
      return path
  path = tf.train.latest_checkpoint(os.path.join(savedir, 'checkpoints'))
  if not path:
    raise FileNotFoundError(f'no checkpoint in {savedir!r}: train first (taml-train '
                            f'--savedir={savedir})')
  return path


class Trainer:
  """Meta-trains a MetaLearner under any tf.distribute strategy.

  Args:
    model_config: the model.
    train_config: the schedule.
    dataset_fn: ``dataset_fn(start_episode, input_context) -> tf.data.Dataset`` of per-replica
      meta-batches (batched Episodes); `start_episode` is where the global episode stream
      resumes (step * meta_batch; each input pipeline reads its replicas' share of it).
    strategy: a tf.distribute strategy (default: the current one).
    validation_sets: optional ``() -> {name: finite dataset of batched Episodes}``.
    ood_names: which validation sets are out-of-distribution.
    data_config: description of the data (written to config.json and checked on resume).
    stop_signals: signals that make :meth:`run` checkpoint the current step and return (a
      preemption: cloud TPU VMs and spot machines send SIGTERM before a short grace period).
      ``run`` installs their handlers only for its own duration, from the main thread, and
      restores the previous handlers when it returns. ``()`` leaves the signals alone.
    execution: how the steps run (XLA, tasks in turn, static shapes, steps per host call);
      free to differ from the run's earlier processes. A TPU strategy needs static shapes.
      The padding of `dataset_fn`'s batches must be ``execution.pad_to``.

  Raises:
    ValueError: for a meta-batch the replicas cannot share, the 'ood' rule without OOD
      validation sets, or a TPU strategy without static shapes.
  """

  def __init__(self, model_config: ModelConfig, train_config: TrainConfig,
               dataset_fn: typing.Callable, strategy: tf.distribute.Strategy | None = None,
               validation_sets: typing.Callable | None = None, ood_names=(),
               data_config: dict | None = None, stop_signals=(signal.SIGTERM,),
               execution: ExecutionConfig | None = None):
    self.model_config = model_config
    self.execution = execution or ExecutionConfig()
    self.stop_signals = tuple(stop_signals)
    # Set (from a signal handler or another thread) to stop at the next step boundary.
    self._stop = threading.Event()
    self._stop_reason = None
    self.config = train_config
    self.strategy = strategy or tf.distribute.get_strategy()
    self.dataset_fn = dataset_fn
    self.validation_sets = validation_sets
    self.ood_names = tuple(ood_names)
    replicas = self.strategy.num_replicas_in_sync
    if train_config.meta_batch % replicas:
      raise ValueError(f'meta_batch={train_config.meta_batch} is not divisible by the '
                       f'{replicas} replicas of the strategy')
    self.per_replica_batch = train_config.meta_batch // replicas
    if (isinstance(self.strategy, tf.distribute.TPUStrategy)
        and not self.execution.static_shapes):
      raise ValueError('a TPU strategy needs static shapes: ExecutionConfig(static_shapes=True) '
                       '(--strategy=tpu sets it)')
    if validation_sets is not None and train_config.best_rule == 'ood' and not self.ood_names:
      raise ValueError("best_rule='ood' needs out-of-distribution validation sets "
                       '(--ood_dataset)')
    self.run_config = resolved_config(model_config, train_config, data_config or {},
                                      self.execution)
    # The initial parameters come from the seed: a killed run and its resumption in another
    # process, and an uninterrupted run with the same seed, start from the same parameters.
    keras.utils.set_random_seed(train_config.seed)
    with self.strategy.scope():
      self.learner = MetaLearner(model_config)
      self.update = MetaUpdate(self.learner, self.execution)
      self.update.build()
      self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')
    self.checkpoint = tf.train.Checkpoint(
        learner=_CheckpointedLearner(self.learner, self.update.optimizer), step=self.step)
    # Only the chief writes the run's files; other workers of a multi-worker cluster save
    # into folders of their own that they delete again (distribute.write_dir).
    self.is_chief = distribute.is_chief(self.strategy)
    self._checkpoint_dir = os.path.join(train_config.savedir, 'checkpoints')
    self._best_dir = os.path.join(train_config.savedir, 'best')
    self.manager = tf.train.CheckpointManager(
        self.checkpoint, distribute.write_dir(self.strategy, self._checkpoint_dir),
        max_to_keep=train_config.max_to_keep, step_counter=self.step)
    self.best_manager = tf.train.CheckpointManager(
        self.checkpoint, distribute.write_dir(self.strategy, self._best_dir), max_to_keep=1,
        checkpoint_name='best')
    self._best = None
    self._train_fn = None

  @property
  def optimizer(self):
    """The Adam optimizer of the meta-update."""
    return self.update.optimizer

  # ------------------------------------------------------------------------- state
  def restore(self) -> int:
    """Writes or checks config.json, restores the latest checkpoint; returns the step."""
    savedir = self.config.savedir
    os.makedirs(savedir, exist_ok=True)
    path = os.path.join(savedir, CONFIG_FILE)
    if os.path.exists(path):
      check_resumable(load_run_config(savedir), self.run_config)
    if self.is_chief:
      atomic.write_text(path, json.dumps(self.run_config, indent=2, sort_keys=True))
    # Every worker resumes from the chief's latest checkpoint.
    latest = tf.train.latest_checkpoint(self._checkpoint_dir)
    if latest:
      self.checkpoint.restore(latest).assert_existing_objects_matched()
      logging.info('resumed from %s at step %d', latest, int(self.step.numpy()))
    # Read once: every worker then takes the same best-checkpoint decisions (each must join
    # the save) whatever the chief writes to best.json meanwhile.
    self._best = self._read_best()
    return int(self.step.numpy())

  def _save(self, manager, directory: str, step: int) -> None:
    manager.save(checkpoint_number=step)
    distribute.discard_worker_dir(self.strategy, directory)

  # ------------------------------------------------------------------------ stepping
  def replica_step(self, batch, seed):
    """One meta-update on this replica's share of the global meta-batch."""
    context = tf.distribute.get_replica_context()
    offset = context.replica_id_in_sync_group * self.per_replica_batch
    return self.update.train_step(batch, seed, task_offset=offset)

  def _build_train_fn(self):
    strategy, seed = self.strategy, self.config.seed
    # Cross-replica all-reduces inside a tf.while_loop are not matched up reliably across the
    # replicas of a Mirrored / MultiWorkerMirrored strategy (collective shape mismatch): unroll
    # the steps of a host call there (a Python int count; at most two traces). One device and
    # TPUs keep the loop (TPU programs of 50-100 steps per call).
    unroll = (strategy.num_replicas_in_sync > 1
              and not isinstance(strategy, tf.distribute.TPUStrategy))

    @tf.function
    def train_fn(iterator, num_steps):
      # num_steps (<= steps_per_call) stops the last call at num_steps.
      losses = tf.TensorArray(tf.float32, size=num_steps)
      metrics = {k: tf.constant(0.0) for k in METRICS}
      for i in (range(num_steps) if unroll else tf.range(num_steps)):
        step_seed = tf.stack([tf.constant(seed, tf.int32), tf.cast(self.step, tf.int32)])
        per_replica = strategy.run(self.replica_step, args=(next(iterator), step_seed))
        metrics = {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
                   for k, v in per_replica.items()}
        self.step.assign_add(1)
        losses = losses.write(i, metrics['loss'])
      return metrics, losses.stack()

    train_fn.unrolled = unroll
    return train_fn

  def make_iterator(self, start_step: int):
    """The distributed episode stream, positioned at `start_step`."""

    def fn(ctx):
      # Each input pipeline reads its replicas' share of the one global episode stream.
      return self.dataset_fn(start_step * self.config.meta_batch, ctx)
    return iter(self.strategy.distribute_datasets_from_function(fn))

  # ---------------------------------------------------------------------- validation
  def validate(self) -> typing.Optional[evaluation.EvaluationResult]:
    """Meta-tests the validation sets (posterior mean, meta-test inner steps); None if none."""
    if self.validation_sets is None:
      return None
    result = evaluation.evaluate(self.learner, self.validation_sets(), mode='mean',
                                 seed=self.config.seed + 1)
    return result

  def _best_score(self, accs: dict) -> float:
    ood = [v for k, v in accs.items() if k in self.ood_names]
    ind = [v for k, v in accs.items() if k not in self.ood_names]
    if self.config.best_rule == 'id':
      return float(np.mean(ind)) if ind else float('nan')
    if self.config.best_rule == 'ood':
      return float(np.mean(ood)) if ood else float('nan')
    return float(np.mean(list(accs.values())))

  # --------------------------------------------------------------------------- loop
  def run(self) -> dict:
    """Trains until ``num_steps`` or a stop request (:meth:`request_stop`, ``stop_signals``).

    Returns:
      A summary dict: 'step' reached, last 'metrics', 'best' validation (best.json or None),
      'stopped' (the reason, or None when the run reached num_steps) and 'checkpoint' (the
      latest checkpoint; after a stop, the one at 'step').

    Raises:
      FloatingPointError: if a loss is not finite; the last good checkpoint is kept.
    """
    cfg = self.config
    start = self.restore()
    if start >= cfg.num_steps:
      logging.info('already at step %d >= num_steps=%d', start, cfg.num_steps)
      return {'step': start, 'metrics': {}, 'best': self._best, 'stopped': None,
              'checkpoint': tf.train.latest_checkpoint(self._checkpoint_dir)}
    iterator = self.make_iterator(start)
    self._train_fn = self._train_fn or self._build_train_fn()
    logs = os.path.join(cfg.savedir, 'logs')
    writer = (tf.summary.create_file_writer if self.is_chief
              else lambda _: tf.summary.create_noop_writer())
    train_writer = writer(os.path.join(logs, 'train'))
    val_writer = writer(os.path.join(logs, 'validation'))
    metrics, step, t0, last_log, last_time = {}, start, time.time(), start, time.time()
    # The step of the newest checkpoint on disk (a stop writes one only if it is missing).
    saved = start if tf.train.latest_checkpoint(self._checkpoint_dir) else None
    stopped = None
    restore_signals = self._install_stop_handlers()
    try:
      while step < cfg.num_steps and not self._stop.is_set():
        count = min(self.execution.steps_per_call, cfg.num_steps - step)
        metrics, losses = self._train_fn(
          iterator, count if self._train_fn.unrolled else tf.constant(count, tf.int32))
        losses = losses.numpy()
        if not np.all(np.isfinite(losses)):
          bad = step + int(np.argmin(np.isfinite(losses))) + 1
          raise FloatingPointError(
              f'non-finite loss at step {bad}; stopping. The last good checkpoint is '
              f'{tf.train.latest_checkpoint(self._checkpoint_dir)} (nothing after it was '
              'saved)')
        previous, step = step, int(self.step.numpy())
        metrics = {k: float(v) for k, v in metrics.items()}
        if step // cfg.log_freq > previous // cfg.log_freq or step >= cfg.num_steps:
          now = time.time()
          rate = (step - last_log) / max(now - last_time, 1e-9)
          left = (cfg.num_steps - step) / max(rate, 1e-9)
          logging.info('step %d/%d  loss %.4f  ce %.4f  kl %.3f  acc %.3f  clipped %.4f  '
                       '%.2f steps/s  %s left', step, cfg.num_steps, metrics['loss'],
                       metrics['cross_entropy'], metrics['kl'], metrics['accuracy'],
                       metrics['clip_fraction'], rate, _duration(left))
          with train_writer.as_default(step=step):
            for k, v in metrics.items():
              tf.summary.scalar(k, v)
            tf.summary.scalar('steps_per_sec', rate)
          last_log, last_time = step, now
        # Validation before the checkpoint of the same step: a run killed while validating
        # resumes from the step before and validates this step again, so the best checkpoint
        # is the one an uninterrupted run picks.
        if cfg.eval_freq and (step // cfg.eval_freq > previous // cfg.eval_freq
                              or step >= cfg.num_steps):
          self._validate_and_keep_best(step, val_writer)
        if step // cfg.save_freq > previous // cfg.save_freq or step >= cfg.num_steps:
          self._save(self.manager, self._checkpoint_dir, step)
          saved = step
      stopped = self._stop_reason if self._stop.is_set() and step < cfg.num_steps else None
      if stopped:
        if saved != step:
          self._save(self.manager, self._checkpoint_dir, step)
        logging.warning('%s: stopped at step %d/%d after writing checkpoint %s; the same '
                        'command resumes from it', stopped, step, cfg.num_steps,
                        tf.train.latest_checkpoint(self._checkpoint_dir))
    finally:
      restore_signals()
      self._stop.clear()
      # Summaries reach the disk even when the run stops on a non-finite loss.
      train_writer.close()
      val_writer.close()
    if not stopped:
      logging.info('done: step %d in %s', step, _duration(time.time() - t0))
    return {'step': step, 'metrics': metrics, 'best': self._best, 'stopped': stopped,
            'checkpoint': tf.train.latest_checkpoint(self._checkpoint_dir)}

  # ---------------------------------------------------------------------- preemption
  def request_stop(self, reason: str = 'stop requested') -> None:
    """Asks :meth:`run` to checkpoint the current step and return at the next step boundary.

    Safe to call from a signal handler or another thread (e.g. a watcher of a cloud
    preemption notice). The step in progress (``steps_per_call`` meta-updates) and a
    validation due at its end finish first, so the checkpoint is one an uninterrupted run also
    passes through and the next start resumes exactly.

    Args:
      reason: reported in the log and in the summary ``run`` returns ('stopped').
    """
    self._stop_reason = reason
    self._stop.set()

  def _on_stop_signal(self, signum, frame):
    del frame  # unused
    # Only set a flag: the handler runs between two Python bytecodes of the loop, possibly in
    # the middle of a checkpoint write, which must complete.
    self.request_stop(f'received {signal.Signals(signum).name}')

  def _install_stop_handlers(self) -> typing.Callable[[], None]:
    """Installs the handlers of ``stop_signals``; returns a function restoring the old ones.

    Python allows signal handlers only in the main thread: elsewhere (a notebook's worker
    thread, a test runner's) nothing is installed and :meth:`request_stop` is the way to stop.
    """
    if not self.stop_signals:
      return lambda: None
    if threading.current_thread() is not threading.main_thread():
      logging.warning('not in the main thread: %s will not checkpoint the run (call '
                      'Trainer.request_stop instead)',
                      ', '.join(signal.Signals(s).name for s in self.stop_signals))
      return lambda: None
    previous = {}
    for sig in self.stop_signals:
      previous[sig] = signal.signal(sig, self._on_stop_signal)

    def restore():
      for sig, handler in previous.items():
        # None: the previous handler was not installed from Python; the default is what ran.
        signal.signal(sig, signal.SIG_DFL if handler is None else handler)
    return restore

  def _validate_and_keep_best(self, step: int, writer) -> None:
    result = self.validate()
    if result is None:
      return
    accs = {name: r.accuracy for name, r in result.datasets.items()}
    with writer.as_default(step=step):
      for name, r in result.datasets.items():
        tf.summary.scalar(f'{name}/accuracy', r.accuracy)
        tf.summary.scalar(f'{name}/nll', r.nll)
        tf.summary.scalar(f'{name}/ece', r.ece)
      arrays = evaluation.balancing_arrays(result.records)
      for key in ('omega', 'exp_gamma', 'z'):
        if key in arrays:
          values = np.asarray(arrays[key], np.float32)
          if key == 'omega':
            values = values[values > 0]
          tf.summary.histogram(key, values)
    logging.info('validation at step %d: %s', step,
                 ', '.join(f'{k} {100 * v:.2f}%' for k, v in accs.items()))
    score = self._best_score(accs)
    if self._best is None or (math.isfinite(score) and score > self._best['score']):
      self._best = {'step': step, 'score': score, 'rule': self.config.best_rule,
                    'accuracy': accs}
      self._save(self.best_manager, self._best_dir, step)
      if self.is_chief:
        atomic.write_text(os.path.join(self._best_dir, 'best.json'),
                          json.dumps(self._best, indent=2))

  def _read_best(self):
    path = os.path.join(self._best_dir, 'best.json')
    if not os.path.exists(path):
      return None
    with open(path) as f:
      return json.load(f)


def _duration(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  h, rest = divmod(seconds, 3600)
  m, s = divmod(rest, 60)
  return f'{h}h{m:02d}m' if h else f'{m}m{s:02d}s'
