"""ClassImages: the one interface every data source produces.

A source turns some storage (an `.npz`, an image folder, a TFDS split, the embedded default) into
a `ClassImages` value: all images of one split, grouped by class, resized to one (H, W, C). The
sampler only ever talks to this type, so bringing a new data set means writing a function that
returns one.

Images are kept as one contiguous uint8 array (classes back to back, `offsets` marks where each
class starts) rather than a float32 array per class: the Vinyals Omniglot split with rotations is
4800 classes x 20 drawings, 75 MB as uint8 against 300 MB as float32, and gathering a task's
rows from one array is a single fancy-index. `gather` scales to float32 in [0, 1] on the way out.
"""

from __future__ import annotations

import dataclasses
import typing

import numpy as np


@dataclasses.dataclass(frozen=True)
class ClassImages:
  """All images of one split, grouped by class.

  Attributes:
    images: uint8 [N, H, W, C], classes stored back to back (0 = black / no ink is not implied:
      each source keeps its own polarity, documented per source).
    offsets: int64 [num_classes + 1]; class c owns rows offsets[c]:offsets[c + 1].
    class_names: one string per class.
    name: a human-readable description of where the images came from (used in error messages).
  """

  images: np.ndarray
  offsets: np.ndarray
  class_names: tuple
  name: str = 'images'

  @property
  def num_classes(self) -> int:
    return len(self.offsets) - 1

  @property
  def counts(self) -> np.ndarray:
    """int64 [num_classes]: number of images per class."""
    return np.diff(self.offsets)

  @property
  def image_shape(self) -> tuple:
    """(H, W, C) of every image."""
    return tuple(int(d) for d in self.images.shape[1:])

  def __len__(self) -> int:
    return self.num_classes

  def gather(self, rows) -> np.ndarray:
    """Returns float32 [len(rows), H, W, C] images in [0, 1] for flat row indices."""
    return self.images[np.asarray(rows)].astype(np.float32) * np.float32(1.0 / 255.0)

  def class_images(self, c: int) -> np.ndarray:
    """Returns float32 [n_c, H, W, C] images of class `c` in [0, 1]."""
    return self.gather(np.arange(self.offsets[c], self.offsets[c + 1]))

  def subset(self, classes, name: str | None = None) -> 'ClassImages':
    """Returns a ClassImages with only the given class indices (in that order)."""
    classes = [int(c) for c in classes]
    parts = [self.images[self.offsets[c]:self.offsets[c + 1]] for c in classes]
    counts = [len(p) for p in parts]
    images = (np.concatenate(parts) if parts
              else np.zeros((0,) + self.image_shape, np.uint8))
    return ClassImages(images=images, offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
                       class_names=tuple(self.class_names[c] for c in classes),
                       name=name or self.name)

  def check_task_fit(self, way: int, query: int, min_shot: int = 1) -> None:
    """Checks that every task the sampler may draw can be filled.

    Args:
      way: the largest number of classes a task may have.
      query: query images per class.
      min_shot: the fewest support images a class may have.

    Raises:
      ValueError: naming the data set and the flag if there are fewer classes than `way`, or
        naming the first class with fewer than `min_shot + query` images.
    """
    if self.num_classes < way:
      raise ValueError(
          f'{self.name}: has {self.num_classes} classes but way={way} needs at least {way}; '
          'lower --way or use a split with more classes')
    need = min_shot + query
    short = np.flatnonzero(self.counts < need)
    if short.size:
      c = int(short[0])
      raise ValueError(
          f'{self.name}: class {self.class_names[c]!r} has {int(self.counts[c])} images but a task '
          f'needs at least {need} (shot {min_shot} + query={query}); {short.size} class(es) are '
          'this small: lower --query or drop these classes')


def _to_float01(images: np.ndarray, what: str) -> np.ndarray:
  """Converts images of any numeric dtype to float32 in [0, 1]."""
  if images.dtype == np.bool_:
    return images.astype(np.float32)
  if np.issubdtype(images.dtype, np.integer):
    if images.size and (images.min() < 0 or images.max() > 255):
      raise ValueError(f'{what}: integer pixels must lie in [0, 255], got '
                       f'[{images.min()}, {images.max()}]')
    return images.astype(np.float32) / 255.0
  if not np.issubdtype(images.dtype, np.floating):
    raise ValueError(f'{what}: pixels must be numeric, got dtype {images.dtype}')
  images = images.astype(np.float32)
  if not np.all(np.isfinite(images)):
    raise ValueError(f'{what}: contains NaN or infinite pixels')
  lo, hi = (float(images.min()), float(images.max())) if images.size else (0.0, 1.0)
  if lo < 0.0 or hi > 255.0:
    raise ValueError(f'{what}: float pixels must lie in [0, 1] (or [0, 255]), got [{lo}, {hi}]')
  # Floats above 1 are read as 0..255 images; the scale is chosen per array, not per image, so
  # a dark image in a [0, 1] set is never rescaled on its own.
  return images / 255.0 if hi > 1.0 else images


def convert_images(images: np.ndarray, image_shape=None, what: str = 'images') -> np.ndarray:
  """Resizes, sets channels and quantises a stack of same-sized images.

  Args:
    images: [N, H, W] or [N, H, W, C] (C in {1, 3, 4}) images, uint8 / bool in [0, 255] or float
      in [0, 1] (or [0, 255]).
    image_shape: target (H, W, C) with C in {1, 3}; None keeps size and channels.
    what: name used in error messages (file, class).

  Returns:
    uint8 [N, H', W', C'] images.

  Raises:
    ValueError: if the array has a bad rank, bad channel count, NaN pixels or out-of-range values.
  """
  images = np.asarray(images)
  if images.ndim == 3:
    images = images[..., None]
  if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
    raise ValueError(f'{what}: expected images shaped [N, H, W] or [N, H, W, C] with C in '
                     f'{{1, 3, 4}}, got {images.shape}')
  if images.shape[-1] == 4:  # RGBA: drop alpha.
    images = images[..., :3]
  if image_shape is None:
    if images.dtype == np.uint8:
      return images
    return np.round(_to_float01(images, what) * 255.0).astype(np.uint8)
  h, w, c = (int(d) for d in image_shape)
  if c not in (1, 3):
    raise ValueError(f'{what}: image_shape channels must be 1 (grey) or 3 (RGB), got {c}')
  x = images
  if x.shape[-1] != c:
    x = _to_float01(x, what)
    if c == 1:  # ITU-R 601 luma, as PIL's convert('L').
      x = x @ np.array([0.299, 0.587, 0.114], np.float32)[:, None]
    else:
      x = np.repeat(x, 3, axis=-1)
  if x.shape[1:3] != (h, w):
    x = _resize(_to_float01(x, what), h, w)
  if x.dtype == np.uint8:
    return x
  return np.round(np.clip(_to_float01(x, what), 0.0, 1.0) * 255.0).astype(np.uint8)


def _resize(x: np.ndarray, h: int, w: int) -> np.ndarray:
  """Antialiased resize of float [N, H, W, C] in [0, 1], in chunks to bound memory."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  (keeps sources importable fast)
  out = []
  for i in range(0, len(x), 4096):
    out.append(tf.image.resize(x[i:i + 4096], (h, w), method='bilinear', antialias=True).numpy())
  return np.concatenate(out) if out else np.zeros((0, h, w, x.shape[-1]), np.float32)


def from_class_arrays(arrays: typing.Sequence[np.ndarray], class_names: typing.Sequence[str],
                      image_shape=None, name: str = 'images') -> ClassImages:
  """Builds a ClassImages from one image array per class.

  Args:
    arrays: per class, [n_c, H, W] or [n_c, H, W, C] images (uint8 0..255 or float 0..1).
    class_names: one name per class.
    image_shape: target (H, W, C); None keeps the stored size, which must then be the same for
      every class.
    name: description of the data for error messages.

  Returns:
    A ClassImages.

  Raises:
    ValueError: on mixed image sizes without a target shape, NaN pixels, or a name count mismatch.
  """
  if len(arrays) != len(class_names):
    raise ValueError(f'{name}: {len(arrays)} image arrays but {len(class_names)} class names')
  parts = []
  for arr, cname in zip(arrays, class_names):
    parts.append(convert_images(arr, image_shape, what=f'{name}, class {cname!r}'))
  if image_shape is None and parts:
    shapes = {p.shape[1:] for p in parts}
    if len(shapes) > 1:
      first = parts[0].shape[1:]
      bad = next(n for n, p in zip(class_names, parts) if p.shape[1:] != first)
      raise ValueError(f'{name}: images of mixed sizes ({sorted(shapes)}), e.g. class {bad!r} is '
                       f'not {first}; pass image_shape to resize them')
  counts = [len(p) for p in parts]
  images = np.concatenate(parts) if parts else np.zeros((0, 1, 1, 1), np.uint8)
  return ClassImages(images=np.ascontiguousarray(images),
                     offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
                     class_names=tuple(str(n) for n in class_names), name=name)


def from_labelled(images: np.ndarray, labels: np.ndarray, image_shape=None,
                  name: str = 'images', class_names=None) -> ClassImages:
  """Builds a ClassImages from a flat labelled array (`images` [N, ...], `labels` [N]).

  Args:
    images: [N, H, W] or [N, H, W, C] images.
    labels: [N] integer (or string) class labels.
    image_shape: target (H, W, C) or None.
    name: description for error messages.
    class_names: optional names indexed by integer label value.

  Returns:
    A ClassImages with classes in sorted label order.

  Raises:
    ValueError: if labels are not integers/strings, or the lengths differ.
  """
  labels = np.asarray(labels)
  if labels.ndim != 1 or len(labels) != len(images):
    raise ValueError(f'{name}: labels must be [N] with N = {len(images)} images, got '
                     f'{labels.shape}')
  if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype.kind in 'US'):
    raise ValueError(f'{name}: labels must be integers (or strings), got dtype {labels.dtype}')
  uniq, inverse = np.unique(labels, return_inverse=True)
  order = np.argsort(inverse, kind='stable')
  converted = convert_images(np.asarray(images)[order], image_shape, what=name)
  counts = np.bincount(inverse, minlength=len(uniq))
  if class_names is not None and np.issubdtype(labels.dtype, np.integer):
    names = tuple(str(class_names[int(u)]) for u in uniq)
  else:
    names = tuple(str(u) for u in uniq)
  return ClassImages(images=np.ascontiguousarray(converted),
                     offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
                     class_names=names, name=name)


def with_rotations(ci: ClassImages, angles=(0, 90, 180, 270)) -> ClassImages:
  """Adds rotated copies of every class as new classes (the Omniglot convention).

  Class order is class-major: c0/rot0, c0/rot90, ..., c1/rot0, ... Rotation is counter-clockwise
  by k * 90 degrees (np.rot90), which is exact for square images.

  Args:
    ci: square images.
    angles: multiples of 90 degrees.

  Returns:
    A ClassImages with len(angles) times as many classes.

  Raises:
    ValueError: for an angle that is not a multiple of 90 or non-square images.
  """
  h, w, _ = ci.image_shape
  if any(a % 90 for a in angles):
    raise ValueError(f'rotation angles must be multiples of 90, got {angles}')
  if h != w and any(a % 180 for a in angles):
    raise ValueError(f'{ci.name}: 90-degree rotations need square images, got {h}x{w}')
  parts, names = [], []
  for c in range(ci.num_classes):
    block = ci.images[ci.offsets[c]:ci.offsets[c + 1]]
    for a in angles:
      parts.append(np.rot90(block, k=(a // 90) % 4, axes=(1, 2)))
      names.append(f'{ci.class_names[c]}/rot{a:03d}')
  counts = [len(p) for p in parts]
  return ClassImages(images=np.ascontiguousarray(np.concatenate(parts)),
                     offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
                     class_names=tuple(names), name=f'{ci.name} (+rotations)')
