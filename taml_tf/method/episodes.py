"""The Episode type: one few-shot task (or a batch of them), padded to fixed shapes with masks.

Every component of taml-tf speaks this type. A task with `way` real classes, `n_c` support
examples of class c and `q` queries per class is stored padded:

* ``support_images``  float32 [S, H, W, C]  (S = max_way * max_shot, or a bucketed size)
* ``support_labels``  int32   [S]           class ids in [0, max_way); padding rows hold 0
* ``support_mask``    float32 [S]           1 for a real example, 0 for padding
* ``query_images``    float32 [Q, H, W, C]
* ``query_labels``    int32   [Q]
* ``query_mask``      float32 [Q]
* ``class_mask``      float32 [max_way]     1 for the task's real classes (always a prefix)

A batch of episodes has the same fields with a leading meta-batch axis. Padding never changes a
result: batch-norm statistics, loss normalisation (N and M count real rows) and the set encoder
all read the masks.
"""

from __future__ import annotations

import typing

import numpy as np
import tensorflow as tf


class Episode(typing.NamedTuple):
  """One task or a meta-batch of tasks; see the module docstring for shapes.

  Example:

  >>> import numpy as np
  >>> import taml_tf
  >>> from taml_tf.method import episodes
  >>> task = episodes.from_arrays(np.zeros((3, 8, 8)), [0, 0, 1],   # support: 2 + 1 images
  ...                             np.zeros((2, 8, 8)), [0, 1])      # query: 1 per class
  >>> isinstance(task, taml_tf.Episode), task.max_way, task.image_shape, task.is_batched
  (True, 2, (8, 8, 1), False)
  >>> task.support_mask
  array([1., 1., 1.], dtype=float32)
  """

  support_images: typing.Any
  support_labels: typing.Any
  support_mask: typing.Any
  query_images: typing.Any
  query_labels: typing.Any
  query_mask: typing.Any
  class_mask: typing.Any

  @property
  def max_way(self) -> int:
    """Static number of class slots (real classes + padding classes)."""
    return int(self.class_mask.shape[-1])

  @property
  def image_shape(self) -> tuple:
    """Static (H, W, C) of the images."""
    return tuple(int(d) for d in self.support_images.shape[-3:])

  @property
  def is_batched(self) -> bool:
    """Whether the episode carries a leading meta-batch axis."""
    return len(self.support_images.shape) == 5


def from_arrays(support_images, support_labels, query_images, query_labels,
                max_way: int | None = None, support_size: int | None = None,
                query_size: int | None = None) -> Episode:
  """Builds a padded Episode from unpadded numpy arrays of one task.

  Args:
    support_images: [N, H, W, C] (or [N, H, W]) images in [0, 1].
    support_labels: [N] integer class ids in [0, way).
    query_images: [M, H, W, C] (or [M, H, W]) images.
    query_labels: [M] integer class ids in [0, way).
    max_way: number of class slots; defaults to the task's way.
    support_size: padded support length S >= N; defaults to N (no padding).
    query_size: padded query length Q >= M; defaults to M.

  Returns:
    An unbatched Episode of numpy arrays.

  Raises:
    ValueError: if a padded size is smaller than the real size or labels are not integers.
  """
  support_images = np.asarray(support_images, np.float32)
  query_images = np.asarray(query_images, np.float32)
  if support_images.ndim == 3:
    support_images = support_images[..., None]
  if query_images.ndim == 3:
    query_images = query_images[..., None]
  support_labels = np.asarray(support_labels)
  query_labels = np.asarray(query_labels)
  for name, labels in (('support_labels', support_labels), ('query_labels', query_labels)):
    if not np.issubdtype(labels.dtype, np.integer):
      raise ValueError(f'{name} must be integers, got dtype {labels.dtype}')
  way = int(max(support_labels.max(initial=-1), query_labels.max(initial=-1))) + 1
  max_way = way if max_way is None else max_way
  if way > max_way:
    raise ValueError(f'labels reach class {way - 1} but max_way is {max_way}')
  n, m = len(support_labels), len(query_labels)
  support_size = n if support_size is None else support_size
  query_size = m if query_size is None else query_size
  if support_size < n or query_size < m:
    raise ValueError(f'padded sizes ({support_size}, {query_size}) are smaller than the task '
                     f'({n}, {m})')

  def pad(x, size):
    widths = [(0, size - x.shape[0])] + [(0, 0)] * (x.ndim - 1)
    return np.pad(x, widths)

  return Episode(
      support_images=pad(support_images, support_size),
      support_labels=pad(support_labels.astype(np.int32), support_size),
      support_mask=pad(np.ones(n, np.float32), support_size),
      query_images=pad(query_images, query_size),
      query_labels=pad(query_labels.astype(np.int32), query_size),
      query_mask=pad(np.ones(m, np.float32), query_size),
      class_mask=(np.arange(max_way) < way).astype(np.float32))


def stack(episodes: typing.Sequence[Episode]) -> Episode:
  """Stacks same-shaped unbatched episodes into a meta-batch (numpy)."""
  return Episode(*[np.stack(parts) for parts in zip(*episodes)])


def to_tensors(episode: Episode) -> Episode:
  """Converts every field to a tensor with the canonical dtype."""
  dtypes = (tf.float32, tf.int32, tf.float32, tf.float32, tf.int32, tf.float32, tf.float32)
  return Episode(*[tf.convert_to_tensor(x, dtype=d) for x, d in zip(episode, dtypes)])


def spec(image_shape, support_size: int, query_size: int, max_way: int,
         batch_size: int | None = None) -> Episode:
  """TensorSpecs of an Episode (with a leading meta-batch axis when batch_size is given)."""
  lead = () if batch_size is None else (batch_size,)
  image_shape = tuple(image_shape)
  return Episode(
      support_images=tf.TensorSpec(lead + (support_size,) + image_shape, tf.float32),
      support_labels=tf.TensorSpec(lead + (support_size,), tf.int32),
      support_mask=tf.TensorSpec(lead + (support_size,), tf.float32),
      query_images=tf.TensorSpec(lead + (query_size,) + image_shape, tf.float32),
      query_labels=tf.TensorSpec(lead + (query_size,), tf.int32),
      query_mask=tf.TensorSpec(lead + (query_size,), tf.float32),
      class_mask=tf.TensorSpec(lead + (max_way,), tf.float32))


def without_support_padding(task: Episode) -> Episode:
  """The task with its padded support rows removed (an unbatched Episode of tensors).

  Padding rows are masked out of everything the learner computes from the support set (the
  set encoder's pooling, batch-norm statistics, the inner loss), so dropping them changes no
  result and saves their cost: bucketed padding adds about a third to the support rows. The
  support length becomes data-dependent, which XLA and TPUs cannot compile.

  Args:
    task: an unbatched Episode of tensors (padding rows may be anywhere).

  Returns:
    the Episode with only the support rows whose mask is nonzero; the query and class fields
    are unchanged.
  """
  keep = task.support_mask > 0
  return task._replace(support_images=tf.boolean_mask(task.support_images, keep),
                       support_labels=tf.boolean_mask(task.support_labels, keep),
                       support_mask=tf.boolean_mask(task.support_mask, keep))
