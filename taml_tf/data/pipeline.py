"""tf.data pipelines of batched Episodes.

Each dataset element is one per-replica meta-batch, produced by a single `tf.numpy_function` call
(`EpisodeSampler.sample_batch`): one Python call per batch instead of per episode keeps the
interpreter overhead negligible, and batching inside numpy is what lets `pad_to='bucket'` pad a
whole meta-batch to one size. Elements are a pure function of (seed, episode index), so `map` may
run in parallel with `deterministic=True` and resuming is `start_episode`.
"""

from __future__ import annotations

import typing

import numpy as np
import tensorflow as tf

from taml_tf.data import class_images as ci_lib
from taml_tf.data import registry
from taml_tf.data import sampler as sampler_lib
from taml_tf.method import episodes as episodes_lib

_DTYPES = (tf.float32, tf.int32, tf.float32, tf.float32, tf.int32, tf.float32, tf.float32)


def _dataset(sampler: sampler_lib.EpisodeSampler, batch_size: int, start_episode: int,
             num_batches: int | None, prefetch: int,
             first_episode: typing.Callable[[int], int] | None = None) -> tf.data.Dataset:
  """Element b holds episodes first_episode(b) .. + batch_size - 1 (default: consecutive)."""
  cfg = sampler.config
  support = cfg.max_support if cfg.pad_to == 'max' else None
  spec = episodes_lib.spec(sampler.image_shape, support, cfg.query_size, cfg.way, batch_size)
  first_episode = first_episode or (lambda b: start_episode + b * batch_size)

  def make(b):
    return tuple(sampler.sample_batch(first_episode(int(b)), batch_size))

  def to_episode(b):
    parts = tf.numpy_function(make, [b], _DTYPES, stateful=False)
    for t, s in zip(parts, spec):
      t.set_shape(s.shape)
    return episodes_lib.Episode(*parts)

  ds = tf.data.Dataset.range(num_batches) if num_batches is not None else (
      tf.data.Dataset.range(np.iinfo(np.int64).max))
  ds = ds.map(to_episode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return ds.prefetch(prefetch)


def _as_sources(sources, image_shape=None, data_dir=None, split='train'):
  if isinstance(sources, (ci_lib.ClassImages, str)):
    sources = [sources]
  out = []
  for s in sources:
    if isinstance(s, str):
      s = registry.build_source(s, split, image_shape or (28, 28, 1), data_dir)
    out.append(s)
  return out


def episode_dataset(sources, sampler_config: sampler_lib.SamplerConfig, seed: int = 0,
                    batch_size: int = 4, start_episode: int = 0,
                    input_context: tf.distribute.InputContext | None = None,
                    prefetch: int = tf.data.AUTOTUNE, *, image_shape=(28, 28, 1),
                    data_dir: str | None = None, split: str = 'train') -> tf.data.Dataset:
  """An endless dataset of meta-batches of Episodes for training.

  Args:
    sources: a ClassImages, a build_source string, or a list of them (round-robin per episode: episode i uses source
      i % len(sources), so a meta-batch of 3 over 3 sources holds one task of each, as in the
      multi-data-set experiment).
    sampler_config: task distribution and padding.
    seed: integer seed.
    batch_size: global meta-batch size; under a distribution strategy each replica gets
      `input_context.get_per_replica_batch_size(batch_size)`.
    start_episode: index of the first episode of the global stream; to resume after `step`
      meta-updates pass `step * batch_size`.
    input_context: from `strategy.distribute_datasets_from_function`. Every input pipeline
      reads its share of one global stream: replica r of meta-update s gets episodes
      [s * batch_size + r * per_replica, ... + per_replica), so the global meta-batch of a step
      is the same whatever the number of workers or pipelines (a 2-worker run trains on the
      episodes of a 1-process run). An input pipeline feeds num_replicas / num_input_pipelines
      consecutive replicas, one per-replica batch each per step.
    prefetch: prefetch buffer (batches).
    image_shape, data_dir, split: used only for `sources` given as build_source strings.

  Returns:
    A tf.data.Dataset of batched Episodes ([B, S, H, W, C] support, ...); every batch is full
    (drop_remainder semantics). Support length S is way * max_shot, or None for pad_to='bucket'.

  Raises:
    ValueError: sources too small for the config, or mismatched image shapes.
  """
  sampler = sampler_lib.EpisodeSampler(_as_sources(sources, image_shape, data_dir, split),
                                       sampler_config, seed)
  if input_context is None:
    return _dataset(sampler, batch_size, start_episode, None, prefetch)
  per_replica = input_context.get_per_replica_batch_size(batch_size)
  replicas_per_pipeline = (input_context.num_replicas_in_sync
                           // input_context.num_input_pipelines)
  first_replica = input_context.input_pipeline_id * replicas_per_pipeline

  def first_episode(b):
    step, local = divmod(b, replicas_per_pipeline)
    return start_episode + step * batch_size + (first_replica + local) * per_replica
  return _dataset(sampler, per_replica, start_episode, None, prefetch, first_episode)


def evaluation_dataset(source, sampler_config: sampler_lib.SamplerConfig, num_episodes: int,
                       seed: int = 1234, batch_size: int = 1) -> tf.data.Dataset:
  """A finite dataset of exactly `num_episodes` episodes with a fixed seed (same every call).

  Args:
    source: a ClassImages (or list, round-robin).
    sampler_config: task distribution.
    num_episodes: number of episodes; must be a multiple of batch_size.
    seed: fixed seed so every model is evaluated on the same tasks.
    batch_size: episodes per element.

  Returns:
    A finite tf.data.Dataset of num_episodes / batch_size batched Episodes.

  Raises:
    ValueError: if num_episodes is not a positive multiple of batch_size.
  """
  if num_episodes <= 0 or num_episodes % batch_size:
    raise ValueError(f'num_episodes={num_episodes} must be a positive multiple of '
                     f'batch_size={batch_size}')
  sampler = sampler_lib.EpisodeSampler(_as_sources(source), sampler_config, seed)
  return _dataset(sampler, batch_size, 0, num_episodes // batch_size, tf.data.AUTOTUNE)


def named_evaluation_sets(sets: typing.Mapping[str, typing.Any],
                          sampler_config: sampler_lib.SamplerConfig, num_episodes: int,
                          seed: int = 1234, batch_size: int = 1, image_shape=(28, 28, 1),
                          data_dir: str | None = None) -> dict:
  """Evaluation datasets by name, e.g. {'omniglot': 'omniglot:evaluation', 'mnist': 'mnist'}.

  Args:
    sets: name -> ClassImages, or a `build_source` string (`name[:split]` or path; split
      defaults to 'test').
    sampler_config, num_episodes, seed, batch_size: as in evaluation_dataset.
    image_shape: used to build string entries.
    data_dir: used to build string entries.

  Returns:
    dict name -> finite dataset (same order as `sets`).

  Raises:
    As build_source and evaluation_dataset, at call time for every set.
  """
  out = {}
  for name, src in sets.items():
    if isinstance(src, str):
      src = registry.build_source(src, 'test', image_shape, data_dir)
    out[name] = evaluation_dataset(src, sampler_config, num_episodes, seed, batch_size)
  return out


def make_episodes(source, task, meta_batch: int = 4, num_episodes: int | None = None,
                  seed: int = 0, mode: str = 'mixed', image_shape=(28, 28, 1),
                  split: str = 'train', data_dir: str | None = None) -> tf.data.Dataset:
  """Episodes of a TaskShape from a user's data: what ``TamlModel.fit`` / ``evaluate`` take.

  Args:
    source: labelled arrays ``(images, labels)`` (images [N, H, W] or [N, H, W, C], in 0..255
      or [0, 1]; labels [N] integers or strings), a ClassImages, or a `build_source` string
      (an image folder with one sub-folder per class, a .npz file, a known data set name).
    task: a :class:`taml_tf.method.task_shape.TaskShape` (way, max_shot, query).
    meta_batch: episodes per element.
    num_episodes: None: an endless training stream (``fit`` with ``steps_per_epoch``);
      else a finite set of this many episodes (a multiple of `meta_batch`), the same every call
      (``validation_data``, ``evaluate``).
    seed: the stream's seed.
    mode: how shots are drawn (``SamplerConfig.mode``: 'mixed' is the paper's any-shot
      distribution, 'fixed' classic N-way K-shot with K = max_shot).
    image_shape: (H, W, C) the images are converted to.
    split: the split of a `build_source` string.
    data_dir: where named data sets live.

  Returns:
    A tf.data.Dataset of batched Episodes (support padded to way * max_shot rows).

  Raises:
    ValueError: data too small for the task shape (a class with fewer than min_shot + query
      images, fewer classes than the way), bad labels or images.

  Example (60 random 8x8 images of 6 classes; 3-way tasks of 1-2 shots, 2 queries a class):

  >>> import numpy as np
  >>> import taml_tf
  >>> images, labels = np.random.default_rng(0).random((60, 8, 8)), np.repeat(np.arange(6), 10)
  >>> task = taml_tf.TaskShape(way=3, max_shot=2, query=2)
  >>> episodes = taml_tf.make_episodes((images, labels), task, meta_batch=2, num_episodes=4,
  ...                                  image_shape=(8, 8, 1))
  >>> batch = next(iter(episodes))                      # a batched taml_tf.Episode
  >>> batch.support_images.shape, batch.query_labels.shape    # support: way * max_shot rows
  (TensorShape([2, 6, 8, 8, 1]), TensorShape([2, 6]))
  >>> len(list(episodes))                               # 4 episodes in meta-batches of 2
  2
  """
  if isinstance(source, tuple) and len(source) == 2:
    source = ci_lib.from_labelled(source[0], source[1], image_shape, name='labelled arrays')
  elif not isinstance(source, (str, ci_lib.ClassImages)):
    raise ValueError('source must be (images, labels), a ClassImages or a data set path / '
                     f'name, got {type(source).__name__}')
  sources = _as_sources(source, image_shape, data_dir, split)
  # The sampler checks that the data fill every task (ClassImages.check_task_fit) when built.
  config = sampler_lib.SamplerConfig(**task.sampler_fields(), mode=mode, pad_to='max')
  if num_episodes is None:
    return episode_dataset(sources, config, seed=seed, batch_size=meta_batch)
  return evaluation_dataset(sources, config, num_episodes, seed=seed, batch_size=meta_batch)
