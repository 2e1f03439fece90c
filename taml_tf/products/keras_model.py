"""The front door for Python and Keras users: a meta-learner as a ``keras.Model``.

:class:`TamlModel` wraps a :class:`~taml_tf.method.learner.MetaLearner` and its
:class:`~taml_tf.method.meta_update.MetaUpdate` (the same meta-update the command-line trainer
runs: ``train_step`` calls :meth:`MetaUpdate.train_step`, there is no second copy of the step)
in Keras's documented way of customising ``fit``: ``train_step`` and ``predict_step``, with
``get_config`` / ``from_config`` for ``model.save`` and ``keras.models.load_model``.
:meth:`TamlModel.evaluate`, which ``fit`` calls for ``validation_data``, is the Trainer's
validation (:func:`taml_tf.products.evaluation.validation_callback`): the same numbers on the
same episodes. :meth:`TamlModel.adapt` adapts once to a support set and returns
an :class:`AdaptedTask`, a ``keras.Model`` that predicts any number of query batches without
adapting again. :meth:`TamlModel.export` writes the serving SavedModel (adapt-and-predict).

Example (a notebook; images [N, 28, 28, 1] in [0, 1] with integer labels)::

  import keras
  import taml_tf

  task = taml_tf.TaskShape(way=5, max_shot=15, query=15)
  model = taml_tf.TamlModel('bayesian_taml', task=task)
  model.compile()
  train = taml_tf.make_episodes((images, labels), task, meta_batch=4)      # endless
  val = taml_tf.make_episodes((val_images, val_labels), task, num_episodes=40)
  model.fit(train, steps_per_epoch=100, epochs=10, validation_data=val,
            callbacks=[keras.callbacks.EarlyStopping('val_accuracy', mode='max')])
  adapted = model.adapt(support_images, support_labels)
  probs = adapted.predict(query_images)                   # [Q, way]; no re-adaptation
  model.save('learner.keras')                             # keras.models.load_model reads it
  model.export('served')                                  # the SavedModel of taml-export

Resuming ``fit`` is exact when the loaded model is given the stream past the episodes it has
trained on, ``stream.skip(int(model.optimizer.iterations))`` (``fit`` restarts its data
iterator; the posterior samples are seeded by the restored step). Inside a
``tf.distribute.MirroredStrategy`` scope ``fit`` computes the Trainer's update: Keras gives
each replica a consecutive share of the meta-batch and :meth:`TamlModel.train_step` seeds each
task by its place in the whole meta-batch, as the Trainer's replicas do (two replicas give the
Trainer's weights exactly in ``tests/products/keras_model_distributed_test.py``). What stays
with the command-line :class:`~taml_tf.execution.trainer.Trainer` (``taml-train``): several
machines and TPUs (its input pipelines read each worker's share of one episode stream and it
pads to the global meta-batch; ``fit`` under those strategies is not tested), checkpoints that
hold the stream position with the weights, and its best-checkpoint rule (``best_rule``: the mean
validation accuracy of the in-distribution sets, the out-of-distribution ones or all of them);
``fit`` keeps what a ``keras.callbacks.ModelCheckpoint`` monitors, e.g. ``val_accuracy``, the
same accuracy of its one validation set. A ``TamlModel`` reads a Trainer's run folder with
:meth:`TamlModel.from_run`.
"""

from __future__ import annotations

import dataclasses
import itertools

import keras
import tensorflow as tf

from taml_tf.execution import run_dir
from taml_tf.execution.execution_config import ExecutionConfig
from taml_tf.method import config as config_lib
from taml_tf.method import inner_loop
from taml_tf.method.episodes import Episode
from taml_tf.method.meta_update import METRICS
from taml_tf.method import task_shape
from taml_tf.method.task_shape import TaskShape
from taml_tf.products import evaluation
from taml_tf.products import export as export_lib
from taml_tf.products import serving

# What evaluate (and fit's validation_data, with a val_ prefix) reports: the Trainer's
# validation metrics (evaluation.validation_callback), with loss the query NLL.
VALIDATION_METRICS = ('loss', 'accuracy', 'nll', 'ece')


@keras.saving.register_keras_serializable(package='taml_tf')
class TamlModel(keras.Model):
  """Bayesian TAML or one of its ablations as a ``keras.Model``.

  ``fit`` takes a ``tf.data.Dataset`` of meta-batches (batched Episodes, e.g. from
  :func:`taml_tf.make_episodes`); each step is one meta-update (the meta-gradient of eq. 8,
  clipped to [-grad_clip, grad_clip], then a step of the compiled optimizer: Adam with
  ``meta_lr`` unless :meth:`compile` was given another) with the posterior samples seeded by
  ``[seed, step]``, exactly as ``taml-train`` seeds them. ``evaluate`` and ``validation_data``
  report ``taml-train``'s validation metrics (:meth:`evaluate`); ``predict`` adapts to each
  episode of a dataset and returns its query probabilities.

  Args:
    variant: one of the paper's variants (``taml_tf.VARIANTS``), when `config` is None.
    task: the TaskShape (way, max_shot, query, max_way); default ``TaskShape()``.
    image_shape: (H, W, C) of the images.
    seed: seeds the initial parameters (Keras' global seed is set, as ``taml-train`` does)
      and the posterior samples.
    config: a complete ModelConfig instead of `variant` and `model_overrides`; its max_way
      and max_shot must be the task's.
    execution: how the meta-update runs (XLA, tasks in turn, precision); default
      ``ExecutionConfig()``.
    name: the Keras name.
    **model_overrides: any other ModelConfig field (``meta_lr``, ``train_inner_steps``, ...).

  Example (a tiny Bayesian TAML, two meta-updates on random 16x16 images, validated as
  ``taml-train`` validates):

  >>> import numpy as np
  >>> import taml_tf
  >>> rng = np.random.default_rng(0)
  >>> images, labels = rng.random((80, 16, 16, 1)), np.repeat(np.arange(8), 10)
  >>> task = taml_tf.TaskShape(way=2, max_shot=2, query=2)
  >>> model = taml_tf.TamlModel('bayesian_taml', task=task, image_shape=(16, 16, 1),
  ...                           channels=4, num_blocks=2, train_inner_steps=1,
  ...                           test_inner_steps=1)
  >>> model.compile(optimizer='adam')         # Adam(meta_lr), clipped as taml-train clips
  >>> val = taml_tf.make_episodes((images[60:], labels[60:]), task, meta_batch=2,
  ...                             num_episodes=4, image_shape=(16, 16, 1))
  >>> history = model.fit(taml_tf.make_episodes((images[:60], labels[:60]), task,
  ...                                           meta_batch=2, image_shape=(16, 16, 1)),
  ...                     steps_per_epoch=2, epochs=1, validation_data=val, verbose=0)
  >>> sorted(key for key in history.history if key.startswith('val_'))   # taml-train's
  ['val_accuracy', 'val_ece', 'val_loss', 'val_nll']
  >>> model.predict(val, verbose=0).shape     # [episodes, query rows, max_way]
  (4, 4, 2)
  """

  def __init__(self, variant: str = 'bayesian_taml', task: TaskShape | None = None,
               image_shape=(28, 28, 1), seed: int = 0,
               config: config_lib.ModelConfig | None = None,
               execution: ExecutionConfig | None = None, name: str = 'taml_model',
               **model_overrides):
    super().__init__(name=name)
    self.task = task or TaskShape()
    if config is None:
      config = config_lib.variant(variant, image_shape=tuple(image_shape),
                                  **self.task.model_fields(), **model_overrides)
    elif model_overrides:
      raise ValueError(f'give either config or ModelConfig fields, not both: {model_overrides}')
    if config.max_way != self.task.max_way:
      raise ValueError(f'config has max_way={config.max_way} but the task shape '
                       f'max_way={self.task.max_way}')
    task_shape.check_agree(config, self.task.way, self.task.max_shot)
    self.model_config = config
    self.execution = execution or ExecutionConfig()
    self.seed = int(seed)
    # The initial parameters come from the seed, as the Trainer's do: the same seed gives
    # the same learner on both paths.
    keras.utils.set_random_seed(self.seed)
    self._learner, self._update = self.execution.build(config)
    self._update.build()
    # Whether compile() was given the optimizer (get_compile_config saves it then).
    self._user_optimizer = False
    # The learner's Keras parts as attributes, so that Keras tracks (trainable_weights) and
    # saves (model.save) them; the learner itself is a tf.Module.
    self.backbone = self._learner.backbone
    self.set_encoder = self._learner.encoder
    self.alpha = self._learner.alpha
    self._trackers = {k: keras.metrics.Mean(name=k) for k in METRICS}
    self._adapt_fns = {}
    self.built = True

  # -------------------------------------------------------------------- Keras plumbing
  @property
  def learner(self):
    """The :class:`~taml_tf.method.learner.MetaLearner` (for ``taml_tf.evaluate`` etc.)."""
    return self._learner

  @property
  def metrics(self):
    return list(self._trackers.values())

  def get_config(self) -> dict:
    return {'name': self.name, 'seed': self.seed, 'task': dataclasses.asdict(self.task),
            'config': dataclasses.asdict(self.model_config),
            'execution': dataclasses.asdict(self.execution)}

  @classmethod
  def from_config(cls, config: dict) -> 'TamlModel':
    return cls(task=TaskShape(**config['task']),
               config=config_lib.ModelConfig.from_dict(config['config']),
               execution=ExecutionConfig(**config['execution']), seed=config['seed'],
               name=config['name'])

  @classmethod
  def from_run(cls, savedir: str, which: str = 'best') -> 'TamlModel':
    """A TamlModel with the weights of a ``taml-train`` run folder (any version's).

    Args:
      savedir: the run folder; its config.json gives the model, the task shape and the seed.
      which: 'best', 'latest' or a step number (:func:`taml_tf.execution.run_dir.checkpoint_path`).

    Returns:
      The model, not compiled.

    Raises:
      FileNotFoundError: no config.json or no such checkpoint; ValueError: a checkpoint that
        does not hold this model.
    """
    run = run_dir.load_run_config(savedir)
    model_config = config_lib.ModelConfig.from_dict(run['model'])
    data = run['data']
    task = TaskShape(way=data['way'], max_shot=data['max_shot'], query=data['query'],
                     max_way=model_config.max_way)
    model = cls(task=task, config=model_config, seed=run['train']['seed'])
    run_dir.restore_into(model.learner, run_dir.checkpoint_path(savedir, which))
    return model

  def compile(self, optimizer=None, loss=None, metrics=None, steps_per_execution: int = 1,
              run_eagerly: bool = False, jit_compile='auto', **kwargs):
    """Configures ``fit``: which optimizer takes the meta-update's steps.

    Whatever the optimizer, it is given the meta-gradient of eq. (8) averaged over replicas and
    clipped by value to [-grad_clip, grad_clip] (:meth:`MetaUpdate.apply_gradients`, as
    ``taml-train`` does).

    Args:
      optimizer: None for the method's Adam(``ModelConfig.meta_lr``); a Keras optimizer
        (used as given); or an optimizer's name such as 'adam' or 'sgd' (that optimizer
        with ``learning_rate=ModelConfig.meta_lr`` and Keras' other defaults).
      loss, metrics: must be None: the loss is the method's objective (eq. 8) and the metrics
        are its own (``fit``: loss, cross_entropy, kl, accuracy, clip_fraction; ``evaluate``:
        :data:`VALIDATION_METRICS`).
      steps_per_execution, run_eagerly: as ``keras.Model.compile``.
      jit_compile: 'auto' or False; XLA, where wanted, compiles the meta-gradient only
        (``ExecutionConfig.jit_compile``).
      **kwargs: refused (``loss_weights``, ``weighted_metrics``, ``auto_scale_loss`` have no
        loss or metrics to act on).

    Raises:
      ValueError: for a loss, metrics, jit_compile=True, any other argument, or an optimizer
        that is neither None, a Keras optimizer nor the name of one.
    """
    problems = []
    if loss is not None:
      problems.append(f'loss={loss!r}: the loss is the method\'s own objective (eq. 8)')
    if metrics is not None:
      problems.append(f'metrics={metrics!r}: the metrics are the method\'s own ('
                      + ', '.join(METRICS) + '; evaluate: ' + ', '.join(VALIDATION_METRICS)
                      + ')')
    if jit_compile not in ('auto', False):
      problems.append(f'jit_compile={jit_compile!r}: XLA compiles the meta-gradient only, '
                      'set by ExecutionConfig(jit_compile=True)')
    problems += [f'{key}={value!r}: not used (no Keras loss or metrics)'
                 for key, value in sorted(kwargs.items())]
    if problems:
      raise ValueError('TamlModel.compile cannot take ' + '; '.join(problems))
    self._update.use_optimizer(self._optimizer(optimizer))
    self._user_optimizer = optimizer is not None
    # jit_compile=False: the batch checks and the optimizer stay outside XLA
    # (MetaUpdate.train_step).
    super().compile(optimizer=self._update.optimizer, steps_per_execution=steps_per_execution,
                    run_eagerly=run_eagerly, jit_compile=False)

  def _optimizer(self, optimizer) -> keras.optimizers.Optimizer:
    """The Keras optimizer `optimizer` of :meth:`compile` stands for."""
    if optimizer is None:
      # The method's Adam, kept with its state while no other optimizer replaced it. (Not a
      # second attribute of the model: Keras' saving would store its state a second time.)
      if not self._user_optimizer:
        return self._update.optimizer
      return keras.optimizers.Adam(self.model_config.meta_lr)
    if isinstance(optimizer, str):
      try:
        named = keras.optimizers.get(optimizer)
      except ValueError as e:
        raise ValueError(f'TamlModel.compile: {optimizer!r} names no Keras optimizer') from e
      # A name gives that optimizer with the method's learning rate.
      return named.__class__.from_config(
          dict(named.get_config(), learning_rate=self.model_config.meta_lr))
    if isinstance(optimizer, keras.optimizers.Optimizer):
      return optimizer
    raise ValueError('TamlModel.compile takes a keras.optimizers.Optimizer, the name of one or '
                     f'None, got {optimizer!r}')

  def get_compile_config(self) -> dict:
    config = {'steps_per_execution': self.steps_per_execution, 'run_eagerly': self.run_eagerly}
    if self._user_optimizer:
      config['optimizer'] = keras.optimizers.serialize(self.optimizer)
    return config

  def compile_from_config(self, config: dict) -> None:
    # keras.models.load_model compiles again (with the saved optimizer, when compile was
    # given one), so that the optimizer state loads and fit continues where the saved model
    # stopped.
    config = dict(config)
    if 'optimizer' in config:
      config['optimizer'] = keras.optimizers.deserialize(config['optimizer'])
    self.compile(**config)

  # ---------------------------------------------------------------------- Keras steps
  def _step_seed(self):
    return tf.stack([tf.constant(self.seed, tf.int32),
                     tf.cast(self._update.optimizer.iterations, tf.int32)])

  def train_step(self, data):
    """One meta-update (:meth:`MetaUpdate.train_step`) on a meta-batch of Episodes.

    Under a distribution strategy Keras gives each replica a consecutive share of the
    meta-batch; each task keeps the seed of its place in the whole meta-batch, as the
    Trainer's replicas do, so R replicas compute the update of one device.
    """
    metrics = self._update.train_step(data, self._step_seed())
    for key, tracker in self._trackers.items():
      tracker.update_state(metrics[key])
    return {key: tracker.result() for key, tracker in self._trackers.items()}

  def test_step(self, data):
    """Not used: :meth:`evaluate` (and so ``fit``'s validation) runs the Trainer's validation,
    which scores each episode on its own rather than a batch at a time."""
    raise NotImplementedError('TamlModel validates with evaluate() (the Trainer\'s per-episode '
                              'validation); test_on_batch is not supported')

  def evaluate(self, x=None, y=None, batch_size=None, verbose='auto', sample_weight=None,
               steps=None, callbacks=None, return_dict=False, **kwargs):
    """The Trainer's validation metrics of a finite dataset of Episodes.

    ``taml-train``'s validation (:func:`taml_tf.products.evaluation.validation_callback`, the
    one copy of it): every episode adapted to its support set with the posterior mean and
    ``ModelConfig.test_inner_steps``, seeded ``[seed + 1, episode index]``; accuracy is the
    mean of the per-episode accuracies, NLL and ECE are pooled over the real queries. ``fit``
    calls this method for ``validation_data``, so ``val_accuracy`` is the number ``taml-train``
    picks its best checkpoint by (for the set it validates on). With
    ``ModelConfig.authors_padding``, the episodes of each batch of `x` are padded to the
    batch's longest support set, as ``taml-train`` pads those of a meta-batch (batch the
    episodes by the training meta-batch to get its numbers).

    Args:
      x: a finite ``tf.data.Dataset`` (or other iterable) of batched Episodes, e.g. from
        :func:`taml_tf.make_episodes` with ``num_episodes``.
      y, sample_weight, batch_size: must be None (the labels and the batching are in `x`).
      verbose: 0 for silence; otherwise a Keras progress bar counting episodes.
      steps: read at most this many batches of `x` (None: all).
      callbacks: Keras callbacks (``on_test_begin``, ``on_test_batch_end`` per episode,
        ``on_test_end``).
      return_dict: return a dict rather than a list in the order of
        :data:`VALIDATION_METRICS`.
      **kwargs: what ``fit`` passes internally; anything else is refused.

    Returns:
      loss (the query NLL at the posterior mean: Keras' callbacks watch ``val_loss`` by
      default), accuracy, nll and ece, as a list or a dict.

    Raises:
      ValueError: for `y`, `sample_weight`, `batch_size` or unknown arguments.
    """
    kwargs.pop('_use_cached_eval_dataset', None)  # fit's; x is its validation_data anyway
    given = {'y': y, 'sample_weight': sample_weight, 'batch_size': batch_size, **kwargs}
    refused = sorted(k for k, v in given.items() if v is not None)
    if refused:
      raise ValueError(f'TamlModel.evaluate takes no {", ".join(refused)}: x holds batched '
                       'Episodes with their labels')
    if steps is not None:
      x = (x.take(steps) if isinstance(x, tf.data.Dataset)
           else list(itertools.islice(x, int(steps))))
    if not isinstance(callbacks, keras.callbacks.CallbackList):
      callbacks = keras.callbacks.CallbackList(
          callbacks, add_progbar=verbose != 0, verbose=verbose, epochs=1, model=self)
    callbacks.on_test_begin()
    validate = evaluation.validation_callback(
        lambda: {'validation': x}, self.seed, self._validation_meta_batch(x),
        progress=lambda _, done: callbacks.on_test_batch_end(done - 1, {}))
    scalars = validate(self._learner).scalars
    logs = {'loss': scalars['validation/nll'],
            **{k: scalars[f'validation/{k}'] for k in VALIDATION_METRICS[1:]}}
    logs = {k: float(v) for k, v in logs.items()}
    callbacks.on_test_end(logs)
    return logs if return_dict else [logs[k] for k in VALIDATION_METRICS]

  def _validation_meta_batch(self, x) -> int:
    """The size of `x`'s first batch (the authors' padding pads each batch's episodes to its
    longest support set, :func:`evaluation.authors_meta_batch`); 1 without that padding."""
    if not self.model_config.authors_padding:
      return 1
    first = Episode(*next(iter(x)))
    return int(first.support_images.shape[0]) if first.is_batched else 1

  def predict_step(self, data):
    """Query probabilities [T, Q, max_way] of a meta-batch of Episodes, each adapted to its
    own support set (posterior mean); the query labels are not read."""
    batch = self._learner.validate(data, batched=True)
    static_shapes = self._update.static_shapes

    def one_episode(task):
      return self._learner.predict(Episode(*task), static_shapes=static_shapes)[0]

    # tf.vectorized_map cannot take the episodes (pfor has no rule for the Where that drops
    # the padded support rows). tf.map_fn traces one episode instead of T unrolled copies and
    # runs its iterations side by side: a quarter to half the tracing time of a Python loop,
    # and no slower per batch (docs/performance.md, "predict_step").
    return tf.map_fn(one_episode, tuple(batch), fn_output_signature=tf.float32,
                     parallel_iterations=batch.support_images.shape[0] or None)

  # ------------------------------------------------------------------ adapt once, predict
  def adapt(self, support_images, support_labels, mode: str = 'mean',
            num_samples: int | None = None, num_steps: int | None = None,
            seed=(0, 0)) -> 'AdaptedTask':
    """Adapts to one support set; the result predicts query batches without adapting again.

    Args:
      support_images: float32 [S, H, W, C] in [0, 1].
      support_labels: int [S] class ids 0..way-1, every class with at least one example.
      mode: 'mean' (the posterior mean of the balancing variables) or 'mc' (`num_samples`
        draws, each its own adapted parameters; the prediction averages their softmax).
      num_samples: draws for 'mc' (default ``ModelConfig.n_mc_samples``).
      num_steps: inner steps (default ``ModelConfig.test_inner_steps``).
      seed: two integers seeding the 'mc' draws.

    Returns:
      An :class:`AdaptedTask`.

    Raises:
      ValueError: unknown mode; tf.errors.InvalidArgumentError: a bad support set (wrong
        image size, a missing class, too many classes, NaN or out-of-range pixels).
    """
    if mode not in ('mean', 'mc'):
      raise ValueError(f"adapt mode must be 'mean' or 'mc', got {mode!r}")
    c = self.model_config
    stochastic = mode == 'mc' and self._learner.encoder is not None and not c.deterministic
    samples = (c.n_mc_samples if num_samples is None else int(num_samples)) if stochastic else 1
    steps = c.test_inner_steps if num_steps is None else int(num_steps)
    key = (stochastic, samples, steps)
    if key not in self._adapt_fns:
      self._adapt_fns[key] = tf.function(
          lambda x, y, s: self._adapt(x, y, s, stochastic, samples, steps),
          reduce_retracing=True)
    images = tf.convert_to_tensor(support_images, tf.float32)
    labels = tf.convert_to_tensor(support_labels, tf.int32)
    params, way = self._adapt_fns[key](images, labels, tf.convert_to_tensor(seed, tf.int32))
    return AdaptedTask(self.backbone, params, int(way), c.max_way, c.image_shape)

  def _adapt(self, images, labels, seed, stochastic: bool, samples: int, steps: int):
    task, way = serving.request_episode(images, labels, None, self.model_config)
    dists = self._learner.posterior(task.support_images, task.support_labels,
                                    task.support_mask, task.class_mask)
    if stochastic:
      draws = [self._learner.monte_carlo_draw(dists, task.class_mask, seed, i)
               for i in range(samples)]
    else:
      draws = [self._learner.balancing_values(dists, task.class_mask, 'mean', seed)[0]]
    return [self._learner.adapt(task, bal, steps, rows_all_real=True, first_order=True)
            for bal in draws], way

  def export(self, filepath: str, overwrite: bool = False, inner_steps: int | None = None,
             mc_samples: int | None = None, **kwargs) -> str:
    """Writes the serving SavedModel (adapt_and_predict, its Monte-Carlo form,
    balancing_variables, model_info), as ``taml-export`` does.

    Args:
      filepath: the SavedModel folder (written atomically).
      overwrite: replace an existing folder.
      inner_steps, mc_samples: serving defaults (ModelConfig's test values).
      **kwargs: refused (Keras' other export formats do not apply).

    Returns:
      The absolute path of the export.
    """
    if kwargs:
      raise ValueError(f'TamlModel.export writes the serving SavedModel only; got {kwargs}')
    return export_lib.export_saved_model(self._learner, filepath, overwrite=overwrite,
                                         inner_steps=inner_steps, mc_samples=mc_samples)


@keras.saving.register_keras_serializable(package='taml_tf')
class AdaptedTask(keras.Model):
  """A meta-learner adapted to one support set: query images in, class probabilities out.

  Made by :meth:`TamlModel.adapt`; ``predict`` and ``__call__`` take query images
  [N, H, W, C] and return probabilities [N, way]. The adapted parameters are fixed, so any
  number of query batches cost a forward pass each.

  Batch norm uses the statistics of the query batch it is given, as in the paper and the
  authors' code (MAML's transductive batch norm): a prediction depends on the other images of
  its batch, so pass whole query sets (Keras' ``predict`` splits into ``batch_size`` rows, 32
  by default), not single images.

  Not saved on its own: save the TamlModel and adapt again.

  Example (an untrained tiny MAML adapted to a 2-way support set of random 16x16 images):

  >>> import numpy as np
  >>> import taml_tf
  >>> model = taml_tf.TamlModel('maml', task=taml_tf.TaskShape(way=2, max_shot=2, query=2),
  ...                           image_shape=(16, 16, 1), channels=4, num_blocks=2)
  >>> rng = np.random.default_rng(0)
  >>> adapted = model.adapt(rng.random((4, 16, 16, 1)), [0, 0, 1, 1])    # adapts once
  >>> probs = adapted.predict(rng.random((6, 16, 16, 1)), verbose=0)     # [N, way]
  >>> probs.shape, bool(np.allclose(probs.sum(-1), 1.0, atol=1e-5))
  ((6, 2), True)
  >>> adapted(rng.random((3, 16, 16, 1))).shape                           # no re-adaptation
  TensorShape([3, 2])
  """

  def __init__(self, backbone, params, way: int, max_way: int, image_shape, **kwargs):
    super().__init__(**kwargs)
    self._backbone = backbone
    self._params = [tf.nest.map_structure(tf.convert_to_tensor, p) for p in params]
    self.way = way
    self._class_mask = tf.cast(tf.range(max_way) < way, tf.float32)
    self._image_shape = tuple(image_shape)
    self.built = True

  def call(self, query_images):
    """Class probabilities [N, way] of `query_images` [N, H, W, C]."""
    query_images = tf.convert_to_tensor(query_images, tf.float32)
    if tuple(query_images.shape[1:]) != self._image_shape:
      raise ValueError(f'query images must be [N, {", ".join(map(str, self._image_shape))}], '
                       f'got {tuple(query_images.shape)}')
    mask = tf.ones([tf.shape(query_images)[0]], tf.float32)
    probs = [tf.nn.softmax(inner_loop.forward(self._backbone, p, query_images, mask,
                                              self._class_mask))
             for p in self._params]
    return tf.add_n(probs)[:, :self.way] / float(len(probs))

  def get_config(self):
    raise NotImplementedError('an AdaptedTask is not saved: save its TamlModel and adapt again')
