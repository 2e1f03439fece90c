"""TFDS source: a TensorFlow Datasets split turned into ClassImages, with few-shot class splits.

Known data sets and the class split each few-shot `split` selects (`all` = every class of the
named TFDS split; class indices are the TFDS label ids):

| name | split -> classes | images from TFDS split |
|---|---|---|
| omniglot | background (964) / evaluation (659); `rotations` x4 | train / test |
| cifar100 (CIFAR-FS) | train 64 / val 16 / test 20 (Bertinetto et al. 2019 class lists) | train+test |
| caltech_birds2011 (CUB) | train 100 / val 50 / test 50: label i%2==0 / i%4==1 / i%4==3 (Chen et al. 2019) | train+test |
| oxford_flowers102 (VGG Flower) | train 71 / val 15 / test 16: label ranges [0,71) [71,86) [86,102) | train+validation+test |
| quickdraw_bitmap | train 241 / val 52 / test 52: label ranges (70/15/15 %) | train (first `max_per_class` per class) |
| mnist, fashion_mnist, kmnist, svhn_cropped, any other | all classes (out-of-distribution sets) | test (or `tfds_split=`) |

FGVC-Aircraft and GTSRB (traffic signs), members of the multi-data-set experiment, are not TFDS
builders in tensorflow-datasets 4.9; bring them as image folders (folder_source).

The CIFAR-FS val/test lists are the ones of Bertinetto et al. (ICLR 2019, `r2d2` split files);
train is the remaining 64 CIFAR-100 classes.
"""

from __future__ import annotations

import numpy as np

from taml_tf.data import class_images as ci_lib

CIFAR_FS_VAL = ('otter', 'motorcycle', 'television', 'lamp', 'crocodile', 'shark', 'butterfly',
                'beaver', 'beetle', 'tractor', 'flatfish', 'maple_tree', 'camel', 'crab', 'sea',
                'cattle')
CIFAR_FS_TEST = ('baby', 'bed', 'bicycle', 'chimpanzee', 'fox', 'leopard', 'man', 'pickup_truck',
                 'plain', 'poppy', 'rocket', 'rose', 'snail', 'sweet_pepper', 'table', 'telephone',
                 'wardrobe', 'whale', 'woman', 'worm')

# CIFAR-100 fine label names in label-id order (the order of the data set's meta file, which TFDS
# uses). Kept here because TFDS only knows the names once the data set has been prepared.
CIFAR100_FINE = (
    'apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus '
    'butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch '
    'crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo '
    'keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse '
    'mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy '
    'porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper '
    'snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television '
    'tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm').split()


def _ranges(bounds):
  def pick(split, num_classes):
    idx = np.arange(num_classes)
    lo = {'train': 0, 'val': bounds[0], 'test': bounds[1]}[split]
    hi = {'train': bounds[0], 'val': bounds[1], 'test': num_classes}[split]
    return idx[(idx >= lo) & (idx < hi)]
  return pick


def _cub(split, num_classes):
  idx = np.arange(num_classes)
  return {'train': idx[idx % 2 == 0], 'val': idx[idx % 4 == 1], 'test': idx[idx % 4 == 3]}[split]


def _quickdraw(split, num_classes):
  a, b = int(round(0.7 * num_classes)), int(round(0.85 * num_classes))
  return _ranges((a, b))(split, num_classes)


# TFDS builder -> (TFDS split the images come from, few-shot class picker: 'cifar_fs' or
# picker(split, num_classes)); the image shapes and friendly names: registry.DATASETS.
KNOWN = {
    'omniglot': None,  # handled separately (background/evaluation are TFDS splits).
    'cifar100': ('train+test', 'cifar_fs'),
    'caltech_birds2011': ('train+test', _cub),
    'oxford_flowers102': ('train+validation+test', _ranges((71, 86))),
    'quickdraw_bitmap': ('train', _quickdraw),
}
FEW_SHOT_SPLITS = ('train', 'val', 'test', 'all')


def _import_tfds():
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  return tfds


def _cifar_fs(split, names):
  names = list(names)
  if names == [str(i) for i in range(len(names))]:  # Unprepared builder: numeric names only.
    names = list(CIFAR100_FINE)
  if split == 'val':
    wanted = CIFAR_FS_VAL
  elif split == 'test':
    wanted = CIFAR_FS_TEST
  else:
    held = set(CIFAR_FS_VAL) | set(CIFAR_FS_TEST)
    wanted = [n for n in names if n not in held]
  missing = [w for w in wanted if w not in names]
  if missing:
    raise ValueError(f'cifar100 label names lack CIFAR-FS classes {missing}')
  return np.array(sorted(names.index(w) for w in wanted))


def _load_split(name, tfds_split, image_shape, data_dir, download, max_per_class=None,
                invert=False, label_key='label'):
  """Reads a TFDS split into (uint8 images [N, H, W, C], int labels [N], label names)."""
  tfds = _import_tfds()
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  try:
    ds, info = tfds.load(name, split=tfds_split, data_dir=data_dir, download=download,
                         with_info=True, shuffle_files=False)
  except Exception as e:  # pylint: disable=broad-except  (TFDS raises many types; re-raise clearly)
    raise FileNotFoundError(
        f'TFDS data set {name!r} split {tfds_split!r} is not available in data_dir={data_dir!r} '
        f'and could not be prepared ({type(e).__name__}: {str(e)[:300]}); download it with '
        f'`tfds build {name}` on a machine with internet, or point TAML_DATA_DIR at a copy') from e
  label_feature = info.features[label_key]
  names = list(getattr(label_feature, 'names', None) or
               [str(i) for i in range(label_feature.num_classes)])
  h, w, c = (int(d) for d in image_shape)

  def convert(ex):
    img = tf.image.convert_image_dtype(ex['image'], tf.float32)
    if img.shape[-1] != c:
      img = tf.image.rgb_to_grayscale(img) if c == 1 else tf.image.grayscale_to_rgb(img)
    img = tf.image.resize(img, (h, w), antialias=True)
    if invert:
      img = 1.0 - img
    img = tf.cast(tf.round(tf.clip_by_value(img, 0.0, 1.0) * 255.0), tf.uint8)
    return img, tf.cast(ex[label_key], tf.int64)

  ds = ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)
  images, labels = [], []
  if max_per_class:
    seen = np.zeros(len(names), np.int64)
    for img, lab in tfds.as_numpy(ds):
      if seen[lab] < max_per_class:
        seen[lab] += 1
        images.append(img)
        labels.append(lab)
        if seen.min() >= max_per_class:
          break
    images = np.stack(images) if images else np.zeros((0, h, w, c), np.uint8)
    labels = np.array(labels, np.int64)
  else:
    for img, lab in tfds.as_numpy(ds.batch(1024)):
      images.append(img)
      labels.append(lab)
    images = np.concatenate(images) if images else np.zeros((0, h, w, c), np.uint8)
    labels = np.concatenate(labels) if labels else np.zeros((0,), np.int64)
  return images, labels, names


def load_tfds(name: str, split: str = 'train', image_shape=(28, 28, 1),
              data_dir: str | None = None, download: bool = False, rotations: bool = False,
              tfds_split: str | None = None, max_per_class: int | None = None
              ) -> ci_lib.ClassImages:
  """Loads a few-shot split of a TFDS data set (see the module table).

  Args:
    name: TFDS builder name.
    split: few-shot split: train / val / test / all (omniglot: background / evaluation, with
      train -> background and test -> evaluation).
    image_shape: target (H, W, C).
    data_dir: TFDS data dir (None: TFDS default).
    download: let TFDS download and prepare the data set if it is missing.
    rotations: Omniglot only: add rotated copies as extra classes.
    tfds_split: override the TFDS split the images are read from.
    max_per_class: keep at most this many images per class (QuickDraw defaults to 100).

  Returns:
    A ClassImages; class names are the TFDS label names.

  Raises:
    ValueError: unknown split.
    FileNotFoundError: the data set is not prepared and cannot be downloaded.
  """
  tfds = _import_tfds()
  # Only the builders installed with TFDS: listing the community ones creates
  # ~/.cache/tensorflow_datasets (and fetches an index from GCS), which fails where HOME is
  # read-only (Bazel's sandbox) and writes outside any data_dir; their `namespace:name` form
  # clashes with `name:split` here anyway.
  if name not in tfds.list_builders(with_community_datasets=False):
    raise ValueError(f'unknown data set {name!r}: not a file, folder, known name or TFDS builder')
  if name == 'omniglot':
    part = {'train': 'background', 'test': 'evaluation'}.get(split, split)
    if part not in ('background', 'evaluation'):
      raise ValueError(f'omniglot from TFDS has splits background/evaluation (train/test), got '
                       f'{split!r}; for the Vinyals split use omniglot_28x28.npz')
    images, labels, names = _load_split(
        name, tfds_split or {'background': 'train', 'evaluation': 'test'}[part], image_shape,
        data_dir, download, invert=True)
    out = ci_lib.from_labelled(images, labels, None, name=f'tfds:omniglot:{part}',
                               class_names=names)
    return ci_lib.with_rotations(out) if rotations else out
  if split not in FEW_SHOT_SPLITS:
    raise ValueError(f'{name}: unknown split {split!r}; expected one of {FEW_SHOT_SPLITS}')
  known = KNOWN.get(name)
  default_split = known[0] if known else 'test'
  if name == 'quickdraw_bitmap' and max_per_class is None:
    max_per_class = 100  # The full set is 50M drawings; a few-shot source needs a few per class.
  images, labels, names = _load_split(name, tfds_split or default_split, image_shape, data_dir,
                                      download, max_per_class=max_per_class)
  if known and split != 'all':
    picker = _cifar_fs if known[1] == 'cifar_fs' else known[1]
    classes = picker(split, names) if picker is _cifar_fs else picker(split, len(names))
    keep = np.isin(labels, classes)
    images, labels = images[keep], labels[keep]
  if name == 'cifar100' and names == [str(i) for i in range(len(names))]:
    names = list(CIFAR100_FINE)
  return ci_lib.from_labelled(images, labels, None, name=f'tfds:{name}:{split}',
                              class_names=names)
