"""Image-folder source: one (possibly nested) sub-folder per class.

Understood layouts (a class is any folder that directly holds image files; its name is the path
relative to the root, so nesting is kept in the class name):

* flat, miniImageNet style: `root/<class>/*.jpg`, with optional split folders
  `root/{train,val,test}/<class>/*.jpg` selected by `split`;
* nested, the original Omniglot zips: `root/<alphabet>/<character>/*.png`, with optional
  `root/images_{background,evaluation}/...` selected by `split`.

Original Omniglot PNGs draw black ink on white; pass `invert=True` to get the `.npz` polarity
(ink = 1.0) that the shared Omniglot files and MNIST use.
"""

from __future__ import annotations

import os

import numpy as np

from taml_tf.data import class_images as ci_lib

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.gif', '.ppm', '.pgm', '.webp', '.tif',
                    '.tiff')


def find_class_folders(root: str) -> list:
  """Returns sorted (class_name, [file paths]) for every folder under root holding images."""
  out = []
  for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
    dirnames.sort()
    files = sorted(f for f in filenames if f.lower().endswith(IMAGE_EXTENSIONS))
    if files:
      rel = os.path.relpath(dirpath, root)
      out.append((rel.replace(os.sep, '/'), [os.path.join(dirpath, f) for f in files]))
  return sorted(out)


def resolve_split_root(root: str, split: str | None) -> str:
  """Picks `root/<split>` or `root/images_<split>` when such a split folder exists."""
  if split:
    for cand in (split, f'images_{split}'):
      if os.path.isdir(os.path.join(root, cand)):
        return os.path.join(root, cand)
  return root


def _read(path: str, image_shape, mode):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  try:
    with Image.open(path) as im:
      im = im.convert(mode)
      if image_shape is not None and im.size != (int(image_shape[1]), int(image_shape[0])):
        im = im.resize((int(image_shape[1]), int(image_shape[0])), Image.BILINEAR,
                       reducing_gap=None)
      return np.asarray(im, np.uint8)
  except (OSError, ValueError) as e:
    raise ValueError(f'cannot read image {path}: {e}') from e


def load_folder(root: str, split: str | None = None, image_shape=None,
                invert: bool = False) -> ci_lib.ClassImages:
  """Loads every class folder under `root` (see module docstring for layouts).

  Args:
    root: the data folder.
    split: optional split sub-folder (`train`, `val`, `test`, `background`, `evaluation`).
    image_shape: target (H, W, C), C = 1 (grey, PIL 'L') or 3 ('RGB'); None keeps the stored size,
      which must then be the same for every image.
    invert: 255 - pixel (for black-on-white drawings such as the Omniglot PNGs).

  Returns:
    A ClassImages with classes sorted by relative path.

  Raises:
    FileNotFoundError: if root does not exist or holds no images.
    ValueError: mixed image sizes (without image_shape), an unreadable image.
  """
  if not os.path.isdir(root):
    raise FileNotFoundError(f'image folder not found: {root}')
  base = resolve_split_root(root, split)
  classes = find_class_folders(base)
  if not classes:
    raise FileNotFoundError(f'no image files ({", ".join(IMAGE_EXTENSIONS)}) under {base}')
  if image_shape is not None:
    mode = 'L' if int(image_shape[2]) == 1 else 'RGB'
  else:
    from PIL import Image  # pylint: disable=g-import-not-at-top
    try:
      with Image.open(classes[0][1][0]) as im:
        mode = 'L' if im.mode in ('1', 'L', 'I', 'I;16') else 'RGB'
    except (OSError, ValueError) as e:
      raise ValueError(f'cannot read image {classes[0][1][0]}: {e}') from e
  arrays, names, first = [], [], None
  for cname, files in classes:
    imgs = []
    for f in files:
      x = _read(f, image_shape, mode)
      if first is None:
        first = (x.shape, f)
      elif image_shape is None and x.shape != first[0]:
        raise ValueError(f'{base}: images of mixed sizes: {f} is {x.shape[:2]} but {first[1]} is '
                         f'{first[0][:2]}; pass image_shape to resize them')
      imgs.append(x)
    arr = np.stack(imgs)
    if invert:
      arr = 255 - arr
    arrays.append(arr)
    names.append(cname)
  return ci_lib.from_class_arrays(arrays, names, None, name=f'folder {base}')
