"""Tests of the any-shot sampler on the real Omniglot background set."""

import os

import numpy as np
import pytest

from tests.data import data_util

from taml_tf.data import class_images
from taml_tf.data import registry
from taml_tf.data import sampler as sampler_lib

N_TASKS = 400


@pytest.fixture(scope='module')
def omniglot():
  path = data_util.real_file('omniglot_28x28.npz')
  return registry.build_source('omniglot', 'background', data_dir=os.path.dirname(path))


def _shots(src, mode, n=N_TASKS, **kw):
  cfg = sampler_lib.SamplerConfig(way=5, max_shot=15, query=5, mode=mode, **kw)
  s = sampler_lib.EpisodeSampler(src, cfg, seed=3)
  return np.stack([s.plan(i).shots for i in range(n)])


def test_mixed_mode_half_the_tasks_share_one_shot(omniglot):
  shots = _shots(omniglot, 'mixed')
  equal = np.mean([len(set(s)) == 1 for s in shots])
  # 1/2 shared + 1/2 * P(5 independent draws from 1..15 all equal) ~ 0.5.
  assert 0.42 < equal < 0.58, equal
  assert shots.min() == 1 and shots.max() == 15


def test_class_imbalance_mode_varies_within_tasks(omniglot):
  shots = _shots(omniglot, 'class_imbalance')
  assert np.mean([len(set(s)) == 1 for s in shots]) < 0.02
  hist = np.bincount(shots.ravel(), minlength=16)[1:]
  # Uniform over 1..15: every value ~ 2000 / 15 = 133 times.
  assert hist.min() > 80 and hist.max() < 190, hist


def test_task_imbalance_mode_shares_one_shot(omniglot):
  shots = _shots(omniglot, 'task_imbalance')
  assert all(len(set(s)) == 1 for s in shots)
  assert len(set(shots[:, 0])) == 15


def test_fixed_mode_is_exact(omniglot):
  shots = _shots(omniglot, 'fixed', n=50)
  assert (shots == 15).all()


def test_small_classes_get_smaller_shots():
  arrays = [np.full((n, 4, 4), i, np.uint8) for i, n in enumerate((8, 20, 6, 30, 7))]
  src = class_images.from_class_arrays(arrays, list('abcde'))
  cfg = sampler_lib.SamplerConfig(way=5, max_shot=10, query=5, mode='fixed')
  plan = sampler_lib.EpisodeSampler(src, cfg).plan(0)
  np.testing.assert_array_equal(plan.shots, np.minimum(10, src.counts[plan.classes] - 5))


def test_support_and_query_never_share_an_image(omniglot):
  cfg = sampler_lib.SamplerConfig(way=5, max_shot=15, query=5)
  s = sampler_lib.EpisodeSampler(omniglot, cfg, seed=11)
  for i in range(100):
    p = s.plan(i)
    rows = np.concatenate([p.support_rows, p.query_rows])
    assert len(np.unique(rows)) == len(rows)
    # Rows belong to the class their label names.
    for rows_, labels in ((p.support_rows, p.support_labels), (p.query_rows, p.query_labels)):
      owner = np.searchsorted(omniglot.offsets, rows_, side='right') - 1
      np.testing.assert_array_equal(owner, p.classes[labels])
  # And by pixels: no query image equals a support image of the same episode.
  ep = s.sample(7)
  sup = ep.support_images[ep.support_mask > 0].reshape(-1, 784)
  qry = ep.query_images[ep.query_mask > 0].reshape(-1, 784)
  assert not (sup[:, None, :] == qry[None, :, :]).all(-1).any()


def test_masks_match_real_counts(omniglot):
  cfg = sampler_lib.SamplerConfig(way=5, max_shot=15, query=5, min_way=2)
  s = sampler_lib.EpisodeSampler(omniglot, cfg, seed=5)
  ways = set()
  for i in range(60):
    p, ep = s.plan(i), s.sample(i)
    way = len(p.classes)
    ways.add(way)
    assert ep.support_images.shape == (75, 28, 28, 1) and ep.query_images.shape == (25, 28, 28, 1)
    np.testing.assert_array_equal(ep.class_mask, np.arange(5) < way)
    n = int(p.shots.sum())
    np.testing.assert_array_equal(ep.support_mask, np.arange(75) < n)
    np.testing.assert_array_equal(ep.query_mask, np.arange(25) < 5 * way)
    np.testing.assert_array_equal(sampler_lib.real_shots(ep)[:way], p.shots)
    assert (ep.support_images[n:] == 0).all() and (ep.support_labels[n:] == 0).all()
    np.testing.assert_array_equal(np.bincount(ep.query_labels[:5 * way]), [5] * way)
  assert ways == {2, 3, 4, 5}


def test_seed_determinism(omniglot):
  cfg = sampler_lib.SamplerConfig(way=5, max_shot=15, query=5)
  a = sampler_lib.EpisodeSampler(omniglot, cfg, seed=1).sample(4)
  b = sampler_lib.EpisodeSampler(omniglot, cfg, seed=1).sample(4)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)
  c = sampler_lib.EpisodeSampler(omniglot, cfg, seed=2).sample(4)
  e = sampler_lib.EpisodeSampler(omniglot, cfg, seed=1).sample(5)
  for other in (c, e):
    assert not np.array_equal(a.query_images, other.query_images)


def test_label_order_is_random(omniglot):
  cfg = sampler_lib.SamplerConfig(way=5, max_shot=1, query=1, mode='fixed')
  s = sampler_lib.EpisodeSampler(omniglot.subset(range(5)), cfg, seed=0)
  firsts = {int(s.plan(i).classes[0]) for i in range(50)}
  assert firsts == set(range(5))


def test_round_robin_sources(omniglot):
  mnist_path = data_util.real_file('mnist_test.npz')
  mnist = registry.build_source(mnist_path, None)
  cfg = sampler_lib.SamplerConfig(way=5, max_shot=5, query=5)
  s = sampler_lib.EpisodeSampler([omniglot, mnist], cfg)
  assert [s.plan(i).source for i in range(4)] == [0, 1, 0, 1]


def test_bucket_padding(omniglot):
  cfg = sampler_lib.SamplerConfig(way=5, max_shot=15, query=5, pad_to='bucket')
  assert cfg.bucket_sizes() == (5, 10, 20, 40, 75)
  s = sampler_lib.EpisodeSampler(omniglot, cfg, seed=0)
  sizes = set()
  for start in range(0, 80, 2):
    batch = s.sample_batch(start, 2)
    real = int(batch.support_mask.sum(1).max())
    size = batch.support_images.shape[1]
    assert size == cfg.support_size_for(real) and size >= real
    sizes.add(size)
  assert len(sizes) > 1


def test_config_errors(omniglot):
  with pytest.raises(ValueError, match='unknown sampler mode'):
    sampler_lib.SamplerConfig(mode='balanced')
  with pytest.raises(ValueError, match='min_way'):
    sampler_lib.SamplerConfig(way=5, min_way=6)
  with pytest.raises(ValueError, match='class .* has 20 images.*query=20'):
    sampler_lib.EpisodeSampler(omniglot, sampler_lib.SamplerConfig(way=5, max_shot=5, query=20))
  rgb = class_images.from_class_arrays([np.zeros((30, 28, 28, 3), np.uint8)] * 5, list('abcde'))
  with pytest.raises(ValueError, match='same image shape|share one image shape'):
    sampler_lib.EpisodeSampler([omniglot, rgb], sampler_lib.SamplerConfig(way=5, max_shot=5,
                                                                          query=5))
