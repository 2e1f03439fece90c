"""The data side of an experiment: which data sets, splits and task distribution.

`DataConfig` is the frozen description the binaries build from flags; the functions here turn
it into the training stream and the named validation / meta-test sets (in-distribution and
out-of-distribution), failing at start-up, with the data set named, when data is missing or too
small for the task distribution.
"""

from __future__ import annotations

import dataclasses
import os
import typing

from taml_tf import data
from taml_tf.method import task_shape

def default_image_shape(dataset: str) -> tuple:
  """The conventional (H, W, C) for a data set name (28x28x1 for unknown ones)."""
  return data.default_image_shape(dataset)


@dataclasses.dataclass(frozen=True)
class DataConfig:
  """Data sets and task distribution of an experiment.

  Attributes:
    id_datasets: in-distribution data sets (names, `name:split`, .npz paths or folders); several
      are mixed round-robin (the multi-data-set experiment).
    ood_datasets: out-of-distribution data sets, meta-tested (and validated) only.
    data_dir: where the shared data files live (None: $TAML_DATA_DIR or ../shared/data).
    image_shape: (H, W, C) the images are resized to.
    way, min_way, max_shot, query, shot_mode: the task distribution (see
      :class:`taml_tf.data.SamplerConfig`; the padding of its batches is an execution setting,
      ``ExecutionConfig.pad_to``).
    rotations: Omniglot rotations as extra classes.
    train_split, val_split, test_split: the in-distribution splits.
  """

  id_datasets: tuple = ('embedded',)
  ood_datasets: tuple = ()
  data_dir: typing.Optional[str] = None
  image_shape: tuple = (28, 28, 1)
  way: int = task_shape.WAY
  min_way: typing.Optional[int] = None
  max_shot: int = task_shape.MAX_SHOT
  query: int = task_shape.QUERY
  shot_mode: str = 'mixed'
  rotations: bool = False
  train_split: str = 'train'
  val_split: str = 'val'
  test_split: str = 'test'

  def __post_init__(self):
    object.__setattr__(self, 'id_datasets', tuple(self.id_datasets))
    object.__setattr__(self, 'ood_datasets', tuple(self.ood_datasets))
    object.__setattr__(self, 'image_shape', tuple(int(d) for d in self.image_shape))
    if not self.id_datasets:
      raise ValueError('at least one in-distribution data set is needed (--id_dataset)')
    names = [display_name(d) for d in self.id_datasets + self.ood_datasets]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
      raise ValueError(f'data set names must be distinct across --id_dataset and '
                       f'--ood_dataset, got {duplicates} twice')
    self.sampler()  # validates the task distribution

  def sampler(self, pad_to: str = 'max') -> data.SamplerConfig:
    """The task sampler's configuration, its batches padded as `pad_to` says."""
    return data.SamplerConfig(way=self.way, max_shot=self.max_shot, query=self.query,
                              mode=self.shot_mode, min_way=self.min_way, pad_to=pad_to)

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)


def display_name(dataset: str) -> str:
  """A short name for reports: the base name of a path, or the name without its split."""
  return os.path.basename(dataset.rstrip('/')).replace('.npz', '') if (
      os.sep in dataset or dataset.endswith('.npz')) else dataset.split(':')[0]


def build_source(cfg: DataConfig, dataset: str, split: str):
  """ClassImages of `dataset` (an explicit `name:split` wins over `split`, as in
  :func:`taml_tf.data.build_source`), checked against the task distribution."""
  return data.build_source(dataset, split, cfg.image_shape, cfg.data_dir,
                           rotations=cfg.rotations, way=cfg.min_way or cfg.way, query=cfg.query)


def train_dataset_fn(cfg: DataConfig, seed: int, meta_batch: int,
                     pad_to: str = 'max') -> typing.Callable:
  """``fn(start_episode, input_context)`` giving the endless training stream (for Trainer).

  The sources are loaded once, now, so that missing or unusable data fails at start-up.

  Args:
    cfg: the data configuration.
    seed: seeds the episode stream.
    meta_batch: tasks per global meta-batch.
    pad_to: support padding of the batches (``ExecutionConfig.pad_to``).
  """
  sources = [build_source(cfg, d, cfg.train_split) for d in cfg.id_datasets]
  sampler = cfg.sampler(pad_to)

  def fn(start_episode, input_context=None):
    return data.episode_dataset(sources, sampler, seed=seed, batch_size=meta_batch,
                                start_episode=start_episode, input_context=input_context)
  return fn


def evaluation_sets(cfg: DataConfig, split: str, num_episodes: int, seed: int = 1234,
                    pad_to: str = 'bucket') -> dict:
  """Named finite evaluation sets: each in-distribution set on `split`, each OOD set whole
  (its 'test' split where the source has splits).

  Args:
    cfg: the data configuration.
    split: 'val' during training, 'test' at meta-test (in-distribution sets).
    num_episodes: episodes per set.
    seed: fixed, so every model sees the same tasks.
    pad_to: 'bucket' (fewer padded rows: evaluation never needs fixed shapes) or 'max'.

  Returns:
    dict display name -> dataset of single-episode batches.
  """
  sampler = cfg.sampler(pad_to)
  sets = {}
  for d in cfg.id_datasets:
    sets[display_name(d)] = build_source(cfg, d, split)
  for d in cfg.ood_datasets:
    sets[display_name(d)] = build_source(cfg, d, 'test')
  return {name: data.evaluation_dataset(src, sampler, num_episodes, seed=seed)
          for name, src in sets.items()}


def ood_names(cfg: DataConfig) -> tuple:
  """Display names of the out-of-distribution sets."""
  return tuple(display_name(d) for d in cfg.ood_datasets)
