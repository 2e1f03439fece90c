"""What a meta-test measured: per-task records, per-data-set results and their splits.

Splits reported per data set:

* by task size: episodes grouped by their real support size N into ``TASK_SIZE_BUCKETS``
  ([1-25], [26-50], [51-100], [101-250], [251+]; 5-way tasks with 1..5 shots fall in the first,
  Omniglot's 1..15 shots in the first three, the paper's 1..50 shots up to [101-250], and
  [251+] holds sizes beyond the training range);
* by class size: query examples grouped by the support shot count of their class into
  ``CLASS_SIZE_BUCKETS`` ([1], [2-5], [6-10], [11-25], [26-50], [51+]).

:func:`taml_tf.products.evaluation.evaluate` produces these; :mod:`taml_tf.products.reports` writes them.
"""

from __future__ import annotations

import dataclasses
import math
import typing

import numpy as np

from taml_tf.products import calibration

# (low, high) inclusive; high None = no upper bound.
TASK_SIZE_BUCKETS = ((1, 25), (26, 50), (51, 100), (101, 250), (251, None))
CLASS_SIZE_BUCKETS = ((1, 1), (2, 5), (6, 10), (11, 25), (26, 50), (51, None))


@dataclasses.dataclass
class TaskRecord:
  """One meta-test episode and the balancing variables inferred for it.

  Attributes:
    dataset: name of the data set.
    episode: index of the episode within its data set.
    way: number of real classes.
    support_size: real support examples N.
    query_size: real query examples M.
    shots: [way] real support examples of each class.
    accuracy: accuracy over the real queries.
    nll: mean -log p(y) over the real queries.
    omega: [way] softmax(omega) over the real classes (sums to 1), or None if omega is off.
    exp_gamma: [num_layers] exp(gamma) per layer (conv1..convL, head), or None if gamma is off.
    z: [z_dim] posterior mean of z (multiplicative half first), or None if z is off.
    z_norm: ||z||.
    z_kernel_change: [num_blocks] ||theta_l (1 + z_w,l) - theta_l|| / ||theta_l|| per conv
      kernel.
    z_relative_change: ||theta (*) z - theta|| / ||theta|| over all conv kernels and biases.
    z_bias_shift: ||z_b||, the absolute shift of the conv biases (biases start at zero, so a
      relative change would be meaningless).
    other_variables: {recorded name: value} of any balancing variable of the table
      (``posteriors.VARIABLES``) beyond omega, gamma and z, in its recorded form (per-class
      ones cut to the way).
  """

  dataset: str
  episode: int
  way: int
  support_size: int
  query_size: int
  shots: np.ndarray
  accuracy: float
  nll: float
  omega: typing.Optional[np.ndarray] = None
  exp_gamma: typing.Optional[np.ndarray] = None
  z: typing.Optional[np.ndarray] = None
  z_norm: typing.Optional[float] = None
  z_kernel_change: typing.Optional[np.ndarray] = None
  z_relative_change: typing.Optional[float] = None
  z_bias_shift: typing.Optional[float] = None
  other_variables: dict = dataclasses.field(default_factory=dict)

  def variable(self, recorded_as: str) -> typing.Optional[np.ndarray]:
    """The recorded value of the balancing variable named `recorded_as`, or None if off."""
    if recorded_as in self.other_variables:
      return self.other_variables[recorded_as]
    return getattr(self, recorded_as, None)


@dataclasses.dataclass
class SplitRow:
  """One bucket of a task-size or class-size split.

  Attributes:
    bucket: label such as '26-50' or '251+'.
    low: smallest size in the bucket.
    high: largest size in the bucket (None = unbounded).
    episodes: episodes contributing (a class-size row counts an episode once).
    classes: (episode, class) pairs contributing.
    queries: real queries contributing.
    correct: correctly classified queries among them.
    accuracy: task-size rows: mean of the per-episode accuracies (as the total); class-size
      rows: correct / queries.
    ci95: 1.96 * std / sqrt(n) over episodes (task-size rows) or over (episode, class) pairs'
      accuracies (class-size rows); nan for an empty bucket.
    nll: mean -log p(y) over the queries.
  """

  bucket: str
  low: int
  high: typing.Optional[int]
  episodes: int
  classes: int
  queries: int
  correct: int
  accuracy: float
  ci95: float
  nll: float


@dataclasses.dataclass
class DatasetResult:
  """Meta-test numbers of one data set.

  Attributes:
    name: data set name.
    episodes: episodes evaluated.
    queries: real queries scored.
    accuracy: mean per-episode accuracy (0..1).
    ci95: half-width of its 95% interval.
    nll: mean -log p(y) over all real queries.
    ece: expected calibration error (15 equal-width bins) over all real queries.
    reliability: the reliability-diagram data behind the ECE.
    by_task_size: SplitRows over TASK_SIZE_BUCKETS.
    by_class_size: SplitRows over CLASS_SIZE_BUCKETS.
    episode_accuracy: [episodes] per-episode accuracies (for paired comparisons).
  """

  name: str
  episodes: int
  queries: int
  accuracy: float
  ci95: float
  nll: float
  ece: float
  reliability: calibration.Reliability
  by_task_size: list
  by_class_size: list
  episode_accuracy: np.ndarray


@dataclasses.dataclass
class EvaluationResult:
  """Everything one :func:`taml_tf.products.evaluation.evaluate` call measured.

  Attributes:
    mode: 'mean' or 'mc'.
    num_samples: Monte-Carlo samples used ('mc'; None in 'mean' mode).
    num_steps: inner steps used.
    seed: the base seed.
    variables: the balancing variables recorded, a subset of ('omega', 'gamma', 'z').
    datasets: name -> DatasetResult, in the order evaluated.
    records: TaskRecords of every episode of every data set.
    seconds: wall time of the whole evaluation (including the one-off tracing).
    precision: the compute precision of the meta-test ('float32' or 'mixed_bfloat16',
      taml_tf.method.precision); an exported SavedModel computes in float32.
    padded_meta_batch: with the authors' padding (``ModelConfig.authors_padding``), the size
      of the meta-batches whose support sets were padded to their longest one; None: each
      episode computed on its own real rows.
  """

  mode: str
  num_samples: typing.Optional[int]
  num_steps: int
  seed: int
  variables: tuple
  datasets: dict
  records: list
  seconds: float
  precision: str = 'float32'
  padded_meta_batch: typing.Optional[int] = None

  def to_dict(self) -> dict:
    """The numbers as plain JSON-ready Python (NaN becomes None; no per-task records)."""
    out = dict(mode=self.mode, num_samples=self.num_samples, num_steps=self.num_steps,
               seed=self.seed, variables=list(self.variables), seconds=self.seconds,
               precision=self.precision, padded_meta_batch=self.padded_meta_batch,
               task_size_buckets=[list(b) for b in TASK_SIZE_BUCKETS],
               class_size_buckets=[list(b) for b in CLASS_SIZE_BUCKETS], datasets={})
    for name, r in self.datasets.items():
      out['datasets'][name] = dict(
          episodes=r.episodes, queries=r.queries, accuracy=r.accuracy, ci95=r.ci95, nll=r.nll,
          ece=r.ece, reliability=r.reliability._asdict(),
          by_task_size=[dataclasses.asdict(row) for row in r.by_task_size],
          by_class_size=[dataclasses.asdict(row) for row in r.by_class_size],
          episode_accuracy=r.episode_accuracy)
    return _plain(out)


def _plain(x):
  """numpy -> Python, NaN / inf -> None (strict JSON)."""
  if isinstance(x, dict):
    return {str(k): _plain(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [_plain(v) for v in x]
  if isinstance(x, np.ndarray):
    return _plain(x.tolist())
  if isinstance(x, (np.integer,)):
    return int(x)
  if isinstance(x, (float, np.floating)):
    x = float(x)
    return x if math.isfinite(x) else None
  return x


# ------------------------------------------------------------------------------ buckets
def bucket_label(low: int, high: typing.Optional[int]) -> str:
  """'26-50', '1' or '251+'."""
  if high is None:
    return f'{low}+'
  return str(low) if low == high else f'{low}-{high}'


def bucket_index(size: int, buckets) -> int:
  """Index of the (low, high) bucket holding `size` (-1 if none does)."""
  for i, (low, high) in enumerate(buckets):
    if size >= low and (high is None or size <= high):
      return i
  return -1
