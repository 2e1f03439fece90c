"""The meta-learner: MAML, Meta-SGD, omega-/gamma-/z-TAML, deterministic and Bayesian TAML.

One class with switches (``ModelConfig.alpha_on/omega_on/gamma_on/z_on/deterministic``)
implements every variant of Lee et al., ICLR 2020:

    q(phi | D) from the set encoder         (section 3.3; phi = omega, gamma, z)  [posterior]
    theta_0 = theta (*) z                                                          [init]
    theta_k = theta_{k-1} - exp(gamma) * alpha * grad sum_c softmax(omega)_c L_c   [step]
    loss = query cross-entropy + KL(q(phi | D) || N(0, I)) / (N + M)        [loss, eq. 8]
    p(y | x, D) = (1/S) sum_s softmax(f(x; theta_K(phi_s))), phi_s ~ q      [predict]

Each function below names, in brackets, the line it computes.

The classifier head of theta is a fixed zero matrix (not a variable) and its Meta-SGD step
size is one column shared by all classes, so the model is invariant to label permutation and
one trained model serves any number of classes up to ``max_way``.

The learner is the math only. How it is run (the optimizer, the mean over replicas, clipping,
XLA, the train step) is :mod:`taml_tf.execution.trainer`'s; the execution choices the math must know of
(whether padded support rows stay, tasks in turn) are arguments here.
"""

from __future__ import annotations

import typing

import keras
import tensorflow as tf

from taml_tf.method import balancing
from taml_tf.method import episodes as episodes_lib
from taml_tf.method import inner_loop
from taml_tf.method import parameters
from taml_tf.method import validation
from taml_tf.method.config import ModelConfig
from taml_tf.method.episodes import Episode
from taml_tf.method.models import posteriors
from taml_tf.method.models.backbone import Conv4
from taml_tf.method.models.set_encoder import SetEncoder


class TaskOutput(typing.NamedTuple):
  """What the learner computes for one task."""

  logits: tf.Tensor        # [Q, max_way] query logits (padding classes at -1e9)
  cross_entropy: tf.Tensor  # mean query cross-entropy over real queries
  kl: tf.Tensor            # KL(q || prior) of the switched-on variables (0 if none)
  accuracy: tf.Tensor      # accuracy over real queries
  balancing: posteriors.Balancing  # the values used (None where switched off)


def _fold(seed, *data):
  """Derives a stateless seed; Philox so that XLA and the CPU kernels agree."""
  for d in data:
    seed = tf.random.experimental.stateless_fold_in(seed, d, alg='philox')
  return seed


def _tasks(batch: Episode, seed, task_offset):
  """(task, its seed) for each task of a meta-batch; task t uses fold_in(seed, offset + t)."""
  seed = tf.convert_to_tensor(seed, tf.int32)
  for t in range(int(batch.support_images.shape[0])):
    yield Episode(*[x[t] for x in batch]), _fold(seed, task_offset + t)


def _mean_metrics(parts):
  """(mean loss, metrics dict) of a meta-batch from its tasks' (loss, TaskOutput) pairs."""
  mean = lambda xs: tf.reduce_mean(tf.stack(xs))
  loss = mean([l for l, _ in parts])
  return loss, {'loss': loss, 'cross_entropy': mean([o.cross_entropy for _, o in parts]),
                'kl': mean([o.kl for _, o in parts]),
                'accuracy': mean([o.accuracy for _, o in parts])}


class MetaLearner(tf.Module):
  """Bayesian TAML and its ablations as one meta-learner.

  Args:
    config: the model configuration.
    name: module name.
    precision: 'float32' or 'mixed_bfloat16' (``ExecutionConfig.precision``): the compute
      dtype of the backbone's and the set encoder's layers. The variables are float32 either
      way, so a checkpoint restores under both.
    recompute: recompute each inner step's activations in the backward pass
      (``ExecutionConfig.recompute``; :func:`taml_tf.method.inner_loop.recomputed`).
    pooling: the backbone's max pooling (``ExecutionConfig.pooling``; Conv4's `pooling`).

  Example (a tiny Bayesian TAML on 8x8 images):

  >>> import numpy as np
  >>> import taml_tf
  >>> from taml_tf.method import episodes
  >>> config = taml_tf.variant('bayesian_taml', image_shape=(8, 8, 1), channels=4, num_blocks=1,
  ...                          max_way=3, max_shot=2, encoder_channels=4, encoder_features=8)
  >>> learner = taml_tf.MetaLearner(config)
  >>> task = episodes.to_tensors(episodes.from_arrays(
  ...     np.zeros((4, 8, 8)), [0, 0, 1, 2], np.zeros((3, 8, 8)), [0, 1, 2]))
  >>> probs, balancing = learner.predict(task)          # adapt to the support, then predict
  >>> probs.shape, balancing.omega.shape                # a query row each; omega per class
  (TensorShape([3, 3]), TensorShape([3]))
  >>> images, labels = np.random.default_rng(0).random((60, 8, 8)), np.repeat(np.arange(6), 10)
  >>> meta_batch = next(iter(taml_tf.make_episodes(
  ...     (images, labels), taml_tf.TaskShape(way=3, max_shot=2, query=2), image_shape=(8, 8, 1))))
  >>> loss, metrics = learner.batch_loss(meta_batch, seed=[0, 0])   # the objective of eq. 8
  >>> sorted(metrics)
  ['accuracy', 'cross_entropy', 'kl', 'loss']
  """

  def __init__(self, config: ModelConfig, name: str = 'meta_learner',
               precision: str = 'float32', recompute: bool = False, pooling: str = 'kernel'):
    super().__init__(name=name)
    self.config = config
    self.precision = precision
    self.recompute = bool(recompute)
    self.backbone = Conv4(config.channels, config.num_blocks, config.bn_epsilon,
                          bn_second_order=config.bn_second_order,
                          precision=precision, pooling=pooling,
                          name='backbone').build_for(config.image_shape)
    self.feature_size = self.backbone.feature_size(config.image_shape)
    self.encoder = None
    if config.uses_encoder:
      self.encoder = SetEncoder(config.num_layers, config.z_dim, config.max_shot,
                                config.encoder_channels, config.encoder_features,
                                instance_init=config.encoder_init, precision=precision,
                                name='set_encoder')
      s = 2
      self.encoder(tf.zeros((s,) + config.image_shape), tf.zeros([s], tf.int32),
                   tf.ones([s]), tf.ones([config.max_way]))
    # alpha is stored as a dict keyed '<layer>/kernel', '<layer>/bias' (the checkpoint keys
    # of every run so far, tests/testdata/checkpoint_keys.json); :meth:`alpha_params` gives
    # it the parameters' structure.
    self.alpha = {}
    if config.alpha_on:
      shapes = tf.nest.map_structure(lambda v: tuple(v.shape), self.backbone.adaptable_params())
      # One alpha column (and one bias alpha) shared by every class of the zero head.
      shapes += (parameters.Layer((self.feature_size, 1), (1,)),)
      for k, shape in sorted(parameters.to_dict(shapes).items()):
        self.alpha[k] = keras.Variable(
            keras.initializers.Constant(config.alpha_init), shape=shape,
            name='alpha_' + k.replace('/', '_'))
    # tf.train.Checkpoint follows tf.Module attributes, not the layers Keras 3 keeps in lists
    # and dicts (the conv blocks, most encoder layers): name every variable explicitly.
    variables = list(self.backbone.variables)
    if self.encoder is not None:
      variables += list(self.encoder.variables)
    self.checkpoint_variables = {v.path: v for v in variables}
    # One traced function per (mode, static_shapes) for a task's loss and meta-gradient
    # (:meth:`_task_gradients`); kept out of checkpoints and SavedModels.
    self._task_gradient_fns = self._no_dependency({})

  # ----------------------------------------------------------------------------- variables
  @property
  def meta_variables(self) -> list:
    """Every variable the outer loop learns: theta (conv + batch-norm offsets), the set
    encoder, and alpha."""
    out = list(self.backbone.trainable_variables)
    if self.encoder is not None:
      out += list(self.encoder.trainable_variables)
    out += [self.alpha[k] for k in sorted(self.alpha)]
    return out

  def alpha_params(self) -> tuple:
    """Meta-SGD's alpha variables structured as the parameters (a Layer per layer, conv
    layers then the head); () when alpha is off."""
    if not self.alpha:
      return ()
    return parameters.from_dict(self.alpha, self.config.num_blocks)

  # ---------------------------------------------------------------------- one task's parts
  def posterior(self, support_images, support_labels, support_mask,
                class_mask) -> posteriors.Balancing:
    """q(omega), q(gamma), q(z) of one task: a Balancing of ``tfd.Normal``s (of Nones when
    the model has no set encoder).

    [posterior]
    """
    if self.encoder is None:
      return posteriors.Balancing()
    params = self.encoder(support_images, support_labels, support_mask, class_mask)
    return posteriors.Balancing(*[posteriors.posterior(*p) for p in params])

  def balancing_values(self, dists: posteriors.Balancing, class_mask, mode: str, seed):
    """Draws the switched-on balancing variables and their KL (the KL term of [loss, eq. 8]).

    Args:
      dists: from :meth:`posterior`.
      class_mask: [max_way] real classes (KL of omega counts real classes only).
      mode: 'sample' (one reparameterised sample) or 'mean' (posteriors.DRAW_MODES).
      seed: int32 [2] stateless seed.

    Returns:
      (Balancing, kl scalar).
    """
    c = self.config
    if c.deterministic:
      mode = 'mean'
    on = posteriors.switched_on(c)
    # A per-class variable's noise has the model's max_way entries, so a task padded to more
    # class slots draws the same values for its real classes; its KL counts the real classes.
    noise_sizes = posteriors.Balancing(*[
        c.max_way if v.per_class else None for v in posteriors.VARIABLES])
    kl_masks = posteriors.Balancing(*[
        class_mask if v.per_class else None for v in posteriors.VARIABLES])
    seeds = posteriors.Balancing(*[_fold(seed, i) for i in range(len(on))])
    values = tf.nest.map_structure(
        lambda dist, is_on, size, key: posteriors.draw(dist, mode, key, size) if is_on else None,
        dists, on, noise_sizes, seeds)
    kl = tf.constant(0.0)
    if not c.deterministic:
      for dist, is_on, mask in zip(dists, on, kl_masks):
        if is_on:
          kl += posteriors.kl_to_prior(dist, mask)
    return values, kl

  def monte_carlo_draw(self, dists: posteriors.Balancing, class_mask, seed,
                       index) -> posteriors.Balancing:
    """The `index`-th of the S Monte-Carlo draws of the balancing variables at meta-test
    (the sum over samples of eq. 9), seeded by fold_in(seed, index).

    :meth:`predict` and ``TamlModel.adapt`` both draw through here, so one seed gives both the
    same samples.

    Args:
      dists: from :meth:`posterior`.
      class_mask: [max_way] real classes.
      seed: int32 [2] stateless seed of the prediction.
      index: which sample (int or int32 scalar).

    Returns:
      A Balancing (None where a variable is off; the posterior mean for a deterministic model).
    """
    return self.balancing_values(dists, class_mask, 'sample', _fold(seed, index))[0]

  def posterior_mean(self, support_images, support_labels, support_mask,
                     class_mask) -> posteriors.Balancing:
    """The posterior means of the switched-on balancing variables of one task (None where
    off): what serving, the meta-test records and the figures report. [posterior]"""
    dists = self.posterior(support_images, support_labels, support_mask, class_mask)
    return self.balancing_values(dists, class_mask, 'mean', tf.zeros([2], tf.int32))[0]

  def initial_params(self, bal: posteriors.Balancing, max_way: int) -> tuple:
    """theta_0 = theta (*) z plus the zero head [F, max_way], as a tuple of Layers. [init]"""
    convs = tf.nest.map_structure(lambda v: tf.convert_to_tensor(v.value),
                                  self.backbone.adaptable_params())
    head = parameters.Layer(tf.zeros([self.feature_size, max_way]), tf.zeros([max_way]))
    return balancing.modulate_init(convs, bal.z) + (head,)

  def step_sizes(self, bal: posteriors.Balancing) -> tuple:
    """exp(gamma_l) * alpha per parameter, structured as the parameters: the step size of
    [step]."""
    if self.config.alpha_on:
      base = tf.nest.map_structure(lambda v: v.value, self.alpha_params())
    else:
      base = balancing.fixed_step_sizes(self.config.inner_lr, self.config.num_layers)
    return balancing.step_sizes(base, bal.gamma)

  def adapt(self, task: Episode, bal: posteriors.Balancing, num_steps: int,
            rows_all_real: bool = False, count_mask=None,
            first_order: typing.Optional[bool] = None, input_moments=None) -> tuple:
    """theta_K for one task given its balancing variables: [init], then K times [step].

    `rows_all_real`: every support row is counted (:meth:`support_to_compute` dropped the
    padding), so batch norm may skip the row mask; `count_mask`: the rows batch norm and the
    inner-loss normaliser count under the authors' padding (inner_loop.adapt);
    `first_order`: the inner gradients are constants for enclosing tapes (default
    ``config.first_order``; meta-test passes True: nothing differentiates a prediction);
    `input_moments`: the backbone's ``input_moments`` of the support images, for a pass on
    real rows (inner_loop.adapt computes them where None)."""
    params = self.initial_params(bal, task.max_way)
    return inner_loop.adapt(
        self.backbone, params, self.step_sizes(bal), task.support_images,
        task.support_labels, task.support_mask, task.class_mask, bal=bal,
        num_steps=num_steps,
        first_order=self.config.first_order if first_order is None else first_order,
        recompute=self.recompute, rows_all_real=rows_all_real, count_mask=count_mask,
        input_moments=input_moments)

  def query_logits(self, params, task: Episode):
    """Masked query logits [Q, max_way] under adapted `params`."""
    return inner_loop.forward(self.backbone, params, task.query_images, task.query_mask,
                              task.class_mask)

  # ------------------------------------------------------------------------- one task
  @staticmethod
  def real_support(task: Episode, static_shapes: bool = False) -> Episode:
    """`task` without its padded support rows, unless shapes must stay static.

    Args:
      task: an unbatched Episode of tensors.
      static_shapes: keep the padding (``ExecutionConfig.static_shapes``: XLA, TPUs, FLOP
        counts). The result is the same either way (padding is masked); dropping the rows
        saves their FLOPs.

    Returns:
      The Episode to compute on.
    """
    if static_shapes:
      return task
    return episodes_lib.without_support_padding(task)

  @staticmethod
  def support_to_compute(task: Episode, static_shapes: bool = False, support_rows=None):
    """The task to compute on and the mask of the support rows that are counted.

    Args:
      task: an unbatched Episode of tensors.
      static_shapes: see :meth:`real_support`.
      support_rows: None (padding changes nothing), or the authors' padding
        (``ModelConfig.authors_padding``): the support set is fed as `support_rows` rows
        (its meta-batch's longest support set, :meth:`padded_support_rows`), the real rows
        and zero images, and batch norm and the inner-loss normaliser count all of them.

    Returns:
      (Episode, count_mask): count_mask is None without the authors' padding, else a [S]
      float mask of the rows counted (the support mask still marks the real rows, which the
      set encoder and the loss read).
    """
    if support_rows is None:
      return MetaLearner.real_support(task, static_shapes), None
    mask = tf.cast(task.support_mask, tf.float32)
    real = tf.reduce_sum(mask)
    rows = tf.maximum(tf.cast(support_rows, tf.float32), real)
    if static_shapes:
      # The first (rows - real) padding rows, wherever they are, join the count.
      padding_rank = tf.cumsum(1.0 - mask)
      counted = mask + (1.0 - mask) * tf.cast(padding_rank <= rows - real, tf.float32)
      images = task.support_images * mask[:, None, None, None]
      return task._replace(support_images=images), counted
    task = episodes_lib.without_support_padding(task)
    extra = tf.cast(rows - real, tf.int32)
    pad = lambda x: tf.pad(x, [[0, extra]] + [[0, 0]] * (len(x.shape) - 1))
    task = task._replace(support_images=pad(task.support_images),
                         support_labels=pad(task.support_labels),
                         support_mask=pad(task.support_mask))
    return task, tf.ones_like(task.support_mask)

  @staticmethod
  def padded_support_rows(batch: Episode) -> tf.Tensor:
    """The longest real support set of a batched Episode: what the authors' data.py pads the
    meta-batch's support sets to (``ModelConfig.authors_padding``). A float32 scalar."""
    return tf.reduce_max(tf.reduce_sum(tf.cast(batch.support_mask, tf.float32), axis=-1))

  def task_output(self, task: Episode, seed, mode: str = 'sample',
                  num_steps: typing.Optional[int] = None,
                  static_shapes: bool = False, support_rows=None) -> TaskOutput:
    """Adapts to one (unbatched) task with one draw of phi and scores its queries.

    Args:
      task: an unbatched Episode of tensors.
      seed: int32 [2] stateless seed.
      mode: 'sample' or 'mean' (how phi is drawn).
      num_steps: inner steps (default: the training number).
      static_shapes: see :meth:`real_support`.
      support_rows: the authors' padding (see :meth:`support_to_compute`), or None.

    Returns:
      A TaskOutput.
    """
    steps = self.config.train_inner_steps if num_steps is None else num_steps
    task, count_mask = self.support_to_compute(task, static_shapes, support_rows)
    dists = self.posterior(task.support_images, task.support_labels, task.support_mask,
                           task.class_mask)
    bal, kl = self.balancing_values(dists, task.class_mask, mode, seed)
    params = self.adapt(task, bal, steps, rows_all_real=not static_shapes,
                        count_mask=count_mask)
    logits = self.query_logits(params, task)
    cross_entropy, accuracy = self._score(logits, task)
    return TaskOutput(logits, cross_entropy, kl, accuracy, bal)

  @staticmethod
  def _score(logits, task: Episode):
    """Mean query cross-entropy and accuracy over the real queries."""
    m = tf.maximum(tf.reduce_sum(task.query_mask), 1.0)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=task.query_labels, logits=logits)
    pred = tf.argmax(logits, -1, output_type=tf.int32)
    ce = tf.reduce_sum(ce * task.query_mask) / m
    acc = tf.reduce_sum(tf.cast(tf.equal(pred, task.query_labels), tf.float32)
                        * task.query_mask) / m
    return ce, acc

  def task_loss(self, task: Episode, seed, mode: str = 'sample',
                num_steps: typing.Optional[int] = None, static_shapes: bool = False,
                support_rows=None):
    """The per-task objective of eq. (8): query CE + KL / (N + M), and the TaskOutput. [loss]

    Args: as :meth:`task_output`.
    """
    out = self.task_output(task, seed, mode, num_steps, static_shapes, support_rows)
    return out.cross_entropy + out.kl / self.kl_rows(task, support_rows), out

  def kl_rows(self, task: Episode, support_rows=None) -> tf.Tensor:
    """N + M, the row count that divides the KL in eq. (8). [loss]

    Args:
      task: an unbatched Episode.
      support_rows: N under the authors' padding (the meta-batch's longest support set,
        :meth:`support_to_compute`); None: the task's real support rows, as the paper writes
        it.

    Returns:
      A float32 scalar: N plus the real query rows.
    """
    if support_rows is None:
      n = tf.reduce_sum(task.support_mask)
    else:
      n = tf.maximum(tf.cast(support_rows, tf.float32), tf.reduce_sum(task.support_mask))
    return n + tf.reduce_sum(task.query_mask)

  def predict(self, task: Episode, seed=(0, 0), mode: str = 'mean',
              num_samples: typing.Optional[int] = None, num_steps: typing.Optional[int] = None,
              static_shapes: bool = False, support_rows=None):
    """Query class probabilities [Q, max_way] for one task at meta-test. [predict]

    Args:
      task: an unbatched Episode of tensors.
      seed: int32 [2] stateless seed (used by 'mc').
      mode: 'mean' (posterior mean) or 'mc' (S Monte-Carlo samples of phi, each re-running the
        whole inner loop, softmax averaged).
      num_samples: S for 'mc' (default ``config.n_mc_samples``).
      num_steps: inner steps (default ``config.test_inner_steps``).
      static_shapes: see :meth:`real_support` (a prediction compiled with XLA needs them).
      support_rows: the authors' padding (:meth:`support_to_compute`; their meta-test feeds
        meta-batches too), or None.

    Returns:
      (probs [Q, max_way], Balancing used for the first sample / the mean).

    The inner loop runs first order (its gradients are constants for any enclosing tape):
    a prediction is not differentiated through its adaptation, and a first-order inner loop
    on real rows lets batch norm run as TensorFlow's fused kernel (MaskedBatchNorm's `fused`;
    the same values up to float rounding, a fifth fewer ops). To differentiate through the
    adaptation, use :meth:`task_output`, as training does.
    """
    c = self.config
    steps = c.test_inner_steps if num_steps is None else num_steps
    seed = tf.convert_to_tensor(seed, tf.int32)
    task, count_mask = self.support_to_compute(task, static_shapes, support_rows)
    dists = self.posterior(task.support_images, task.support_labels, task.support_mask,
                           task.class_mask)
    if mode == 'mean' or c.deterministic or self.encoder is None:
      bal, _ = self.balancing_values(dists, task.class_mask, 'mean', seed)
      params = self.adapt(task, bal, steps, rows_all_real=not static_shapes,
                          count_mask=count_mask, first_order=True)
      return tf.nn.softmax(self.query_logits(params, task)), bal
    if mode != 'mc':
      raise ValueError(f"predict mode must be 'mean' or 'mc', got {mode!r}")
    samples = c.n_mc_samples if num_samples is None else num_samples
    # Every sample adapts on the same support images: the first block's patch moments
    # (Conv4.first_block) are computed once, outside the samples' loop.
    moments = None if static_shapes else self.backbone.input_moments(task.support_images)

    def one_sample(index):
      bal = self.monte_carlo_draw(dists, task.class_mask, seed, index)
      params = self.adapt(task, bal, steps, rows_all_real=not static_shapes,
                          count_mask=count_mask, first_order=True, input_moments=moments)
      return tf.nn.softmax(self.query_logits(params, task))

    # Samples are independent: map_fn lets the runtime run them side by side.
    probs = tf.map_fn(one_sample, tf.range(samples), fn_output_signature=tf.float32,
                      parallel_iterations=samples)
    bal, _ = self.balancing_values(dists, task.class_mask, 'mean', seed)
    return tf.reduce_mean(probs, 0), bal

  # -------------------------------------------------------------------- a meta-batch
  def batch_loss(self, batch: Episode, seed, mode: str = 'sample',
                 num_steps: typing.Optional[int] = None, task_offset=0,
                 static_shapes: bool = False, support_rows=None):
    """Mean objective over a meta-batch and its metrics.

    Args:
      batch: a batched Episode (static meta-batch size T).
      seed: int32 [2]; task t uses fold_in(seed, task_offset + t).
      mode: how phi is drawn ('sample' in training, 'mean' for validation).
      num_steps: inner steps.
      task_offset: index of this batch's first task in the global meta-batch, so a replica
        draws the same samples for a task as one device holding the whole meta-batch.
      static_shapes: see :meth:`real_support`.
      support_rows: with ``config.authors_padding``, the longest support set of the global
        meta-batch, which every task is padded to (:meth:`support_to_compute`); default: this
        batch's (:meth:`padded_support_rows`). Ignored without the authors' padding.

    Returns:
      (loss, metrics dict of scalars: loss, cross_entropy, kl, accuracy).
    """
    support_rows = self._support_rows(batch, support_rows)
    return _mean_metrics([self.task_loss(task, task_seed, mode, num_steps, static_shapes,
                                         support_rows)
                          for task, task_seed in _tasks(batch, seed, task_offset)])

  def _support_rows(self, batch: Episode, support_rows):
    """What a meta-batch's tasks are padded to: None without the authors' padding."""
    if not self.config.authors_padding:
      return None
    return self.padded_support_rows(batch) if support_rows is None else support_rows

  def _gradients(self, loss_fn):
    """(gradient of `loss_fn()`'s first output w.r.t. :attr:`meta_variables`, its outputs)."""
    # The underlying tf.Variables: the tape builds zero gradients for unused ones (e.g. the
    # z head of omega-TAML) from their dtype, which Keras variables report as a string.
    variables = [v.value for v in self.meta_variables]
    with tf.GradientTape() as tape:
      outputs = loss_fn()
    return (tape.gradient(outputs[0], variables,
                          unconnected_gradients=tf.UnconnectedGradients.ZERO), outputs)

  def batch_gradients(self, batch: Episode, seed, mode: str = 'sample', task_offset=0,
                      static_shapes: bool = False, support_rows=None):
    """The meta-gradient of :meth:`batch_loss` by one tape over the whole meta-batch.

    The definition that :meth:`compute_gradients` equals up to float rounding, with every
    task's ops in one graph, which is what TensorFlow's FLOP profiler (blind to function calls)
    needs. It traces every task's second-order graph, so it is slower to trace and holds more
    memory than :meth:`compute_gradients`: for checking and counting, not for training.

    Args: as :meth:`batch_loss`.

    Returns:
      (gradients in the order of :attr:`meta_variables`, metrics dict of :meth:`batch_loss`).
    """
    grads, (_, metrics) = self._gradients(lambda: self.batch_loss(
        batch, seed, mode, task_offset=task_offset, static_shapes=static_shapes,
        support_rows=support_rows))
    return grads, metrics

  def _task_gradients(self, mode: str, static_shapes: bool):
    """One task's loss of eq. (8) and its gradient w.r.t. :attr:`meta_variables`, as a
    tf.function that every task of a meta-batch calls.

    Traced once and called per task, instead of every task's second-order graph traced into
    the step: the step's graph (and the memory that holds it) has one task's ops, not the
    meta-batch's, and tracing is that much shorter. Outside XLA the calls are not inlined
    (``_noinline``): the runtime instantiates the body once and runs it per call, which
    keeps the memory down too (docs/performance.md, "each task's gradient traced once").
    Under XLA (static shapes) the compiler takes the calls as it likes.

    Args:
      mode, static_shapes: as :meth:`batch_loss`.

    Returns:
      A function (task Episode, its int32 [2] seed, support_rows or None) -> (gradients in
      the order of :attr:`meta_variables`, loss, cross-entropy, KL, accuracy).
    """
    key = (mode, bool(static_shapes))
    if key not in self._task_gradient_fns:
      def task_gradients(task, seed, support_rows):
        grads, (loss, out) = self._gradients(lambda: self.task_loss(
            task, seed, mode, static_shapes=static_shapes, support_rows=support_rows))
        return grads, loss, out.cross_entropy, out.kl, out.accuracy
      attributes = None if static_shapes else {'_noinline': True}
      self._task_gradient_fns[key] = tf.function(task_gradients,
                                                 experimental_attributes=attributes)
    return self._task_gradient_fns[key]

  def compute_gradients(self, batch: Episode, seed, mode: str = 'sample', task_offset=0,
                        sequential: bool = False, static_shapes: bool = False,
                        support_rows=None):
    """Meta-gradients of :meth:`batch_loss` w.r.t. :attr:`meta_variables` (unclipped).

    Each task's gradient comes from one traced function (:meth:`_task_gradients`) and the
    meta-batch's is their mean: :meth:`batch_gradients` up to float rounding.

    Args:
      batch, seed, mode, task_offset, static_shapes, support_rows: as :meth:`batch_loss`.
      sequential: differentiate the tasks one after another
        (``ExecutionConfig.sequential_tasks``): the same gradient, with the activations of
        one task's second-order graph alive at a time instead of the whole meta-batch's.

    Returns:
      (gradients in the order of :attr:`meta_variables`, metrics dict of :meth:`batch_loss`).
    """
    support_rows = self._support_rows(batch, support_rows)
    task_gradients = self._task_gradients(mode, static_shapes)
    grads, parts = None, []
    for task, task_seed in _tasks(batch, seed, task_offset):
      if sequential and grads is not None:
        # Nothing else orders the tasks: without this the runtime may start task t while task
        # t-1's backward pass still holds its activations, which is what this mode avoids.
        with tf.control_dependencies(grads):
          task = Episode(*[tf.identity(x) for x in task])
      task_grads, loss, *metrics = task_gradients(task, task_seed, support_rows)
      grads = task_grads if grads is None else [a + b for a, b in zip(grads, task_grads)]
      parts.append((loss, TaskOutput(None, *metrics, balancing=None)))
    return [g / len(parts) for g in grads], _mean_metrics(parts)[1]

  def validate(self, episode: Episode, batched: bool) -> Episode:
    """Rejects a malformed episode (see :mod:`taml_tf.method.validation`); returns it checked."""
    return validation.validated(episode, self.config.image_shape, self.config.max_way,
                                batched)

