"""Meta-test: accuracy +- 95% interval, NLL and ECE per data set, splits, balancing variables.

:func:`evaluate` adapts a :class:`~taml_tf.method.learner.MetaLearner` to every episode of one or more
finite datasets of batched Episodes (in- and out-of-distribution in one run) and scores the real
queries over the real classes only (the masks drop padding rows and classes). Following Lee et
al. (ICLR 2020) and the authors' code, accuracy is the mean of per-episode accuracies with the
95% interval 1.96 * std / sqrt(episodes); NLL and ECE are pooled over all real queries of a data
set (see :mod:`taml_tf.products.calibration`).

Each data set's result is split by task size and by class size (see :mod:`taml_tf.products.results`).

Every episode also leaves a :class:`~taml_tf.products.results.TaskRecord` with the balancing variables the learner
inferred for it (the posterior mean, also in 'mc' mode): softmax(omega) over the real classes,
exp(gamma) per layer, the mean of z and how far z moves the initialisation, for the paper's
figures. :func:`taml_tf.products.reports.write_results` writes ``results.json``, ``results.md`` and
``balancing.npz``.

Per-episode randomness (the Monte-Carlo samples) uses the stateless seed
``episode_seed(seed, index)`` = [seed, index], index counting episodes within a data set, so
a data set gives the same numbers whether it is evaluated alone or with others.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
import typing

from absl import logging
import numpy as np
import tensorflow as tf

from taml_tf.execution.trainer import ValidationReport
from taml_tf.method import episodes as episodes_lib
from taml_tf.method.models import posteriors
from taml_tf.products import calibration
from taml_tf.products import predictors
from taml_tf.products import reports
from taml_tf.products.results import bucket_index
from taml_tf.products.results import bucket_label
from taml_tf.products.results import CLASS_SIZE_BUCKETS
from taml_tf.products.results import DatasetResult
from taml_tf.products.results import EvaluationResult
from taml_tf.products.results import SplitRow
from taml_tf.products.results import TASK_SIZE_BUCKETS
from taml_tf.products.results import TaskRecord

PREDICT_MODES = predictors.PREDICT_MODES
_INT32_MAX = 2 ** 31 - 1


# ------------------------------------------------------------------------------ helpers
def episode_seed(seed: int, index: int) -> np.ndarray:
  """The stateless seed of episode `index` of a data set: int32 [seed, index]."""
  for name, v in (('seed', seed), ('episode index', index)):
    if not 0 <= int(v) <= _INT32_MAX:
      raise ValueError(f'{name} must be in [0, 2**31 - 1], got {v}')
  return np.array([seed, index], np.int32)


def z_shift(z, kernels: typing.Sequence[np.ndarray], biases: typing.Sequence[np.ndarray]):
  """How far z moves the conv initialisation (theta * (1 + z_w), theta + z_b).

  Args:
    z: [2 * channels * num_blocks] (multiplicative values first, per layer and channel).
    kernels: the num_blocks conv kernels [3, 3, C_in, channels] of theta.
    biases: the num_blocks conv biases [channels] of theta.

  Returns:
    (per-layer relative kernel change [num_blocks], relative change over all kernels and
    biases, ||z_b||).
  """
  z = np.asarray(z, np.float64)
  num_blocks, channels = len(kernels), int(np.shape(kernels[0])[-1])
  z_mult, z_add = z.reshape(2, num_blocks, channels)
  per_layer, moved, size = [], 0.0, 0.0
  for l in range(num_blocks):
    k = np.asarray(kernels[l], np.float64)
    dk = np.sum((k * z_mult[l]) ** 2)
    per_layer.append(math.sqrt(dk) / max(math.sqrt(np.sum(k ** 2)), 1e-30))
    moved += dk + np.sum(z_add[l] ** 2)
    size += np.sum(k ** 2) + np.sum(np.asarray(biases[l], np.float64) ** 2)
  return (np.array(per_layer), math.sqrt(moved) / max(math.sqrt(size), 1e-30),
          float(np.linalg.norm(z_add)))


def _ci_rows(acc_units):
  return calibration.accuracy_interval(acc_units) if len(acc_units) else (math.nan, math.nan)


class _Accumulator:
  """Per-data-set running lists; turned into a DatasetResult by `result`."""

  def __init__(self, name):
    self.name = name
    self.episode_acc, self.episode_nll, self.support_sizes = [], [], []
    self.confidence, self.correct, self.neg_log_p, self.query_shots = [], [], [], []
    self.query_episode, self.query_class = [], []

  def add(self, index, labels, probs, shots, support_size):
    picked = probs[np.arange(len(labels)), labels]
    neg_log_p = -np.log(np.maximum(picked, 1e-12))
    conf, correct = calibration.confidences(probs, labels)
    self.episode_acc.append(float(correct.mean()))
    self.episode_nll.append(float(neg_log_p.mean()))
    self.support_sizes.append(support_size)
    self.confidence.append(conf)
    self.correct.append(correct)
    self.neg_log_p.append(neg_log_p)
    self.query_shots.append(shots[labels])
    self.query_episode.append(np.full(len(labels), index))
    self.query_class.append(labels)
    return self.episode_acc[-1], self.episode_nll[-1]

  def result(self) -> DatasetResult:
    cat = lambda xs, dtype: np.concatenate(xs).astype(dtype) if xs else np.zeros([0], dtype)
    conf, correct = cat(self.confidence, np.float64), cat(self.correct, bool)
    neg_log_p, shots = cat(self.neg_log_p, np.float64), cat(self.query_shots, np.int64)
    q_episode, q_class = cat(self.query_episode, np.int64), cat(self.query_class, np.int64)
    episode_acc = np.array(self.episode_acc, np.float64)
    sizes = np.array(self.support_sizes, np.int64)
    rel = calibration.reliability_from_confidences(conf, correct)
    acc, ci = calibration.accuracy_interval(episode_acc)
    q_bucket = np.array([bucket_index(s, TASK_SIZE_BUCKETS) for s in sizes], np.int64)

    by_task = []
    for b, (low, high) in enumerate(TASK_SIZE_BUCKETS):
      eps = np.flatnonzero(q_bucket == b)
      rows = np.isin(q_episode, eps)
      classes = len(set(zip(q_episode[rows].tolist(), q_class[rows].tolist())))
      a, c = _ci_rows(episode_acc[eps])
      by_task.append(SplitRow(bucket_label(low, high), low, high, len(eps), classes,
                              int(rows.sum()), int(correct[rows].sum()), a, c,
                              float(neg_log_p[rows].mean()) if rows.any() else math.nan))
    by_class = []
    c_bucket = np.array([bucket_index(s, CLASS_SIZE_BUCKETS) for s in shots], np.int64)
    for b, (low, high) in enumerate(CLASS_SIZE_BUCKETS):
      rows = c_bucket == b
      pairs = {}
      for e, k, ok in zip(q_episode[rows], q_class[rows], correct[rows]):
        pairs.setdefault((int(e), int(k)), []).append(ok)
      _, c = _ci_rows([np.mean(v) for v in pairs.values()])
      n = int(rows.sum())
      by_class.append(SplitRow(
          bucket_label(low, high), low, high, len({e for e, _ in pairs}), len(pairs), n,
          int(correct[rows].sum()), float(correct[rows].mean()) if n else math.nan, c,
          float(neg_log_p[rows].mean()) if n else math.nan))
    return DatasetResult(
        name=self.name, episodes=len(episode_acc), queries=int(conf.size), accuracy=acc,
        ci95=ci, nll=float(neg_log_p.mean()) if conf.size else math.nan,
        ece=calibration.ece_from_reliability(rel), reliability=rel, by_task_size=by_task,
        by_class_size=by_class, episode_accuracy=episode_acc)


def _check_args(learner, datasets, mode, num_samples, num_steps, seed, max_episodes):
  if mode not in PREDICT_MODES:
    raise ValueError(f"mode must be one of {PREDICT_MODES}, got {mode!r}")
  if not isinstance(datasets, typing.Mapping) or not datasets:
    raise ValueError('datasets must be a non-empty dict name -> tf.data.Dataset')
  for name, value in (('num_samples', num_samples), ('num_steps', num_steps),
                      ('max_episodes', max_episodes)):
    if value is not None and (not isinstance(value, (int, np.integer)) or value < 0):
      raise ValueError(f'{name} must be a non-negative Python int or None, got {value!r}')
  if num_samples is not None and num_samples < 1:
    raise ValueError(f'num_samples must be >= 1, got {num_samples}')
  episode_seed(seed, 0)
  if not hasattr(learner, 'predict') or not hasattr(learner, 'config'):
    raise ValueError(f'learner must be a MetaLearner, got {type(learner).__name__}')


# ------------------------------------------------------------------------------ evaluate
def evaluate(learner, datasets: typing.Mapping[str, tf.data.Dataset], mode: str = 'mean',
             num_samples: typing.Optional[int] = None, num_steps: typing.Optional[int] = None,
             seed: int = 0, max_episodes: typing.Optional[int] = None,
             progress: typing.Optional[typing.Callable[[str, int], None]] = None,
             padded_meta_batch: typing.Optional[int] = None) -> EvaluationResult:
  """Meta-tests `learner` on every episode of every data set.

  Args:
    learner: a MetaLearner (its variables are read, never changed).
    datasets: name -> finite tf.data.Dataset of batched (or unbatched) Episodes, e.g. from
      :func:`taml_tf.data.named_evaluation_sets`; evaluated in order.
    mode: 'mean' (posterior mean of the balancing variables) or 'mc' (average of the softmax
      over Monte-Carlo samples, each re-running the inner loop). Variants without stochastic
      variables (MAML, Meta-SGD, deterministic TAML) give the same numbers in both modes.
    num_samples: samples for 'mc' (default ``learner.config.n_mc_samples``).
    num_steps: inner steps (default ``learner.config.test_inner_steps``).
    seed: base seed in [0, 2**31 - 1]; episode i of a data set uses ``episode_seed(seed, i)``.
    max_episodes: evaluate at most this many episodes per data set (None: all).
    progress: optional callback progress(dataset_name, episodes_done) after every episode.
    padded_meta_batch: the authors' meta-test, for a learner with
      ``config.authors_padding``: consecutive episodes in meta-batches of this size, each
      support set padded to the longest of its meta-batch (:func:`padded_groups`). None:
      every episode on its own real rows.

  Returns:
    An EvaluationResult.

  Raises:
    ValueError: bad arguments, or a malformed episode (also tf.errors.InvalidArgumentError,
      from :meth:`MetaLearner.validate`).

  Example (an untrained tiny MAML on 4 episodes of random 8x8 images):

  >>> import numpy as np
  >>> import taml_tf
  >>> images, labels = np.random.default_rng(0).random((60, 8, 8)), np.repeat(np.arange(6), 10)
  >>> episodes = taml_tf.make_episodes((images, labels), taml_tf.TaskShape(way=3, max_shot=2,
  ...                                  query=2), num_episodes=4, image_shape=(8, 8, 1))
  >>> learner = taml_tf.MetaLearner(taml_tf.variant(
  ...     'maml', image_shape=(8, 8, 1), channels=4, num_blocks=1, max_way=3, max_shot=2))
  >>> result = taml_tf.evaluate(learner, {'noise': episodes}, num_steps=1)
  >>> noise = result.datasets['noise']                  # accuracy, ci95, nll, ece, splits
  >>> noise.episodes, noise.queries, len(result.records)   # and a TaskRecord per episode
  (4, 24, 4)
  >>> 0 <= noise.accuracy <= 1 and noise.nll > 0
  True
  """
  _check_args(learner, datasets, mode, num_samples, num_steps, seed, max_episodes)
  if padded_meta_batch is not None:
    if not learner.config.authors_padding:
      raise ValueError('padded_meta_batch needs a learner with authors_padding=True (the '
                       "authors' padding is part of the model it was trained as)")
    if not isinstance(padded_meta_batch, (int, np.integer)) or padded_meta_batch < 1:
      raise ValueError(f'padded_meta_batch must be a positive int, got {padded_meta_batch!r}')
  c = learner.config
  steps = c.test_inner_steps if num_steps is None else int(num_steps)
  samples = (c.n_mc_samples if num_samples is None else int(num_samples)) if mode == 'mc' else None
  predictor = predictors.Predictor(learner, mode, samples, steps)
  convs = learner.backbone.adaptable_params()
  kernels = [layer.kernel.numpy() for layer in convs]
  biases = [layer.bias.numpy() for layer in convs]
  variables = tuple(name for name, on in posteriors.switched_on(c)._asdict().items() if on)
  result = _meta_test(predictor, lambda b: learner.validate(b, batched=True), datasets, mode,
                      samples, steps, seed, variables, max_episodes, progress, kernels, biases,
                      padded_meta_batch)
  return dataclasses.replace(result, precision=learner.precision)


def _episodes(dataset, validate, max_episodes):
  """The unbatched numpy episodes of `dataset`, in order, each batch validated."""
  index = 0
  for batch in dataset:
    batch = episodes_lib.Episode(*batch)
    if not batch.is_batched:
      batch = episodes_lib.Episode(*[tf.expand_dims(x, 0) for x in batch])
    batch = episodes_lib.Episode(*[np.asarray(x) for x in validate(batch)])
    for t in range(batch.support_images.shape[0]):
      if max_episodes is not None and index >= max_episodes:
        return
      yield episodes_lib.Episode(*[x[t] for x in batch])
      index += 1


def padded_groups(episodes: typing.Iterable[episodes_lib.Episode],
                  meta_batch: typing.Optional[int]):
  """(episode, support_rows) pairs for a meta-test with the authors' padding.

  Their meta-test feeds meta-batches of `meta_batch` consecutive episodes, each support set
  zero-padded to the longest of its meta-batch (``ModelConfig.authors_padding``).

  Args:
    episodes: unbatched numpy Episodes, in order.
    meta_batch: episodes per meta-batch (the last may be shorter), or None for no padding.

  Yields:
    (episode, support_rows): support_rows is the longest real support set of the episode's
    meta-batch (None without padding); the episode has at least that many support rows.
  """
  if meta_batch is None:
    for episode in episodes:
      yield episode, None
    return
  group = []
  for episode in itertools.chain(episodes, [None]):
    if episode is not None:
      group.append(episode)
    if group and (episode is None or len(group) == meta_batch):
      rows = max(int(np.sum(e.support_mask > 0)) for e in group)
      for e in group:
        yield _with_support_rows(e, rows), rows
      group = []


def _with_support_rows(episode: episodes_lib.Episode, rows: int) -> episodes_lib.Episode:
  """`episode` with zero support rows appended up to `rows` rows (unchanged if it has them)."""
  extra = rows - episode.support_images.shape[0]
  if extra <= 0:
    return episode
  pad = lambda x: np.concatenate([x, np.zeros((extra,) + x.shape[1:], x.dtype)])
  return episode._replace(support_images=pad(episode.support_images),
                          support_labels=pad(episode.support_labels),
                          support_mask=pad(episode.support_mask))


def _meta_test(predictor, validate, datasets, mode, samples, steps, seed, variables,
               max_episodes, progress, kernels=None, biases=None,
               padded_meta_batch=None) -> EvaluationResult:
  """The meta-test loop of :func:`evaluate` and :func:`evaluate_saved_model`."""
  start = time.time()
  results, records = {}, []
  for name, dataset in datasets.items():
    acc = _Accumulator(name)
    tasks = padded_groups(_episodes(dataset, validate, max_episodes), padded_meta_batch)
    for index, (task, rows) in enumerate(tasks):
      extra = {} if rows is None else {'support_rows': rows}
      out = predictor(task, episode_seed(seed, index), **extra)
      records.append(_record(name, index, task, out, acc, kernels, biases))
      if progress is not None:
        progress(name, index + 1)
    results[name] = acc.result()
    r = results[name]
    logging.info('%s: %d episodes, accuracy %.2f +- %.2f %%, NLL %.4f, ECE %.4f', name,
                 r.episodes, 100 * r.accuracy, 100 * r.ci95, r.nll, r.ece)
  return EvaluationResult(mode=mode, num_samples=samples, num_steps=steps, seed=int(seed),
                          variables=variables, datasets=results, records=records,
                          seconds=time.time() - start, padded_meta_batch=padded_meta_batch)


def evaluate_saved_model(model: typing.Union[str, predictors.SavedModelPredictor],
                         datasets: typing.Mapping[str, tf.data.Dataset],
                         mode: typing.Optional[str] = None, seed: int = 0,
                         max_episodes: typing.Optional[int] = None,
                         progress: typing.Optional[typing.Callable[[str, int], None]] = None
                         ) -> EvaluationResult:
  """Meta-tests an exported SavedModel exactly as :func:`evaluate` does a learner.

  The same episodes and seeds give the same accuracy, NLL and ECE as evaluating the checkpoint
  it was exported from with the export's inner steps and samples (so published models can be
  checked without training, or without taml_tf's model code).

  Args:
    model: the SavedModel folder, or a :class:`~taml_tf.products.predictors.SavedModelPredictor` of it.
    datasets, seed, max_episodes, progress: as in :func:`evaluate`.
    mode: 'mean' or 'mc' as in :func:`evaluate` (default 'mean'); a predictor's own mode when
      `model` is a predictor (giving another is an error).

  Returns:
    An EvaluationResult without balancing variables.

  Raises:
    FileNotFoundError: if `path` holds no SavedModel. ValueError: bad arguments.
    tf.errors.InvalidArgumentError: an episode the model refuses (e.g. wider than its max_way).
  """
  if isinstance(model, predictors.SavedModelPredictor):
    if mode not in (None, model.mode):
      raise ValueError(f'mode={mode!r} differs from the predictor\'s {model.mode!r}')
    predictor = model
  else:
    predictor = predictors.SavedModelPredictor(model, mode or 'mean')
  mode = predictor.mode
  if not isinstance(datasets, typing.Mapping) or not datasets:
    raise ValueError('datasets must be a non-empty dict name -> tf.data.Dataset')
  episode_seed(seed, 0)
  info = predictor.info
  samples = int(info['mc_samples']) if mode == 'mc' else None
  return _meta_test(predictor, lambda b: b, datasets, mode, samples, int(info['inner_steps']),
                    seed, (), max_episodes, progress)


def _record(name, index, task, out, acc, kernels, biases) -> TaskRecord:
  """Scores one episode's real queries over its real classes and builds its TaskRecord."""
  way = int(task.class_mask.sum())
  support = task.support_mask > 0
  shots = np.bincount(task.support_labels[support], minlength=way)[:way]
  query = task.query_mask > 0
  labels = task.query_labels[query].astype(np.int64)
  probs = out['probs'][query][:, :way]
  accuracy, nll = acc.add(index, labels, probs, shots, int(support.sum()))
  record = TaskRecord(dataset=name, episode=index, way=way, support_size=int(support.sum()),
                      query_size=int(query.sum()), shots=shots, accuracy=accuracy, nll=nll)
  for variable in posteriors.VARIABLES:
    if variable.recorded_as in out:
      value = out[variable.recorded_as]
      value = value[:way] if variable.per_class else value
      if variable.recorded_as in TaskRecord.__dataclass_fields__:
        setattr(record, variable.recorded_as, value)
      else:
        record.other_variables[variable.recorded_as] = value
  if 'z' in out:
    record.z = out['z']
    record.z_norm = float(np.linalg.norm(out['z']))
    (record.z_kernel_change, record.z_relative_change,
     record.z_bias_shift) = z_shift(out['z'], kernels, biases)
  return record


def authors_meta_batch(config, meta_batch: int) -> typing.Optional[int]:
  """The meta-batch size of the authors' padded meta-test of a run, or None.

  A learner trained with ``config.authors_padding`` is validated and meta-tested as the
  authors' code does it: in meta-batches of its training meta-batch size (see
  :func:`padded_groups`); any other learner one episode at a time.

  Args:
    config: the run's ModelConfig.
    meta_batch: the run's training meta-batch size (``TrainConfig.meta_batch``).
  """
  return meta_batch if config.authors_padding else None


def validation_callback(validation_sets: typing.Callable[[], typing.Mapping[str, tf.data.Dataset]],
                        seed: int, meta_batch: int,
                        progress: typing.Optional[typing.Callable[[str, int], None]] = None
                        ) -> typing.Callable:
  """The Trainer's validation: meta-tests the validation sets with the posterior mean.

  The one copy of it: ``taml-train``'s :class:`~taml_tf.execution.trainer.Trainer` calls it
  every ``eval_freq`` steps, and :meth:`taml_tf.TamlModel.evaluate` (so ``fit``'s
  ``validation_data``) calls it on its dataset.

  Args:
    validation_sets: ``() -> {name: finite dataset of batched Episodes}``.
    seed: the run's seed (validation episodes use ``seed + 1``).
    meta_batch: the run's meta-batch size (the authors' padded validation, see
      :func:`authors_meta_batch`).
    progress: optional ``progress(set name, episodes done)`` after every episode (as in
      :func:`evaluate`).

  Returns:
    ``validate(learner) -> trainer.ValidationReport``: each set's accuracy, its accuracy, NLL
    and ECE as scalars ``<set>/accuracy`` etc., and histograms of the inferred omega (real
    classes), exp(gamma) and z.
  """
  def validate(learner) -> ValidationReport:
    result = evaluate(learner, validation_sets(), mode='mean', seed=seed + 1,
                      padded_meta_batch=authors_meta_batch(learner.config, meta_batch),
                      progress=progress)
    scalars, histograms = {}, {}
    for name, r in result.datasets.items():
      scalars.update({f'{name}/accuracy': r.accuracy, f'{name}/nll': r.nll,
                      f'{name}/ece': r.ece})
    arrays = reports.balancing_arrays(result.records)
    for variable in posteriors.VARIABLES:
      key = variable.recorded_as
      if key in arrays:
        values = np.asarray(arrays[key], np.float32)
        # A per-class variable is 0 beyond a task's way.
        histograms[key] = values[values > 0] if variable.per_class else values
    return ValidationReport({name: r.accuracy for name, r in result.datasets.items()},
                            scalars, histograms)
  return validate
