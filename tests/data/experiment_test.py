"""DataConfig validation, default image shapes, the training stream and the named evaluation
sets (on the real Omniglot -> MNIST data)."""

import tensorflow as tf

from taml_tf.data import experiment
from tests import real_data


class ExperimentTest(tf.test.TestCase):

  def test_data_config_validation(self):
    with self.assertRaisesRegex(ValueError, 'at least one in-distribution'):
      experiment.DataConfig(id_datasets=())
    with self.assertRaisesRegex(ValueError, r"distinct.*\['omniglot'\]"):
      experiment.DataConfig(id_datasets=('omniglot',), ood_datasets=('omniglot:test',))
    with self.assertRaisesRegex(ValueError, 'min_way <= way'):
      experiment.DataConfig(way=3, min_way=5)
    with self.assertRaisesRegex(ValueError, 'unknown sampler mode'):
      experiment.DataConfig(shot_mode='lopsided')
    with self.assertRaisesRegex(ValueError, 'pad_to'):
      experiment.DataConfig().sampler('half')
    cfg = experiment.DataConfig(id_datasets=['a'], image_shape=[16, 16, 1])
    self.assertEqual((cfg.id_datasets, cfg.image_shape), (('a',), (16, 16, 1)))
    self.assertEqual(experiment.DataConfig(**cfg.to_dict()), cfg)

  def test_default_image_shape_and_names(self):
    self.assertEqual(experiment.default_image_shape('omniglot'), (28, 28, 1))
    self.assertEqual(experiment.default_image_shape('cifar_fs:val'), (32, 32, 3))
    self.assertEqual(experiment.default_image_shape('/x/cub/'), (84, 84, 3))
    self.assertEqual(experiment.default_image_shape('unknown'), (28, 28, 1))
    self.assertEqual(experiment.display_name('/data/my_set.npz'), 'my_set')
    self.assertEqual(experiment.display_name('omniglot:evaluation'), 'omniglot')

  def test_train_dataset_fn_shapes(self):
    cfg = experiment.DataConfig(image_shape=(16, 16, 1), way=3, max_shot=2, query=1)
    fn = experiment.train_dataset_fn(cfg, seed=0, meta_batch=2)
    batch = next(iter(fn(0, None)))
    self.assertEqual(batch.support_images.shape, (2, 6, 16, 16, 1))
    self.assertEqual(batch.query_images.shape, (2, 3, 16, 16, 1))
    self.assertEqual(batch.class_mask.shape, (2, 3))
    again = next(iter(fn(2, None)))
    self.assertNotAllClose(batch.support_images, again.support_images)

  def test_evaluation_sets_on_real_data(self):
    folder = real_data.require('omniglot_28x28.npz', 'mnist_test.npz')
    cfg = experiment.DataConfig(id_datasets=('omniglot',), ood_datasets=('mnist',),
                                data_dir=folder, way=3, max_shot=2, query=1)
    self.assertEqual(experiment.ood_names(cfg), ('mnist',))
    for split in ('val', 'test'):
      sets = experiment.evaluation_sets(cfg, split, num_episodes=2)
      self.assertEqual(list(sets), ['omniglot', 'mnist'])
      for name, ds in sets.items():
        episodes = list(ds)
        self.assertLen(episodes, 2, name)
        self.assertEqual(episodes[0].support_images.shape[-3:], (28, 28, 1))
    val = experiment.build_source(cfg, 'omniglot', 'val')
    test = experiment.build_source(cfg, 'omniglot', 'test')
    self.assertEmpty(set(val.class_names) & set(test.class_names))
    self.assertLen(experiment.build_source(cfg, 'mnist', 'test').class_names, 10)


if __name__ == '__main__':
  tf.test.main()
