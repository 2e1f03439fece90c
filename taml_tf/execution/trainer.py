"""Strategy-agnostic meta-training: the host loop, checkpoints, summaries, validation.

The :class:`~taml_tf.method.learner.MetaLearner` computes and
:class:`~taml_tf.method.meta_update.MetaUpdate` takes its replica step (the meta-gradient,
XLA-compiled where configured, its mean over replicas, clipping, Adam); this module runs them.
Validation is a callback (:class:`ValidationReport`; the products layer's
``evaluation.validation_callback`` meta-tests the validation sets), so the trainer does not
depend on how a learner is evaluated.

The loop follows tensorflow/models' orbit style: a ``tf.function`` runs ``steps_per_call``
steps of ``strategy.run(replica_step, ...)`` per host call (what TPUs need), and the host does
the rest between calls: checkpoints (``tf.train.CheckpointManager``), TensorBoard summaries, a
progress line, periodic validation and the best-checkpoint rule. A run killed at any moment
resumes from its last checkpoint with the same step, optimizer state and episode stream, and
reaches the same parameters as an uninterrupted run with the same seed.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import signal
import threading
import time
import typing

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from taml_tf.execution import distribute
from taml_tf.execution import run_dir
from taml_tf.execution.execution_config import ExecutionConfig
from taml_tf.method import task_shape
from taml_tf.method.config import ModelConfig
from taml_tf.method.learner import MetaLearner
from taml_tf.method.meta_update import METRICS

BEST_RULES = ('id', 'ood', 'mean')
# What a collective raises when a peer worker is gone (its connection closed: Unavailable /
# Aborted / Cancelled; no answer within the collective timeout: DeadlineExceeded).
_PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.CancelledError,
                tf.errors.DeadlineExceededError)


class WorkerLostError(RuntimeError):
  """A multi-worker run lost a worker (killed, out of memory, unreachable): the others stop
  with this error, naming it, instead of waiting forever in a collective."""


class ValidationReport(typing.NamedTuple):
  """What a validation callback returns to the :class:`Trainer`.

  Attributes:
    accuracy: {validation set name: accuracy}; the best-checkpoint rule reads it.
    scalars: {TensorBoard tag: float}, e.g. ``'omniglot/nll'``.
    histograms: {TensorBoard tag: numpy array}, e.g. the posterior means of omega.
  """

  accuracy: dict
  scalars: dict = {}
  histograms: dict = {}


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

  Example:

  >>> TrainConfig(savedir='runs/maml', num_steps=10000, meta_batch=4).eval_freq
  1000
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


class Trainer:
  """Meta-trains a MetaLearner under any tf.distribute strategy.

  Args:
    model_config: the model.
    train_config: the schedule.
    dataset_fn: ``dataset_fn(start_episode, input_context) -> tf.data.Dataset`` of per-replica
      meta-batches (batched Episodes); `start_episode` is where the global episode stream
      resumes (step * meta_batch; each input pipeline reads its replicas' share of it).
    strategy: a tf.distribute strategy (default: the current one).
    validation: optional ``validation(learner) -> ValidationReport``, called every
      ``eval_freq`` steps (e.g. ``taml_tf.products.evaluation.validation_callback``).
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

  Example (what ``taml-train`` does, see launch/train.py; here 2 meta-updates of a tiny MAML
  on the embedded digits, in a temporary folder):

  >>> import tempfile
  >>> import taml_tf
  >>> from taml_tf.data import experiment
  >>> data = experiment.DataConfig(id_datasets=('embedded',), ood_datasets=(), way=3,
  ...                              max_shot=2, query=1, image_shape=(8, 8, 1))
  >>> model = taml_tf.variant('maml', image_shape=(8, 8, 1), channels=4, num_blocks=1,
  ...                         max_way=3, max_shot=2, train_inner_steps=1)
  >>> with tempfile.TemporaryDirectory() as savedir:
  ...   train = taml_tf.TrainConfig(savedir=savedir, num_steps=2, meta_batch=2, save_freq=2)
  ...   trainer = taml_tf.Trainer(model, train, experiment.train_dataset_fn(
  ...       data, train.seed, train.meta_batch, 'bucket'), data_config=data.to_dict())
  ...   summary = trainer.run()       # resumes from savedir's checkpoints if a run is there
  >>> summary['step'], summary['stopped']
  (2, None)
  """

  def __init__(self, model_config: ModelConfig, train_config: TrainConfig,
               dataset_fn: typing.Callable, strategy: tf.distribute.Strategy | None = None,
               validation: typing.Callable | None = None, ood_names=(),
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
    self.validation = validation
    self.ood_names = tuple(ood_names)
    replicas = self.strategy.num_replicas_in_sync
    if train_config.meta_batch % replicas:
      raise ValueError(f'meta_batch={train_config.meta_batch} is not divisible by the '
                       f'{replicas} replicas of the strategy')
    if (isinstance(self.strategy, tf.distribute.TPUStrategy)
        and not self.execution.static_shapes):
      raise ValueError('a TPU strategy needs static shapes: ExecutionConfig(static_shapes=True) '
                       '(--strategy=tpu sets it)')
    if validation is not None and train_config.best_rule == 'ood' and not self.ood_names:
      raise ValueError("best_rule='ood' needs out-of-distribution validation sets "
                       '(--ood_dataset)')
    self.data_config = data_config or {}
    if 'way' in self.data_config and 'max_shot' in self.data_config:
      task_shape.check_agree(model_config, self.data_config['way'], self.data_config['max_shot'])
    self.run_config = run_dir.resolved_config(model_config, train_config, self.data_config,
                                              self.execution)
    # The initial parameters come from the seed: a killed run and its resumption in another
    # process, and an uninterrupted run with the same seed, start from the same parameters.
    keras.utils.set_random_seed(train_config.seed)
    with self.strategy.scope():
      self.learner, self.update = self.execution.build(model_config)
      self.update.build()
      self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')
    self.checkpoint = tf.train.Checkpoint(
        learner=_CheckpointedLearner(self.learner, self.update.optimizer), step=self.step)
    # Only the chief writes the run's files; other workers of a multi-worker cluster save
    # into folders of their own that they delete again (distribute.write_dir).
    self.is_chief = distribute.is_chief(self.strategy)
    # This process's place among a cluster's workers (0 of 1 for one process): who writes a
    # stop request into the all-reduced vector, and whether stops must be agreed.
    self._worker_index, self._workers = distribute.worker_index(self.strategy)
    self._checkpoint_dir = run_dir.checkpoint_dir(train_config.savedir)
    self._best_dir = run_dir.best_dir(train_config.savedir)
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
    run_dir.check_and_write_config(self.config.savedir, self.model_config, self.config,
                                   self.data_config, self.execution, write=self.is_chief)
    # Every worker resumes from the chief's latest checkpoint.
    latest = self._latest()
    if latest:
      self.checkpoint.restore(latest).assert_existing_objects_matched()
      logging.info('resumed from %s at step %d', latest, int(self.step.numpy()))
    # Read once: every worker then takes the same best-checkpoint decisions (each must join
    # the save) whatever the chief writes to best.json meanwhile.
    self._best = self._read_best()
    return int(self.step.numpy())

  def _latest(self) -> typing.Optional[str]:
    """The newest checkpoint the chief wrote, or None."""
    return run_dir.latest_checkpoint(self.config.savedir)

  def _save(self, manager, directory: str, step: int) -> None:
    manager.save(checkpoint_number=step)
    distribute.discard_worker_dir(self.strategy, directory)

  # ------------------------------------------------------------------------ stepping
  def replica_step(self, batch, seed):
    """One meta-update on this replica's share of the global meta-batch (each task seeded
    by its place in the global meta-batch: :meth:`MetaUpdate.replica_task_offset`)."""
    return self.update.train_step(batch, seed)

  def _build_train_fn(self):
    strategy, seed = self.strategy, self.config.seed
    # Cross-replica all-reduces inside a tf.while_loop are not matched up reliably across the
    # replicas of a Mirrored / MultiWorkerMirrored strategy (collective shape mismatch): unroll
    # the steps of a host call there (a Python int count; at most two traces). One device and
    # TPUs keep the loop (TPU programs of 50-100 steps per call).
    unroll = (strategy.num_replicas_in_sync > 1
              and not isinstance(strategy, tf.distribute.TPUStrategy))

    @tf.function
    def train_fn(iterator, num_steps, stop_requests):
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
      # Every worker's stop requests (one entry per worker, 1 where that worker was asked to
      # stop before this call), summed over the replicas: every worker reads the same sum after
      # the same call, so all of them stop at the same step.
      requests = strategy.reduce(tf.distribute.ReduceOp.SUM,
                                 strategy.run(tf.identity, args=(stop_requests,)), axis=None)
      return metrics, losses.stack(), requests

    train_fn.unrolled = unroll
    return train_fn

  def make_iterator(self, start_step: int):
    """The distributed episode stream, positioned at `start_step`."""

    def fn(ctx):
      # Each input pipeline reads its replicas' share of the one global episode stream.
      return self.dataset_fn(start_step * self.config.meta_batch, ctx)
    return iter(self.strategy.distribute_datasets_from_function(fn))

  # ---------------------------------------------------------------------- validation
  def validate(self) -> typing.Optional[ValidationReport]:
    """Runs the validation callback on the learner; None without one."""
    if self.validation is None:
      return None
    return self.validation(self.learner)

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

    In a multi-worker cluster a stop request (SIGTERM) to any worker stops every worker after
    the same step: each host call all-reduces the workers' requests, the chief writes the
    checkpoint of that step (every worker takes part in the save), and each worker's summary
    says who asked ('stopped').

    Raises:
      FloatingPointError: if a loss is not finite; the last good checkpoint is kept.
      WorkerLostError: in a multi-worker cluster, when a collective fails because a worker is
        gone (its connections closed, or no answer within the strategy's collective timeout);
        nothing is saved after the last checkpoint.
    """
    cfg = self.config
    start = self.restore()
    if start >= cfg.num_steps:
      logging.info('already at step %d >= num_steps=%d', start, cfg.num_steps)
      return {'step': start, 'metrics': {}, 'best': self._best, 'stopped': None,
              'checkpoint': self._latest()}
    iterator = self.make_iterator(start)
    self._train_fn = self._train_fn or self._build_train_fn()

    writer = (tf.summary.create_file_writer if self.is_chief
              else lambda _: tf.summary.create_noop_writer())
    train_writer = writer(run_dir.logs_dir(cfg.savedir, 'train'))
    val_writer = writer(run_dir.logs_dir(cfg.savedir, 'validation'))
    metrics, step, t0, last_log, last_time = {}, start, time.time(), start, time.time()
    # The step of the newest checkpoint on disk (a stop writes one only if it is missing).
    saved = start if self._latest() else None
    stopped = None
    # Where one process decides alone, a stop request ends the loop at once; the workers of a
    # cluster stop when the call's all-reduced requests say so, all after the same step.
    index, workers = self._worker_index, self._workers
    agreed = None if workers == 1 else False
    restore_signals = self._install_stop_handlers()
    try:
      while step < cfg.num_steps and not (agreed if workers > 1 else self._stop.is_set()):
        count = min(self.execution.steps_per_call, cfg.num_steps - step)
        own = np.zeros([workers], np.float32)
        own[index] = float(self._stop.is_set())
        metrics, losses, requests = self._call_train_fn(iterator, count, own, step)
        losses, requests = losses.numpy(), requests.numpy()
        if workers > 1 and np.any(requests > 0):
          agreed = True
          if not self._stop.is_set():
            asked = int(np.argmax(requests > 0))
            self.request_stop(f'worker {asked} ({distribute.worker_name(self.strategy, asked)}) '
                              'received a stop request')
        if not np.all(np.isfinite(losses)):
          bad = step + int(np.argmin(np.isfinite(losses))) + 1
          raise FloatingPointError(
              f'non-finite loss at step {bad}; stopping. The last good checkpoint is '
              f'{self._latest()} (nothing after it was '
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
      requested = self._stop.is_set() if workers == 1 else agreed
      stopped = self._stop_reason if requested and step < cfg.num_steps else None
      if stopped:
        if saved != step:
          self._save(self.manager, self._checkpoint_dir, step)
        logging.warning('%s: stopped at step %d/%d after writing checkpoint %s; the same '
                        'command resumes from it', stopped, step, cfg.num_steps,
                        self._checkpoint_at(step))
    finally:
      restore_signals()
      self._stop.clear()
      # Summaries reach the disk even when the run stops on a non-finite loss.
      train_writer.close()
      val_writer.close()
    if not stopped:
      logging.info('done: step %d in %s', step, _duration(time.time() - t0))
    return {'step': step, 'metrics': metrics, 'best': self._best, 'stopped': stopped,
            'checkpoint': self._checkpoint_at(step) if stopped else self._latest()}

  def _checkpoint_at(self, step: int) -> str:
    """The chief's checkpoint of `step` (what every worker names after a stop: a worker other
    than the chief may finish its part of the save before the chief's files are complete)."""
    return os.path.join(self._checkpoint_dir, f'ckpt-{step}')

  def _call_train_fn(self, iterator, count: int, stop_requests: np.ndarray, step: int):
    """One host call of the train function; a cluster's lost worker becomes WorkerLostError."""
    try:
      return self._train_fn(
          iterator, count if self._train_fn.unrolled else tf.constant(count, tf.int32),
          tf.constant(stop_requests))
    except _PEER_ERRORS as e:
      if self._workers == 1:
        raise
      peer = distribute.lost_peer(self.strategy, str(e))
      # TensorFlow's own first line is 'Graph execution error:'; the cause is further down.
      lines = [l.strip() for l in str(e).splitlines() if l.strip()]
      detail = next((l for l in lines if re.search(r'aborted by|timed out|grpc_message', l)),
                    lines[0] if lines else '')
      raise WorkerLostError(
          f'lost {("worker " + peer) if peer else "contact with the other workers"} after '
          f'step {step} ({type(e).__name__}: {detail}); nothing after '
          f'{self._latest() or "the start"} was saved: restart every worker with the same '
          'command to resume from it') from e

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
    report = self.validate()
    if report is None:
      return
    accs = dict(report.accuracy)
    with writer.as_default(step=step):
      for tag, value in report.scalars.items():
        tf.summary.scalar(tag, value)
      for tag, values in report.histograms.items():
        tf.summary.histogram(tag, values)
    logging.info('validation at step %d: %s', step,
                 ', '.join(f'{k} {100 * v:.2f}%' for k, v in accs.items()))
    score = self._best_score(accs)
    if self._best is None or (math.isfinite(score) and score > self._best['score']):
      self._best = {'step': step, 'score': score, 'rule': self.config.best_rule,
                    'accuracy': accs}
      self._save(self.best_manager, self._best_dir, step)
      if self.is_chief:
        run_dir.write_best(self.config.savedir, self._best)

  def _read_best(self):
    return run_dir.read_best(self.config.savedir)


def _duration(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  h, rest = divmod(seconds, 3600)
  m, s = divmod(rest, 60)
  return f'{h}h{m:02d}m' if h else f'{m}m{s:02d}s'
