"""Tests of the tf.data pipelines."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tests.data import data_util

from taml_tf.data import pipeline
from taml_tf.data import registry
from taml_tf.data import sampler as sampler_lib
from taml_tf.method import episodes
from taml_tf.method.task_shape import TaskShape

CFG = sampler_lib.SamplerConfig(way=5, max_shot=15, query=5)


@pytest.fixture(scope='module')
def omniglot():
  path = data_util.real_file('omniglot_28x28.npz')
  return registry.build_source('omniglot', 'train', data_dir=os.path.dirname(path))


def _take(ds, n):
  return [episodes.Episode(*[x.numpy() for x in e]) for e in ds.take(n)]


def test_shapes_dtypes_and_content(omniglot):
  ds = pipeline.episode_dataset(omniglot, CFG, seed=0, batch_size=4)
  assert ds.element_spec == episodes.spec((28, 28, 1), 75, 25, 5, batch_size=4)
  (ep,) = _take(ds, 1)
  assert ep.support_images.shape == (4, 75, 28, 28, 1)
  ref = sampler_lib.EpisodeSampler(omniglot, CFG, seed=0).sample(2)
  for x, y in zip(ep, ref):
    np.testing.assert_array_equal(x[2], y)


def test_resume_from_start_episode(omniglot):
  full = _take(pipeline.episode_dataset(omniglot, CFG, seed=7, batch_size=4), 3)
  resumed = _take(pipeline.episode_dataset(omniglot, CFG, seed=7, batch_size=4,
                                           start_episode=8), 1)
  for x, y in zip(full[2], resumed[0]):
    np.testing.assert_array_equal(x, y)


def test_pipelines_split_one_global_stream(omniglot):
  """Two input pipelines (workers) of two replicas each read, between them, exactly the
  per-replica batches one pipeline feeding all four replicas reads: replica r of step s gets
  episodes [8 s + 2 r, 8 s + 2 r + 2), also when resuming at step 1."""
  for start_step in (0, 1):
    one = _take(pipeline.episode_dataset(omniglot, CFG, seed=0, batch_size=2,
                                         start_episode=8 * start_step), 8)
    for pid in range(2):
      ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pid,
                                       num_replicas_in_sync=4)
      ds = pipeline.episode_dataset(omniglot, CFG, seed=0, batch_size=8,
                                    start_episode=8 * start_step, input_context=ctx)
      for j, ep in enumerate(_take(ds, 4)):
        assert ep.support_images.shape[0] == 2
        step, local = divmod(j, 2)
        expected = one[4 * step + 2 * pid + local]  # the replica's element of the one stream
        for x, y in zip(ep, expected):
          np.testing.assert_array_equal(x, y)


def test_distribution_strategy_runs(omniglot):
  strategy = tf.distribute.get_strategy()
  dist = strategy.distribute_datasets_from_function(
      lambda ctx: pipeline.episode_dataset(omniglot, CFG, batch_size=2, input_context=ctx))
  ep = next(iter(dist))
  assert ep.support_images.shape[0] == 2


def test_bucket_dataset_has_dynamic_support(omniglot):
  cfg = sampler_lib.SamplerConfig(way=5, max_shot=15, query=5, pad_to='bucket')
  ds = pipeline.episode_dataset(omniglot, cfg, batch_size=1)
  assert ds.element_spec.support_images.shape.as_list() == [1, None, 28, 28, 1]
  sizes = {e.support_images.shape[1] for e in _take(ds, 20)}
  assert sizes <= set(cfg.bucket_sizes()) and len(sizes) > 1


def test_named_evaluation_sets_are_finite_and_fixed():
  path = data_util.real_file('omniglot_28x28.npz')
  d = os.path.dirname(path)
  sets = pipeline.named_evaluation_sets(
      {'omniglot': 'omniglot:evaluation', 'mnist': 'mnist'}, CFG, num_episodes=6, batch_size=2,
      data_dir=d)
  assert list(sets) == ['omniglot', 'mnist']
  a, b = _take(sets['mnist'], 10), _take(sets['mnist'], 10)
  assert len(a) == 3
  np.testing.assert_array_equal(a[1].query_images, b[1].query_images)
  with pytest.raises(ValueError, match='multiple of batch_size'):
    pipeline.evaluation_dataset(registry.build_source('mnist', data_dir=d), CFG, 5, batch_size=2)


def test_multi_source_stream():
  d = os.path.dirname(data_util.real_file('mnist_test.npz'))
  data_util.real_file('omniglot_28x28.npz')
  ds = pipeline.episode_dataset(['omniglot:evaluation', 'mnist'],
                                sampler_lib.SamplerConfig(way=5, max_shot=5, query=5),
                                batch_size=2, data_dir=d)
  (ep,) = _take(ds, 1)
  assert ep.support_images.shape == (2, 25, 28, 28, 1)


def _write_folder(root, images, labels):
  """An image folder with one sub-folder per class (PNG files), as a user would have."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  for j, (img, label) in enumerate(zip(images, labels)):
    folder = os.path.join(root, f'class_{label}')
    os.makedirs(folder, exist_ok=True)
    Image.fromarray((img * 255).astype(np.uint8), 'L').save(os.path.join(folder, f'{j}.png'))


def test_make_episodes_from_arrays_and_from_a_folder(omniglot, tmp_path):
  rng = np.random.default_rng(0)
  classes = rng.choice(omniglot.num_classes, 6, replace=False)
  images = np.concatenate([omniglot.class_images(int(c))[:, :, :, 0] for c in classes])
  labels = np.repeat(np.arange(6), 20)
  task = TaskShape(way=3, max_shot=4, query=2)
  _write_folder(str(tmp_path), images, labels)
  for source in ((images, labels), str(tmp_path)):
    stream = pipeline.make_episodes(source, task, meta_batch=2, seed=1)
    (ep,) = _take(stream, 1)
    assert ep.support_images.shape == (2, 12, 28, 28, 1)   # way * max_shot rows
    assert ep.query_images.shape == (2, 6, 28, 28, 1)      # way * query
    assert ep.class_mask.shape == (2, 3)
    finite = pipeline.make_episodes(source, task, meta_batch=2, num_episodes=4, seed=1)
    assert len(_take(finite, 10)) == 2
  with pytest.raises(ValueError, match='source must be'):
    pipeline.make_episodes([images], task)
