"""The any-shot task sampler: ClassImages -> padded Episodes, deterministic per episode index.

Task distribution (reference bayesian_taml.md section 6): `way` classes drawn without
replacement, in random order (so labels 0..way-1 carry no meaning across tasks); support shots
per class in [min_shot, max_shot] according to `mode`:

* `mixed` (the paper's mode 1): with probability 1/2 every class draws its own shot from
  U{min_shot..max_shot} (class + task imbalance), otherwise one shot from the same range is
  shared by all classes (task imbalance only);
* `class_imbalance` (mode 2): always per-class shots;
* `task_imbalance` (mode 3): always one shared shot;
* `fixed`: classic N-way K-shot with K = max_shot.

Any-way: with `min_way < way` each task draws its way from U{min_way..way}; the padded shapes use
`way` (the maximum) and `class_mask` marks the real classes. Query is balanced, `query` per class.
A class with too few images for shot + query gets a smaller shot (count - query), as in the paper;
sources are checked up front to hold at least min_shot + query images per class.

Determinism: episode `i` under seed `s` draws from `np.random.default_rng([s, 0, i])`,
independent of every other episode, so a stream can start at any episode index (resume) and
input pipelines can split one stream between them (taml_tf.data.pipeline).
"""

from __future__ import annotations

import dataclasses
import typing

import numpy as np

from taml_tf.data import class_images as ci_lib
from taml_tf.method import episodes as episodes_lib
from taml_tf.method import task_shape

SHOT_MODES = ('mixed', 'class_imbalance', 'task_imbalance', 'fixed')
PAD_MODES = ('max', 'bucket')


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
  """How tasks are drawn.

  Attributes:
    way: classes per task (the maximum, when min_way is set).
    max_shot: largest support shot per class.
    query: query images per class.
    mode: one of SHOT_MODES.
    min_shot: smallest support shot per class (1 in the paper).
    min_way: smallest way for any-way tasks; None = fixed way.
    pad_to: 'max' pads support to way * max_shot (fixed shapes, needed on TPU / XLA); 'bucket'
      pads each meta-batch to the smallest bucket >= its largest real support (fewer wasted rows
      on CPU / GPU; one retrace per bucket).
    buckets: support sizes for pad_to='bucket'; None = way * {1, 2, 4, 8, ...} capped by the max.
  """

  way: int = task_shape.WAY
  max_shot: int = task_shape.MAX_SHOT
  query: int = task_shape.QUERY
  mode: str = 'mixed'
  min_shot: int = 1
  min_way: int | None = None
  pad_to: str = 'max'
  buckets: tuple | None = None

  def __post_init__(self):
    if self.mode not in SHOT_MODES:
      raise ValueError(f'unknown sampler mode {self.mode!r}; expected one of {SHOT_MODES}')
    if self.pad_to not in PAD_MODES:
      raise ValueError(f'pad_to must be one of {PAD_MODES}, got {self.pad_to!r}')
    if self.way < 1 or self.query < 1:
      raise ValueError(f'way and query must be >= 1, got way={self.way}, query={self.query}')
    if not 1 <= self.min_shot <= self.max_shot:
      raise ValueError(f'need 1 <= min_shot <= max_shot, got {self.min_shot}, {self.max_shot}')
    if self.min_way is not None and not 1 <= self.min_way <= self.way:
      raise ValueError(f'need 1 <= min_way <= way, got min_way={self.min_way}, way={self.way}')

  @property
  def max_support(self) -> int:
    return self.way * self.max_shot

  @property
  def query_size(self) -> int:
    return self.way * self.query

  def bucket_sizes(self) -> tuple:
    """Sorted support sizes a batch may be padded to (the last is always max_support)."""
    if self.pad_to == 'max':
      return (self.max_support,)
    if self.buckets:
      sizes = sorted({int(b) for b in self.buckets if 0 < int(b) < self.max_support})
    else:
      sizes, k = [], 1
      while self.way * k < self.max_support:
        sizes.append(self.way * k)
        k *= 2
    return tuple(sizes) + (self.max_support,)

  def support_size_for(self, real: int) -> int:
    """Padded support size for a batch whose largest real support is `real`."""
    for b in self.bucket_sizes():
      if b >= real:
        return b
    return self.max_support


class TaskPlan(typing.NamedTuple):
  """Which images one task uses (flat row indices into its source's `images`)."""
  source: int
  classes: np.ndarray        # [way] class indices in label order.
  shots: np.ndarray          # [way] real support shots.
  support_rows: np.ndarray   # [sum(shots)] rows, class-major (label 0 first).
  support_labels: np.ndarray
  query_rows: np.ndarray     # [way * query] rows.
  query_labels: np.ndarray


class EpisodeSampler:
  """Draws padded Episodes from one or several ClassImages (round-robin by episode index).

  Args:
    sources: a ClassImages or a sequence of them (all with the same image_shape); episode `i`
      uses source `i % len(sources)`.
    config: a SamplerConfig.
    seed: integer seed.

  Raises:
    ValueError: sources of different image shapes, or a source too small for the config (names
      the data set and class).
  """

  def __init__(self, sources, config: SamplerConfig, seed: int = 0):
    if isinstance(sources, ci_lib.ClassImages):
      sources = [sources]
    self.sources = list(sources)
    if not self.sources:
      raise ValueError('need at least one data source')
    shapes = {s.image_shape for s in self.sources}
    if len(shapes) > 1:
      raise ValueError(f'all sources must share one image shape, got '
                       f'{[(s.name, s.image_shape) for s in self.sources]}')
    for s in self.sources:
      s.check_task_fit(config.way, config.query, config.min_shot)
    self.config = config
    self.seed = int(seed)
    self.image_shape = self.sources[0].image_shape

  def rng(self, index: int) -> np.random.Generator:
    """The generator of episode `index` (independent of all other episodes)."""
    # The middle 0 keeps the episodes of runs trained when each input pipeline had a stream
    # of its own (pipeline 0 was the only one on one machine).
    return np.random.default_rng([self.seed, 0, int(index)])

  def plan(self, index: int) -> TaskPlan:
    """Draws which classes and images episode `index` uses (no pixels touched)."""
    cfg = self.config
    rng = self.rng(index)
    src_id = int(index) % len(self.sources)
    src = self.sources[src_id]
    way = cfg.way if cfg.min_way is None else int(rng.integers(cfg.min_way, cfg.way + 1))
    classes = rng.choice(src.num_classes, size=way, replace=False)
    per_class = (cfg.mode == 'class_imbalance' or
                 (cfg.mode == 'mixed' and rng.random() < 0.5))
    if cfg.mode == 'fixed':
      shots = np.full(way, cfg.max_shot)
    elif per_class:
      shots = rng.integers(cfg.min_shot, cfg.max_shot + 1, size=way)
    else:
      shots = np.full(way, rng.integers(cfg.min_shot, cfg.max_shot + 1))
    counts = src.counts[classes]
    shots = np.minimum(shots, counts - cfg.query)  # Too few images: smaller shot (paper).
    s_rows, q_rows = [], []
    for c, n, k in zip(classes, counts, shots):
      # Support and query are disjoint draws from one permutation prefix of the class.
      pick = rng.choice(n, size=k + cfg.query, replace=False) + src.offsets[c]
      s_rows.append(pick[:k])
      q_rows.append(pick[k:])
    labels = np.arange(way, dtype=np.int32)
    return TaskPlan(source=src_id, classes=classes, shots=shots.astype(np.int64),
                    support_rows=np.concatenate(s_rows), support_labels=np.repeat(labels, shots),
                    query_rows=np.concatenate(q_rows),
                    query_labels=np.repeat(labels, cfg.query))

  def _fill(self, plan: TaskPlan, support_size: int, out: list, b: int) -> None:
    """Writes one task into row b of preallocated batch arrays (avoids per-episode pads)."""
    src = self.sources[plan.source]
    n, m = len(plan.support_rows), len(plan.query_rows)
    s_img, s_lab, s_mask, q_img, q_lab, q_mask, c_mask = out
    s_img[b, :n] = src.gather(plan.support_rows)
    s_lab[b, :n] = plan.support_labels
    s_mask[b, :n] = 1.0
    q_img[b, :m] = src.gather(plan.query_rows)
    q_lab[b, :m] = plan.query_labels
    q_mask[b, :m] = 1.0
    c_mask[b, :len(plan.classes)] = 1.0

  def _alloc(self, batch: int, support_size: int) -> list:
    cfg = self.config
    return [np.zeros((batch, support_size) + self.image_shape, np.float32),
            np.zeros((batch, support_size), np.int32),
            np.zeros((batch, support_size), np.float32),
            np.zeros((batch, cfg.query_size) + self.image_shape, np.float32),
            np.zeros((batch, cfg.query_size), np.int32),
            np.zeros((batch, cfg.query_size), np.float32),
            np.zeros((batch, cfg.way), np.float32)]

  def sample(self, index: int) -> episodes_lib.Episode:
    """Episode `index`, unbatched numpy, support padded to way * max_shot."""
    out = self._alloc(1, self.config.max_support)
    self._fill(self.plan(index), self.config.max_support, out, 0)
    return episodes_lib.Episode(*[x[0] for x in out])

  def sample_batch(self, start: int, batch_size: int) -> episodes_lib.Episode:
    """Episodes start .. start + batch_size - 1 as one meta-batch (numpy, leading batch axis).

    With pad_to='bucket' the support is padded to the smallest bucket that holds the batch's
    largest task; with 'max' always to way * max_shot.
    """
    plans = [self.plan(start + b) for b in range(batch_size)]
    real = max(len(p.support_rows) for p in plans)
    size = self.config.support_size_for(real)
    out = self._alloc(batch_size, size)
    for b, p in enumerate(plans):
      self._fill(p, size, out, b)
    return episodes_lib.Episode(*out)


def real_shots(episode: episodes_lib.Episode) -> np.ndarray:
  """Per-class real support counts of an unbatched numpy episode ([max_way], 0 for padding)."""
  labels = np.asarray(episode.support_labels)[np.asarray(episode.support_mask) > 0]
  return np.bincount(labels, minlength=int(np.asarray(episode.class_mask).shape[-1]))
