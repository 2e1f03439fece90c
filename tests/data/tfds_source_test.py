"""TFDS paths under tfds.testing.mock_data (no downloads on this machine)."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow_datasets as tfds

from taml_tf.data import registry
from taml_tf.data import sampler
from taml_tf.data import tfds_source


def test_cifar_fs_class_split():
  names = [str(i) for i in range(100)]
  splits = {s: set(tfds_source._cifar_fs(s, names).tolist()) for s in ('train', 'val', 'test')}
  assert [len(splits[s]) for s in ('train', 'val', 'test')] == [64, 16, 20]
  assert not (splits['train'] & splits['val'] or splits['train'] & splits['test'] or
              splits['val'] & splits['test'])
  assert tfds_source.CIFAR100_FINE.index('otter') in splits['val']


def test_cub_split_counts():
  assert [len(tfds_source._cub(s, 200)) for s in ('train', 'val', 'test')] == [100, 50, 50]


@pytest.mark.parametrize('name,split,shape', [
    ('cifar_fs', 'val', (32, 32, 3)),
    ('omniglot', 'train', (28, 28, 1)),
    ('mnist', 'test', (28, 28, 1)),
    ('svhn_cropped', 'all', (32, 32, 3)),
    ('caltech_birds2011', 'test', (32, 32, 3)),
])
def test_mock_tfds(name, split, shape, tmp_path):
  with tfds.testing.mock_data(num_examples=240):
    # data_dir without the shared files, so 'omniglot' / 'mnist' go to TFDS too.
    src = registry.build_source(name, split, shape, data_dir=str(tmp_path))
  assert src.image_shape == shape and src.num_classes > 1
  assert src.images.dtype == np.uint8 and src.name.startswith('tfds:')
  if name == 'cifar_fs':
    assert set(src.class_names) <= set(tfds_source.CIFAR_FS_VAL)


def test_mock_tfds_feeds_sampler(tmp_path):
  with tfds.testing.mock_data(num_examples=400):
    src = registry.build_source('fashion_mnist', 'all', (28, 28, 1), data_dir=str(tmp_path))
  s = sampler.EpisodeSampler(src, sampler.SamplerConfig(way=5, max_shot=5, query=2), seed=0)
  ep = s.sample(3)
  assert ep.support_images.shape == (25, 28, 28, 1)


def test_tfds_unknown_split():
  with pytest.raises(ValueError, match='unknown split'):
    with tfds.testing.mock_data(num_examples=10):
      tfds_source.load_tfds('cifar100', 'bogus', (32, 32, 3))


def test_nothing_written_to_the_tfds_cache_in_home(tmp_path):
  # Listing TFDS's community builders created ~/.cache/tensorflow_datasets, which made
  # //:sources_test fail under Bazel (read-only HOME) unless an earlier run had created it. A
  # fresh process with an empty HOME (the cache location is memoised per process).
  home = tmp_path / 'home'
  home.mkdir()
  env = {k: v for k, v in os.environ.items() if k not in ('TFDS_CACHE_DIR', 'XDG_CACHE_HOME')}
  env.update(HOME=str(home), TF_CPP_MIN_LOG_LEVEL='2')
  script = textwrap.dedent(f'''
      import tensorflow_datasets as tfds
      from taml_tf.data import registry
      try:
        registry.build_source('no_such_set')
        raise SystemExit('no error for an unknown data set')
      except ValueError as e:
        assert 'unknown data set' in str(e), e
      with tfds.testing.mock_data(num_examples=20):
        registry.build_source('fashion_mnist', 'all', (28, 28, 1), data_dir={str(tmp_path)!r})
      ''')
  proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                        env=env, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert not (home / '.cache' / 'tensorflow_datasets').exists()
