"""Tests of the data sources and the registry on the real data in ../shared/data."""

import os
import zipfile

import numpy as np
import pytest
from PIL import Image

from tests.data import data_util

from taml_tf.data import class_images
from taml_tf.data import embedded
from taml_tf.data import folder_source
from taml_tf.data import npz_source
from taml_tf.data import registry


@pytest.fixture(scope='module')
def omniglot_path():
  return data_util.real_file('omniglot_28x28.npz')


@pytest.fixture(scope='module')
def background(omniglot_path):
  return registry.build_source('omniglot', 'background', data_dir=os.path.dirname(omniglot_path))


def test_omniglot_background_evaluation_counts(background, omniglot_path):
  ev = registry.build_source('omniglot', 'evaluation', data_dir=os.path.dirname(omniglot_path))
  assert background.num_classes == 964 and ev.num_classes == 659
  assert set(background.counts) == {20} and set(ev.counts) == {20}
  assert background.image_shape == (28, 28, 1)
  x = background.class_images(0)
  assert x.dtype == np.float32 and x.min() >= 0.0 and x.max() <= 1.0
  # 255 = ink in the file: ink is the minority, so the mean is small (PROVENANCE: 0.081).
  assert 0.05 < float(background.gather(np.arange(2000)).mean()) < 0.12
  assert not set(background.class_names) & set(ev.class_names)


def test_omniglot_rotations_and_validation_alphabets(omniglot_path):
  d = os.path.dirname(omniglot_path)
  rot = registry.build_source('omniglot', 'background', data_dir=d, rotations=True)
  assert rot.num_classes == 4 * 964
  np.testing.assert_array_equal(rot.images[rot.offsets[1]:rot.offsets[2]],
                                np.rot90(rot.images[:20], 1, axes=(1, 2)))
  train = registry.build_source('omniglot', 'train', data_dir=d)
  val = registry.build_source('omniglot', 'val', data_dir=d)
  assert train.num_classes + val.num_classes == 964
  alphabets = lambda s: {n.split('/')[0] for n in s.class_names}
  assert len(alphabets(val)) == 5 and not alphabets(train) & alphabets(val)


def test_omniglot_vinyals_split_counts(omniglot_path):
  d = os.path.dirname(omniglot_path)
  counts = {s: registry.build_source('omniglot', 'vinyals_' + s, data_dir=d).num_classes
            for s in ('train', 'val', 'test')}
  assert counts == {'train': 4112, 'val': 688, 'test': 1692}
  test = registry.build_source('omniglot:vinyals_test', None, data_dir=d)
  assert test.class_names[0].count('/') == 2 and '/rot' in test.class_names[0]


def test_omniglot_105_bits_resize(omniglot_path):
  d = os.path.dirname(omniglot_path)
  data_util.real_file('omniglot_105x105_bits.npz')
  src = npz_source.load_omniglot(omniglot_path, 'background_val', (14, 14, 3),
                                 bits_path=os.path.join(d, 'omniglot_105x105_bits.npz'))
  assert src.image_shape == (14, 14, 3) and src.num_classes == 152
  np.testing.assert_array_equal(src.images[..., 0], src.images[..., 2])


def test_mnist_npz():
  path = data_util.real_file('mnist_test.npz')
  src = registry.build_source('mnist', 'test', data_dir=os.path.dirname(path))
  assert src.num_classes == 10
  np.testing.assert_array_equal(src.counts, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
  same = registry.build_source(path, None, image_shape=(32, 32, 3))
  assert same.image_shape == (32, 32, 3) and same.num_classes == 10


def test_embedded_default_splits():
  splits = {s: embedded.load_digits(s) for s in ('train', 'val', 'test')}
  assert [splits[s].num_classes for s in ('train', 'val', 'test')] == [18, 6, 6]
  digit = lambda n: n.split('/')[0]
  sets = [{digit(n) for n in splits[s].class_names} for s in splits]
  assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
  assert min(int(s.counts.min()) for s in splits.values()) > 150
  ood = registry.build_source('embedded_ood', 'test')
  assert ood.num_classes >= 20 and set(ood.counts) == {20}


def _write_omniglot_pngs(background, root, nested, num_classes=6):
  for c in range(num_classes):
    alphabet, character = background.class_names[c].split('/')
    folder = os.path.join(root, alphabet, character) if nested else os.path.join(root, f'cls{c}')
    os.makedirs(folder)
    for j in range(background.counts[c]):
      img = background.images[background.offsets[c] + j, ..., 0]
      Image.fromarray(255 - img, 'L').save(os.path.join(folder, f'{c:04d}_{j + 1:02d}.png'))


@pytest.mark.parametrize('nested', [True, False])
def test_image_folder_from_real_omniglot(background, tmp_path, nested):
  root = str(tmp_path / 'images_background')
  _write_omniglot_pngs(background, root, nested)
  # The split sub-folder `images_background` is found from its parent.
  src = registry.build_source(str(tmp_path), 'background', image_shape=(28, 28, 1), invert=True)
  assert src.num_classes == 6 and set(src.counts) == {20}
  if nested:
    assert list(src.class_names) == sorted(background.class_names[:6])
  order = [src.class_names.index(n) for n in (background.class_names[:6] if nested else
                                              [f'cls{c}' for c in range(6)])]
  for c, k in enumerate(order):
    np.testing.assert_array_equal(src.images[src.offsets[k]:src.offsets[k + 1]],
                                  background.images[background.offsets[c]:background.offsets[c + 1]])
  resized = folder_source.load_folder(root, image_shape=(16, 16, 3))
  assert resized.image_shape == (16, 16, 3)


# ---------------------------------------------------------------- bad input: clear, early errors.

def test_missing_file_and_unknown_name(tmp_path):
  with pytest.raises(FileNotFoundError, match='none.npz'):
    registry.build_source(str(tmp_path / 'none.npz'))
  with pytest.raises(ValueError, match="unknown data set 'no_such_set'"):
    registry.build_source('no_such_set')
  with pytest.raises(FileNotFoundError, match='omniglot_28x28.npz'):
    npz_source.load_omniglot(str(tmp_path / 'omniglot_28x28.npz'))
  with pytest.raises(ValueError, match='unknown Omniglot split'):
    registry.build_source('omniglot', 'nope', data_dir=os.path.dirname(
        data_util.real_file('omniglot_28x28.npz')))


def test_corrupt_npz(tmp_path):
  path = tmp_path / 'bad.npz'
  path.write_bytes(b'PK\x03\x04 this is not a zip')
  with pytest.raises(ValueError, match='bad.npz.*not a readable'):
    registry.build_source(str(path))
  missing = tmp_path / 'keys.npz'
  np.savez(missing, pixels=np.zeros((3, 4, 4)))
  with pytest.raises(ValueError, match='"images" and "labels"'):
    registry.build_source(str(missing))


def test_too_few_classes_or_images(tmp_path):
  path = tmp_path / 'small.npz'
  labels = np.repeat(np.arange(4), [10, 10, 10, 3])
  np.savez(path, images=np.zeros((len(labels), 8, 8), np.uint8), labels=labels)
  with pytest.raises(ValueError, match='has 4 classes but way=5'):
    registry.build_source(str(path), way=5, query=2)
  with pytest.raises(ValueError, match="class '3' has 3 images.*query=5"):
    registry.build_source(str(path), way=3, query=5)


def test_non_integer_labels_and_nan_pixels(tmp_path):
  path = tmp_path / 'floats.npz'
  np.savez(path, images=np.zeros((4, 8, 8), np.uint8), labels=np.array([0.5, 1, 0, 1]))
  with pytest.raises(ValueError, match='labels must be integers'):
    registry.build_source(str(path))
  path = tmp_path / 'nan.npz'
  images = np.zeros((4, 8, 8), np.float32)
  images[2, 3, 3] = np.nan
  np.savez(path, images=images, labels=np.array([0, 1, 0, 1]))
  with pytest.raises(ValueError, match='NaN'):
    registry.build_source(str(path))


def test_mixed_image_sizes(tmp_path):
  for c, size in enumerate((8, 9)):
    os.makedirs(tmp_path / f'c{c}')
    for j in range(3):
      Image.fromarray(np.zeros((size, size), np.uint8)).save(tmp_path / f'c{c}' / f'{j}.png')
  with pytest.raises(ValueError, match='mixed sizes'):
    folder_source.load_folder(str(tmp_path))
  with pytest.raises(ValueError, match='mixed sizes.*class'):
    class_images.from_class_arrays([np.zeros((2, 8, 8)), np.zeros((2, 9, 9))], ['a', 'b'])
  ok = folder_source.load_folder(str(tmp_path), image_shape=(8, 8, 1))
  assert ok.num_classes == 2


def test_unreadable_image_and_empty_folder(tmp_path):
  os.makedirs(tmp_path / 'a')
  with pytest.raises(FileNotFoundError, match='no image files'):
    folder_source.load_folder(str(tmp_path))
  (tmp_path / 'a' / 'x.png').write_bytes(b'not a png')
  with pytest.raises(ValueError, match='x.png'):
    folder_source.load_folder(str(tmp_path))


def test_zip_error_type_is_wrapped(tmp_path):
  path = tmp_path / 'trunc.npz'
  np.savez(path, images=np.zeros((4, 8, 8), np.uint8), labels=np.arange(4))
  path.write_bytes(path.read_bytes()[:50])
  with pytest.raises(ValueError, match='trunc.npz'):
    npz_source.open_npz(str(path))
  assert issubclass(zipfile.BadZipFile, Exception)


def test_one_table_of_named_data_sets():
  from taml_tf.data import tfds_source
  # Every TFDS recipe belongs to a named data set; aliases point at builders of the table.
  builders = {d.tfds_builder for d in registry.DATASETS.values()}
  assert set(tfds_source.KNOWN) <= builders
  assert set(registry.TFDS_ALIASES.values()) <= set(registry.DATASETS)
  assert registry.KNOWN_NAMES == tuple(registry.DATASETS)
  for name, d in registry.DATASETS.items():
    assert registry.default_image_shape(name) == d.image_shape
    assert registry.DATASETS[d.tfds_builder or name].image_shape == d.image_shape, name
  assert registry.default_image_shape('cub:test') == (84, 84, 3)
  assert registry.default_image_shape('/some/folder/') == registry.DEFAULT_IMAGE_SHAPE
