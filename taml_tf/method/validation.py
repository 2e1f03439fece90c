"""Checks that reject a malformed episode before any work (or any update) happens.

Two layers:

* :func:`check_structure` runs in Python on static shapes and dtypes (wrong rank, wrong dtype,
  wrong image size, more classes than the model allows) and raises ``ValueError``.
* :func:`value_assertions` returns ``tf.debugging`` assertions on the values (labels outside
  [0, way), a class with no support example, NaN or infinite pixels, a mask that is not 0/1);
  they raise ``tf.errors.InvalidArgumentError`` naming the problem. The train step makes the
  meta-gradient depend on them, so a bad batch never reaches the optimizer.
"""

from __future__ import annotations

import tensorflow as tf

from taml_tf.method.episodes import Episode

_IMAGE_DTYPES = (tf.float32,)
_LABEL_DTYPES = (tf.int32,)


def check_structure(episode: Episode, image_shape, max_way: int, batched: bool) -> None:
  """Validates ranks, dtypes and static sizes of an Episode.

  Args:
    episode: the Episode (tensors or numpy arrays).
    image_shape: the model's (H, W, C).
    max_way: the most classes the model allows.
    batched: whether a leading meta-batch axis is expected.

  Raises:
    ValueError: naming the field and the problem.
  """
  if not isinstance(episode, Episode):
    raise ValueError(f'expected an Episode, got {type(episode).__name__}')
  lead = 1 if batched else 0
  kind = 'batched' if batched else 'unbatched'
  ranks = dict(support_images=4, support_labels=1, support_mask=1, query_images=4,
               query_labels=1, query_mask=1, class_mask=1)
  for name, rank in ranks.items():
    value = getattr(episode, name)
    shape = tf.TensorShape(getattr(value, 'shape', None))
    if shape.rank != rank + lead:
      raise ValueError(f'{name} of a {kind} episode must have rank {rank + lead}, '
                       f'got shape {shape}')
    dtype = tf.as_dtype(value.dtype)
    wanted = (_IMAGE_DTYPES if name.endswith('images') else
              _LABEL_DTYPES if name.endswith('labels') else (tf.float32,))
    if dtype not in wanted:
      raise ValueError(f'{name} must have dtype {wanted[0].name}, got {dtype.name}')
  for part in ('support', 'query'):
    images = tf.TensorShape(getattr(episode, f'{part}_images').shape)
    if tuple(images[-3:]) != tuple(image_shape):
      raise ValueError(f'{part}_images are {tuple(images[-3:])} but the model expects '
                       f'{tuple(image_shape)} (H, W, C)')
    rows = images[lead]
    for field in ('labels', 'mask'):
      other = tf.TensorShape(getattr(episode, f'{part}_{field}').shape)[lead]
      if rows is not None and other is not None and rows != other:
        raise ValueError(f'{part}_{field} has {other} rows but {part}_images has {rows}')
  slots = tf.TensorShape(episode.class_mask.shape)[-1]
  if slots is not None and slots > max_way:
    raise ValueError(f'the episode has {slots} class slots but the model allows at most '
                     f'max_way={max_way} classes')
  if batched:
    sizes = {tf.TensorShape(getattr(episode, f).shape)[0] for f in Episode._fields}
    if len(sizes) > 1:
      raise ValueError(f'fields of a batched episode disagree on the meta-batch size: {sizes}')


def value_assertions(episode: Episode) -> list:
  """Assertions on the values of a (batched or unbatched) episode.

  Checks: masks are 0/1; the class mask is a prefix of ones with at least two classes; every
  real support and query label lies in [0, way) where way is the task's number of real classes;
  every real class has at least one support example; pixels of real rows are finite.

  Args:
    episode: an Episode of tensors.

  Returns:
    A list of assertion ops (empty in eager mode, where failures raise immediately).
  """
  ops = []
  batched = len(episode.support_images.shape) == 5

  def add(op):
    if op is not None:
      ops.append(op)

  for name in ('support_mask', 'query_mask', 'class_mask'):
    m = getattr(episode, name)
    add(tf.debugging.assert_equal(
        tf.reduce_all((m == 0.0) | (m == 1.0)), True,
        message=f'{name} must contain only 0 and 1'))
  class_mask = episode.class_mask if batched else episode.class_mask[None]
  way = tf.reduce_sum(class_mask, -1)
  prefix = tf.cast(tf.range(tf.shape(class_mask)[-1])[None, :], tf.float32) < way[:, None]
  add(tf.debugging.assert_equal(
      tf.reduce_all(tf.equal(prefix, class_mask > 0)), True,
      message='class_mask must be a prefix of ones (classes 0..way-1 real)'))
  add(tf.debugging.assert_greater_equal(
      tf.reduce_min(way), 2.0, message='a task needs at least 2 classes (class_mask)'))
  for part in ('support', 'query'):
    labels = getattr(episode, f'{part}_labels')
    mask = getattr(episode, f'{part}_mask')
    images = getattr(episode, f'{part}_images')
    if not batched:
      labels, mask, images = labels[None], mask[None], images[None]
    real = mask > 0
    in_range = (labels >= 0) & (tf.cast(labels, tf.float32) < way[:, None])
    add(tf.debugging.assert_equal(
        tf.reduce_all(in_range | ~real), True,
        message=f'{part}_labels out of range: every real label must be in [0, way) where way '
                f'is the number of ones in class_mask'))
    finite = tf.reduce_all(tf.math.is_finite(images), axis=[2, 3, 4])
    add(tf.debugging.assert_equal(
        tf.reduce_all(finite | ~real), True,
        message=f'{part}_images contain NaN or infinite pixels'))
  labels = episode.support_labels if batched else episode.support_labels[None]
  mask = episode.support_mask if batched else episode.support_mask[None]
  counts = tf.reduce_sum(tf.one_hot(labels, tf.shape(class_mask)[-1]) * mask[..., None], 1)
  add(tf.debugging.assert_equal(
      tf.reduce_all((counts > 0) | (class_mask == 0)), True,
      message='a class has no support example: every class in class_mask needs at least one '
              'real support row'))
  return ops


def validated(episode: Episode, image_shape, max_way: int, batched: bool) -> Episode:
  """Runs both checks and returns the episode with its tensors depending on the assertions."""
  check_structure(episode, image_shape, max_way, batched)
  ops = value_assertions(episode)
  if not ops:
    return episode
  with tf.control_dependencies(ops):
    return Episode(*[tf.identity(x) for x in episode])
