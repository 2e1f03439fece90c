"""Sources read from `.npz` files: Omniglot (class-major arrays) and labelled image arrays.

Two layouts are understood, the ones in `../shared/data` (see its PROVENANCE.md):

* class-major: `<split>_images` [classes, drawings, H, W] (Omniglot `omniglot_28x28.npz`, 255 =
  ink) or `<split>_ink_bits` [classes, drawings, 105, 14] packed bits (`omniglot_105x105_bits.npz`,
  1 = ink), with optional `<split>_alphabet` / `<split>_character` name arrays;
* labelled: `images` [N, H, W(, C)] and integer `labels` [N] (`mnist_test.npz`, or any file of
  that layout), optionally `class_names` [num_classes].

Omniglot splits (class counts without / with the 4 rotations):

| split | classes | rotated |
|---|---|---|
| background | 964 (30 alphabets) | 3856 |
| evaluation | 659 (20 alphabets) | 2636 |
| background_train | 964 minus the 5 held-out alphabets | x4 |
| background_val | the 5 alphabets at positions 5, 11, 17, 23, 29 of `background_alphabets` | x4 |
| vinyals_train / _val / _test / _trainval | 4112 / 688 / 1692 / 4800 (rotations are part of the split) | - |

The held-out validation alphabets are every sixth background alphabet (positions i % 6 == 5 in
the file's `background_alphabets` order, i.e. char-id order) so that validation spans the whole
id range rather than the last few scripts; a whole alphabet is held out (never single
characters) so validation measures transfer to new scripts, as evaluation does.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from taml_tf.data import class_images as ci_lib

OMNIGLOT_SPLITS = ('background', 'evaluation', 'background_train', 'background_val',
                   'vinyals_train', 'vinyals_val', 'vinyals_test', 'vinyals_trainval')
# Short names used by the training binaries.
OMNIGLOT_ALIASES = {'train': 'background_train', 'val': 'background_val', 'test': 'evaluation',
                    'validation': 'background_val'}
ROTATIONS = (0, 90, 180, 270)
VAL_ALPHABET_EVERY = 6


def open_npz(path: str):
  """Opens an `.npz` with a clear error for a missing or corrupt file.

  Args:
    path: file path.

  Returns:
    A dict of numpy arrays (loaded eagerly so the file handle is closed).

  Raises:
    FileNotFoundError: if the file does not exist.
    ValueError: if it is not a readable `.npz` (names the file).
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f'data file not found: {path}')
  try:
    with np.load(path, allow_pickle=False) as f:
      return {k: f[k] for k in f.files}
  except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as e:
    raise ValueError(f'{path}: not a readable .npz file ({type(e).__name__}: {e})') from e


def _omniglot_split_arrays(arrays: dict, part: str, path: str, use_bits: bool):
  """Returns (uint8 [C, 20, H, W] images with 255 = ink, names [C]) of background/evaluation."""
  if use_bits:
    key = f'{part}_ink_bits'
    if key not in arrays:
      raise ValueError(f'{path}: has no array {key!r} (keys: {sorted(arrays)})')
    imgs = np.unpackbits(arrays[key], axis=-1, count=105) * np.uint8(255)
  else:
    key = f'{part}_images'
    if key not in arrays:
      raise ValueError(f'{path}: has no array {key!r} (keys: {sorted(arrays)})')
    imgs = arrays[key]
  if imgs.ndim != 4:
    raise ValueError(f'{path}: {key} must be [classes, drawings, H, W], got {imgs.shape}')
  alpha = arrays.get(f'{part}_alphabet')
  char = arrays.get(f'{part}_character')
  if alpha is not None and char is not None:
    names = np.array([f'{a}/{c}' for a, c in zip(alpha, char)])
  else:
    names = np.array([f'{part}/{i:04d}' for i in range(len(imgs))])
  return imgs, names


def load_omniglot(path: str, split: str = 'background', image_shape=(28, 28, 1),
                  rotations: bool = False, bits_path: str | None = None,
                  vinyals_dir: str | None = None) -> ci_lib.ClassImages:
  """Loads an Omniglot split from the shared `.npz` files.

  Args:
    path: `omniglot_28x28.npz` (or any file with the same keys).
    split: one of OMNIGLOT_SPLITS or OMNIGLOT_ALIASES.
    image_shape: target (H, W, C). When (H, W) is not 28x28 and `bits_path` is given, images are
      resized from the original 105x105 drawings instead of upsampling the 28x28 ones.
    rotations: add 90/180/270-degree rotations as extra classes (background/evaluation splits;
      the Vinyals splits always carry their own rotations).
    bits_path: optional `omniglot_105x105_bits.npz`.
    vinyals_dir: folder with the Vinyals `{train,val,test,trainval}.txt` (default:
      `omniglot_vinyals_splits` next to `path`).

  Returns:
    A ClassImages (ink = 1.0 after scaling, background = 0.0).

  Raises:
    FileNotFoundError: missing data or split file.
    ValueError: unknown split, or a malformed file.
  """
  split = OMNIGLOT_ALIASES.get(split, split)
  if split not in OMNIGLOT_SPLITS:
    raise ValueError(f'unknown Omniglot split {split!r}; expected one of '
                     f'{OMNIGLOT_SPLITS + tuple(OMNIGLOT_ALIASES)}')
  h, w = int(image_shape[0]), int(image_shape[1])
  use_bits = bits_path is not None and (h, w) != (28, 28)
  arrays = open_npz(bits_path if use_bits else path)
  src = bits_path if use_bits else path
  name = f'omniglot:{split} ({os.path.basename(src)})'

  if split.startswith('vinyals_'):
    vinyals_dir = vinyals_dir or os.path.join(os.path.dirname(path), 'omniglot_vinyals_splits')
    split_file = os.path.join(vinyals_dir, split[len('vinyals_'):] + '.txt')
    if not os.path.isfile(split_file):
      raise FileNotFoundError(f'Vinyals split file not found: {split_file}')
    with open(split_file) as f:
      lines = [ln.strip() for ln in f if ln.strip()]
    table = {}
    parts = {}
    for part in ('background', 'evaluation'):
      imgs, names = _omniglot_split_arrays(arrays, part, src, use_bits)
      parts[part] = imgs
      for i, n in enumerate(names):
        table[str(n)] = (part, i)
    # Convert each needed character once, then rotate the converted uint8 block.
    cache = {}
    blocks, class_names = [], []
    for ln in lines:
      try:
        char_key, rot = ln.rsplit('/', 1)
        angle = int(rot[len('rot'):])
        part, row = table[char_key]
      except (KeyError, ValueError) as e:
        raise ValueError(f'{split_file}: line {ln!r} names no character of {src}') from e
      if char_key not in cache:
        cache[char_key] = ci_lib.convert_images(parts[part][row], image_shape,
                                                what=f'{name}, class {char_key!r}')
      if angle % 90:
        raise ValueError(f'{split_file}: rotation in {ln!r} is not a multiple of 90')
      blocks.append(np.rot90(cache[char_key], k=(angle // 90) % 4, axes=(1, 2)))
      class_names.append(ln)
    return ci_lib.from_class_arrays(blocks, class_names, None, name=name)

  part = 'evaluation' if split == 'evaluation' else 'background'
  imgs, names = _omniglot_split_arrays(arrays, part, src, use_bits)
  rows = np.arange(len(imgs))
  if split in ('background_train', 'background_val'):
    alpha = arrays.get('background_alphabet')
    order = arrays.get('background_alphabets')
    if alpha is None or order is None:
      raise ValueError(f'{src}: needs background_alphabet and background_alphabets arrays to make '
                       f'the {split} split')
    val_alphabets = set(str(a) for i, a in enumerate(order)
                        if i % VAL_ALPHABET_EVERY == VAL_ALPHABET_EVERY - 1)
    in_val = np.array([str(a) in val_alphabets for a in alpha])
    rows = rows[in_val] if split == 'background_val' else rows[~in_val]
  # One vectorised conversion over all drawings of the split (resize is the slow part).
  sel = imgs[rows]
  c, n = sel.shape[:2]
  flat = ci_lib.convert_images(sel.reshape((c * n,) + sel.shape[2:]), image_shape, what=name)
  per_class = flat.reshape((c, n) + flat.shape[1:])
  out = ci_lib.from_class_arrays(list(per_class), [str(x) for x in names[rows]], None, name=name)
  if rotations:
    out = ci_lib.with_rotations(out, ROTATIONS)
  return out


def is_omniglot_npz(path: str) -> bool:
  """Whether a file has the Omniglot class-major keys (checked without loading the arrays)."""
  try:
    with np.load(path, allow_pickle=False) as f:
      keys = set(f.files)
  except Exception:  # pylint: disable=broad-except  (any unreadable file is "not Omniglot")
    return False
  return bool({'background_images', 'background_ink_bits'} & keys)


def load_labelled_npz(path: str, image_shape=None, classes=None) -> ci_lib.ClassImages:
  """Loads a labelled `.npz` (`images` [N, H, W(, C)], `labels` [N], optional `class_names`).

  Args:
    path: the file.
    image_shape: target (H, W, C) or None to keep the stored size.
    classes: optional list of label values to keep (e.g. a class split); None keeps all.

  Returns:
    A ClassImages with classes in sorted label order.

  Raises:
    FileNotFoundError: missing file.
    ValueError: missing keys, non-integer labels, NaN pixels, unknown classes.
  """
  arrays = open_npz(path)
  for key in ('images', 'labels'):
    if key not in arrays:
      raise ValueError(f'{path}: a labelled .npz needs arrays "images" and "labels"; found '
                       f'{sorted(arrays)}')
  images, labels = arrays['images'], arrays['labels']
  if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype.kind in 'US'):
    raise ValueError(f'{path}: labels must be integers, got dtype {labels.dtype}')
  if classes is not None:
    wanted = np.asarray(list(classes), dtype=labels.dtype)
    missing = sorted(set(wanted.tolist()) - set(np.unique(labels).tolist()))
    if missing:
      raise ValueError(f'{path}: classes {missing} do not occur in labels')
    keep = np.isin(labels, wanted)
    images, labels = images[keep], labels[keep]
  return ci_lib.from_labelled(images, labels, image_shape, name=os.path.basename(path),
                              class_names=arrays.get('class_names'))
