"""The meta-update: the meta-gradient of eq. (8), its mean over replicas, clipping, Adam.

:class:`MetaUpdate` owns the replica step (as orbit's trainers do) and is the one copy of it:
the command-line :class:`~taml_tf.execution.trainer.Trainer` and the Keras
:class:`~taml_tf.products.keras_model.TamlModel` both call :meth:`MetaUpdate.train_step`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from taml_tf.method.episodes import Episode
from taml_tf.method.learner import MetaLearner

# What each meta-update reports (MetaUpdate.train_step), logged as TensorBoard scalars.
METRICS = ('loss', 'cross_entropy', 'kl', 'accuracy', 'clip_fraction')


def uses_static_shapes(jit_compile: bool, static_shapes: bool) -> bool:
  """Whether a meta-update keeps the padded support rows (static shapes).

  Args:
    jit_compile: the gradient is compiled with XLA.
    static_shapes: static shapes were asked for (a TPU, the FLOP profiler).

  Returns:
    True when asked for or when XLA compiles the step: it compiles one program per shape, so
    it needs them fixed.
  """
  return bool(static_shapes or jit_compile)


class MetaUpdate:
  """Runs the meta-update of a MetaLearner: gradient, mean over replicas, clip, Adam step.

  Create it inside the strategy's scope, so that the optimizer's slots are distributed like
  the variables they belong to.

  Args:
    learner: the MetaLearner whose ``meta_variables`` are learned (its config gives
      ``meta_lr`` and ``grad_clip``).
    jit_compile: compile the gradient computation with XLA (``ExecutionConfig.jit_compile``).
    sequential_tasks: differentiate the tasks one after another
      (``ExecutionConfig.sequential_tasks``; :meth:`MetaLearner.compute_gradients`).
    static_shapes: keep padded support rows (``ExecutionConfig.static_shapes``).

  Example (one meta-update of a tiny MAML on 8x8 images):

  >>> import numpy as np
  >>> import taml_tf
  >>> images, labels = np.random.default_rng(0).random((60, 8, 8)), np.repeat(np.arange(6), 10)
  >>> meta_batch = next(iter(taml_tf.make_episodes(
  ...     (images, labels), taml_tf.TaskShape(way=3, max_shot=2, query=2), image_shape=(8, 8, 1))))
  >>> learner = taml_tf.MetaLearner(taml_tf.variant(
  ...     'maml', image_shape=(8, 8, 1), channels=4, num_blocks=1, max_way=3, max_shot=2))
  >>> update = taml_tf.MetaUpdate(learner)
  >>> metrics = update.train_step(meta_batch, seed=[0, 0])
  >>> sorted(metrics), int(update.optimizer.iterations)
  (['accuracy', 'clip_fraction', 'cross_entropy', 'kl', 'loss'], 1)
  """

  def __init__(self, learner: MetaLearner, jit_compile: bool = False,
               sequential_tasks: bool = False, static_shapes: bool = False):
    self.learner = learner
    self.jit_compile = bool(jit_compile)
    self.sequential_tasks = bool(sequential_tasks)
    self.static_shapes = uses_static_shapes(jit_compile, static_shapes)
    # The method's optimizer; use_optimizer swaps in another (Keras' compile(optimizer=...)).
    self.optimizer = keras.optimizers.Adam(learner.config.meta_lr)
    # XLA (when configured) compiles the gradient computation only: the value assertions of
    # validation.py and the optimizer update stay outside the compiled cluster.
    self.compiled_gradients = tf.function(self.compute_gradients, jit_compile=self.jit_compile)

  def build(self) -> None:
    """Creates the optimizer slots (needed before a distributed first step)."""
    self.optimizer.build(self.learner.meta_variables)

  def use_optimizer(self, optimizer: keras.optimizers.Optimizer) -> None:
    """Takes the meta-update's steps with `optimizer` instead of Adam(``meta_lr``).

    The gradient it is given is the one :meth:`apply_gradients` computes for any optimizer:
    averaged over replicas and clipped by value to [-grad_clip, grad_clip].

    Args:
      optimizer: a Keras optimizer, built here for the learner's ``meta_variables`` (create it
        inside the strategy's scope under a distribution strategy).

    Raises:
      ValueError: not a Keras optimizer, or one already built for other variables.
    """
    if not isinstance(optimizer, keras.optimizers.Optimizer):
      raise ValueError(f'the meta-update needs a keras.optimizers.Optimizer, got {optimizer!r}')
    if optimizer.built and optimizer is not self.optimizer:
      # Its slots belong to the variables it was built for; building again would not replace
      # them.
      raise ValueError(f'optimizer {optimizer.name!r} is already built (used by another '
                       'model): give a new one')
    self.optimizer = optimizer
    self.build()

  def compute_gradients(self, batch: Episode, seed, task_offset=0, support_rows=None):
    """The learner's meta-gradient of `batch`, computed as configured (not compiled).

    Args:
      batch: a batched Episode of tensors.
      seed: int32 [2] stateless seed for the posterior samples.
      task_offset: the batch's first task in the global meta-batch (see
        :meth:`MetaLearner.batch_loss`).
      support_rows: with the authors' padding, the global meta-batch's longest support set
        (:meth:`global_support_rows`); default: this batch's.

    Returns:
      (gradients, metrics) of :meth:`MetaLearner.compute_gradients`.
    """
    return self.learner.compute_gradients(
        batch, seed, task_offset=task_offset, sequential=self.sequential_tasks,
        static_shapes=self.static_shapes, support_rows=support_rows)

  def global_support_rows(self, batch: Episode):
    """The longest real support set of the global meta-batch (over every replica's share),
    which the authors' padding pads every task to; None without ``authors_padding``."""
    if not self.learner.config.authors_padding:
      return None
    rows = self.learner.padded_support_rows(batch)
    context = tf.distribute.get_replica_context()
    if tf.distribute.get_strategy().num_replicas_in_sync > 1 and context is not None:
      rows = tf.reduce_max(context.all_gather(rows[None], axis=0))
    return rows

  def apply_gradients(self, grads) -> tf.Tensor:
    """Clips by value to [-grad_clip, grad_clip] and takes one step of the optimizer (Adam
    unless :meth:`use_optimizer` gave another).

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

  @staticmethod
  def replica_task_offset(batch: Episode):
    """The index in the global meta-batch of this replica's first task.

    A distribution strategy gives each replica a consecutive, equal share of the global
    meta-batch (the Trainer's per-replica datasets and Keras' ``fit`` both do), so replica r's
    first task is r times its share. Each task is seeded by its place in the global meta-batch
    (:meth:`MetaLearner.batch_loss`), so R replicas draw the samples one device would.

    Args:
      batch: this replica's batched Episode.

    Returns:
      0 outside a strategy or with one replica; else ``replica_id * tasks in batch``.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
      return 0
    tasks = batch.support_images.shape[0]
    if tasks is None:
      tasks = tf.shape(batch.support_images)[0]
    return context.replica_id_in_sync_group * tasks

  def train_step(self, batch: Episode, seed, task_offset=None) -> dict:
    """One meta-update: validate the batch, compute the meta-gradient, clip, optimizer step.

    Usable eagerly or inside ``tf.function`` / ``strategy.run``. The gradient computation is
    compiled with XLA when ``jit_compile`` is set.

    Args:
      batch: a batched Episode of tensors.
      seed: int32 [2] stateless seed for the posterior samples.
      task_offset: see :meth:`compute_gradients`; default: this replica's share of the
        global meta-batch (:meth:`replica_task_offset`), what every caller wants.

    Returns:
      The metrics dict of :meth:`MetaLearner.batch_loss` plus 'clip_fraction' (see
      :meth:`apply_gradients`).

    Raises:
      ValueError / tf.errors.InvalidArgumentError: for a malformed batch, before any update.
    """
    batch = self.learner.validate(batch, batched=True)
    if task_offset is None:
      task_offset = self.replica_task_offset(batch)
    grads, metrics = self.compiled_gradients(batch, tf.convert_to_tensor(seed, tf.int32),
                                             task_offset=task_offset,
                                             support_rows=self.global_support_rows(batch))
    # Inside tf.function the optimizer's step counter has no data dependency on the gradients,
    # and a control dependency on a (possibly inlined) function call only waits for its side
    # effects. A dependency on a data output keeps the whole update behind `validate`'s checks.
    with tf.control_dependencies([tf.identity(metrics['loss'])]):
      clip_fraction = self.apply_gradients(grads)
    return dict(metrics, clip_fraction=clip_fraction)
