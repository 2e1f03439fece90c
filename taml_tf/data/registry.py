"""`build_source`: one entry point that turns a data-set name or path into ClassImages.

Resolution order for `name_or_path` (optionally suffixed `:split`, e.g. `omniglot:evaluation`):

1. `embedded` / `embedded_ood`: the offline default (embedded.py);
2. `omniglot`, `mnist`: the files in `data_dir` exactly as they are (`omniglot_28x28.npz` +
   `omniglot_105x105_bits.npz` + `omniglot_vinyals_splits/`, `mnist_test.npz`), else TFDS;
3. an existing `.npz` file (Omniglot class-major keys or labelled `images`/`labels`);
4. an existing folder (one sub-folder per class, nested or flat);
5. a TFDS builder name (cifar100 = CIFAR-FS, caltech_birds2011, svhn_cropped, ...).

`data_dir` defaults to `$TAML_DATA_DIR`, else `<repo>/../shared/data`.
"""

from __future__ import annotations

import os
import typing

from taml_tf.data import class_images as ci_lib
from taml_tf.data import embedded
from taml_tf.data import folder_source
from taml_tf.data import npz_source
from taml_tf.data import tfds_source

DATA_DIR_ENV = 'TAML_DATA_DIR'
OMNIGLOT_FILE = 'omniglot_28x28.npz'
OMNIGLOT_BITS_FILE = 'omniglot_105x105_bits.npz'
MNIST_FILE = 'mnist_test.npz'


class Dataset(typing.NamedTuple):
  """What the package knows about a named data set.

  Attributes:
    image_shape: the conventional (H, W, C) (the paper: 28x28 grey for Omniglot and MNIST,
      32x32x3 for CIFAR-FS / SVHN / the multi-data-set experiment, 84x84x3 for CUB).
    tfds_builder: the TFDS builder its images come from when no local file is used (None:
      never read from TFDS). How a builder's classes are split into train / val / test:
      ``tfds_source.KNOWN``.
  """

  image_shape: tuple
  tfds_builder: typing.Optional[str]


_GREY28, _RGB32, _RGB84 = (28, 28, 1), (32, 32, 3), (84, 84, 3)
# The one table of named data sets; a friendly name whose builder differs is an alias of it.
DATASETS = {
    'embedded': Dataset(_GREY28, None),
    'embedded_ood': Dataset(_GREY28, None),
    'omniglot': Dataset(_GREY28, 'omniglot'),
    'mnist': Dataset(_GREY28, 'mnist'),
    'cifar100': Dataset(_RGB32, 'cifar100'),
    'cifar_fs': Dataset(_RGB32, 'cifar100'),
    'caltech_birds2011': Dataset(_RGB84, 'caltech_birds2011'),
    'cub': Dataset(_RGB84, 'caltech_birds2011'),
    'svhn_cropped': Dataset(_RGB32, 'svhn_cropped'),
    'svhn': Dataset(_RGB32, 'svhn_cropped'),
    'fashion_mnist': Dataset(_GREY28, 'fashion_mnist'),
    'oxford_flowers102': Dataset(_RGB32, 'oxford_flowers102'),
    'vgg_flower': Dataset(_RGB32, 'oxford_flowers102'),
    'quickdraw_bitmap': Dataset(_RGB32, 'quickdraw_bitmap'),
    'quickdraw': Dataset(_RGB32, 'quickdraw_bitmap'),
    'kmnist': Dataset(_GREY28, 'kmnist'),
}
KNOWN_NAMES = tuple(DATASETS)
# Friendly names -> TFDS builder names.
TFDS_ALIASES = {name: d.tfds_builder for name, d in DATASETS.items()
                if d.tfds_builder not in (None, name)}
DEFAULT_IMAGE_SHAPE = _GREY28


def default_image_shape(dataset: str) -> tuple:
  """The conventional (H, W, C) for a data set name, `name:split` or path (28x28x1 if unknown)."""
  base = os.path.basename(dataset.split(':')[0].rstrip('/')).lower()
  known = DATASETS.get(base)
  return known.image_shape if known else DEFAULT_IMAGE_SHAPE


def default_data_dir() -> str:
  """`$TAML_DATA_DIR`, else `../shared/data` next to the repository root."""
  env = os.environ.get(DATA_DIR_ENV)
  if env:
    return env
  repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  return os.path.join(os.path.dirname(repo), 'shared', 'data')


def _split_name(name_or_path: str, split: str | None):
  """Splits `name:split` for known names (never for paths, which may contain ':')."""
  if ':' in name_or_path and not os.path.exists(name_or_path):
    base, _, sub = name_or_path.partition(':')
    if base in KNOWN_NAMES or base in TFDS_ALIASES or '/' not in base:
      return base, sub or split
  return name_or_path, split


def build_source(name_or_path: str, split: str | None = 'train', image_shape=(28, 28, 1),
                 data_dir: str | None = None, rotations: bool = False, download: bool = False,
                 way: int | None = None, query: int | None = None, min_shot: int = 1,
                 invert: bool = False) -> ci_lib.ClassImages:
  """Builds the ClassImages of one split of a data set.

  Args:
    name_or_path: a known name (KNOWN_NAMES), `name:split`, a `.npz` path, an image folder or a
      TFDS builder name.
    split: the few-shot split (omniglot: background / evaluation / train / val / test /
      vinyals_{train,val,test,trainval}; embedded: train / val / test / all; TFDS: train / val /
      test / all; labelled npz: ignored, all classes; folders: optional sub-folder).
    image_shape: (H, W, C) every image is resized to; C = 1 grey or 3 RGB.
    data_dir: where the shared files live; None -> default_data_dir(). Also the TFDS data_dir.
    rotations: Omniglot background/evaluation: add rotated copies as extra classes.
    download: allow TFDS to download a missing data set.
    way, query, min_shot: when given, check now that every task can be filled (see
      ClassImages.check_task_fit), so bad settings fail at start-up rather than mid-training.
    invert: image folders only: 255 - pixel (black-on-white drawings such as Omniglot PNGs).

  Returns:
    A ClassImages.

  Raises:
    FileNotFoundError: a path that does not exist, or a data set that is not available.
    ValueError: an unknown name or split, a corrupt file, or data too small for way / query.
  """
  if not isinstance(name_or_path, str) or not name_or_path:
    raise ValueError(f'data set must be a non-empty name or path, got {name_or_path!r}')
  if image_shape is None or len(image_shape) != 3 or int(image_shape[2]) not in (1, 3):
    raise ValueError(f'image_shape must be (H, W, C) with C in {{1, 3}}, got {image_shape}')
  image_shape = tuple(int(d) for d in image_shape)
  data_dir = data_dir or default_data_dir()
  name, split = _split_name(name_or_path, split)
  source = _build(name, split, image_shape, data_dir, rotations, download, invert)
  if way is not None or query is not None:
    source.check_task_fit(way or 1, query or 0, min_shot)
  return source


def _build(name, split, image_shape, data_dir, rotations, download, invert):
  key = name.lower()
  if key == 'embedded':
    return embedded.load_digits(split or 'train', image_shape)
  if key == 'embedded_ood':
    return embedded.load_photo_patches(image_shape)
  if key == 'omniglot':
    path = os.path.join(data_dir, OMNIGLOT_FILE)
    if os.path.isfile(path):
      bits = os.path.join(data_dir, OMNIGLOT_BITS_FILE)
      return npz_source.load_omniglot(path, split or 'background', image_shape, rotations,
                                      bits_path=bits if os.path.isfile(bits) else None)
    return tfds_source.load_tfds('omniglot', split or 'train', image_shape, _tfds_dir(data_dir),
                                 download, rotations=rotations)
  if key == 'mnist':
    path = os.path.join(data_dir, MNIST_FILE)
    if os.path.isfile(path):
      return npz_source.load_labelled_npz(path, image_shape)
    return tfds_source.load_tfds('mnist', 'all', image_shape, _tfds_dir(data_dir), download)
  path = os.path.expanduser(name)
  if os.path.isfile(path):
    if not path.endswith('.npz'):
      raise ValueError(f'{path}: data files must be .npz (or pass an image folder)')
    if npz_source.is_omniglot_npz(path):
      return npz_source.load_omniglot(path, split or 'background', image_shape, rotations)
    return npz_source.load_labelled_npz(path, image_shape)
  if os.path.isdir(path):
    return folder_source.load_folder(path, split, image_shape, invert=invert)
  if path.endswith('.npz') or os.sep in path or path.startswith('.'):
    raise FileNotFoundError(f'data file or folder not found: {path}')
  builder = TFDS_ALIASES.get(key, key)
  return tfds_source.load_tfds(builder, split or 'train', image_shape, _tfds_dir(data_dir),
                               download, rotations=rotations)


def _tfds_dir(data_dir):
  # The shared folder holds .npz files, not TFDS records; TFDS then uses its own default.
  tfds_dir = os.path.join(data_dir, 'tensorflow_datasets')
  return tfds_dir if os.path.isdir(tfds_dir) else None
