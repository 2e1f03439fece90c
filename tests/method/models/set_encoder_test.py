"""Tests of the DeepSets set encoder."""

import keras
import numpy as np
import tensorflow as tf

from taml_tf.method.models.set_encoder import SetEncoder, masked_statistics
from tests import tasks


class MaskedStatisticsTest(tf.test.TestCase):

  def test_matches_numpy_per_group(self):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 3)).astype(np.float32)
    labels = np.array([0, 0, 1, 1, 1, 0, 2])
    weights = np.eye(4, dtype=np.float32)[labels]
    weights[6] = 0  # a padding row
    mean, var, count = masked_statistics(tf.constant(x), tf.constant(weights))
    for g, rows in ((0, [0, 1, 5]), (1, [2, 3, 4])):
      self.assertAllClose(mean[g], x[rows].mean(0), atol=1e-5)
      self.assertAllClose(var[g], x[rows].var(0), atol=1e-5)
    self.assertAllClose(count, [3, 3, 0, 0])
    self.assertAllClose(mean[2], [0, 0, 0])


class SetEncoderTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.encoder = SetEncoder(num_layers=5, z_dim=16, max_shot=5)
    self.rng = np.random.default_rng(1)

  def run_encoder(self, ep):
    return self.encoder(tf.constant(ep.support_images), tf.constant(ep.support_labels),
                        tf.constant(ep.support_mask), tf.constant(ep.class_mask))

  def test_output_shapes(self):
    out = self.run_encoder(tasks.omniglot_task(self.rng, [1, 2, 3]))
    self.assertEqual(out.omega[0].shape, [3])
    self.assertEqual(out.gamma[1].shape, [5])
    self.assertEqual(out.z[0].shape, [16])

  def test_padding_rows_and_classes_change_nothing(self):
    """Padding rows and classes are invisible, even when the padding rows carry big images.

    At its initialisation (std-0.02 weights) the encoder's outputs are about 1e-5 and zero
    padding images move them by about 1e-10, so a pooling that ignored the mask would pass
    an atol of 1e-5. Here every kernel is Glorot-scaled (outputs of order 0.3, as a trained
    encoder's), and the padding rows hold images ten times brighter than ink, in noise, labelled
    with the real classes: counted as real they move the posterior means by 0.36 to 1.0.
    """
    keras.utils.set_random_seed(6)
    encoder = SetEncoder(num_layers=5, z_dim=16, max_shot=5, instance_init='glorot')
    encoder(tf.zeros([2, 28, 28, 1]), tf.zeros([2], tf.int32), tf.ones([2]), tf.ones([5]))
    init = keras.initializers.GlorotUniform(seed=0)
    for v in encoder.trainable_variables:
      if v.path.endswith('kernel'):
        v.assign(init(v.shape))
    chars = self.rng.choice(900, 3, replace=False)
    plain = tasks.omniglot_task(np.random.default_rng(5), [1, 4, 2], characters=chars)
    padded = tasks.omniglot_task(np.random.default_rng(5), [1, 4, 2], characters=chars,
                                 max_way=5, support_size=25)
    images, labels = padded.support_images.copy(), padded.support_labels.copy()
    images[7:] = 10.0 * self.rng.uniform(size=images[7:].shape)
    labels[7:] = np.arange(18) % 3
    padded = padded._replace(support_images=images, support_labels=labels)

    def run(ep, row_mask=None):
      mask = ep.support_mask if row_mask is None else row_mask
      return encoder(tf.constant(ep.support_images), tf.constant(ep.support_labels),
                     tf.constant(mask), tf.constant(ep.class_mask))

    a, b = run(plain), run(padded)
    for name, real in (('omega', 3), ('gamma', None), ('z', None)):
      for i, part in enumerate(('loc', 'pre_scale')):
        self.assertGreater(float(np.abs(getattr(a, name)[i]).max()), 0.05, f'{name} {part}')
        self.assertAllClose(getattr(a, name)[i], getattr(b, name)[i][:real], atol=1e-5,
                            msg=f'{name} {part}')
    # The test has teeth: the same rows counted as real move every output by far more.
    unmasked = run(padded, np.ones(25, np.float32))
    for name, real in (('omega', 3), ('gamma', None), ('z', None)):
      moved = float(np.abs(getattr(a, name)[0] - getattr(unmasked, name)[0][:real]).max())
      self.assertGreater(moved, 0.1, name)  # 1e4 times the tolerance

  def test_row_order_is_irrelevant_and_labels_permute_omega(self):
    ep = tasks.omniglot_task(self.rng, [1, 3, 5])
    base = self.run_encoder(ep)
    order = self.rng.permutation(len(ep.support_labels))
    perm = np.array([2, 0, 1])  # class c becomes perm[c]
    shuffled = ep._replace(support_images=ep.support_images[order],
                           support_labels=perm[ep.support_labels[order]].astype(np.int32))
    out = self.run_encoder(shuffled)
    self.assertAllClose(base.gamma[0], out.gamma[0], atol=1e-5)
    self.assertAllClose(base.z[0], out.z[0], atol=1e-5)
    self.assertAllClose(base.omega[0], tf.gather(out.omega[0], perm), atol=1e-5)

  def test_initial_weights_follow_the_global_seed_and_differ_between_layers(self):
    def weights():
      keras.utils.set_random_seed(3)
      encoder = SetEncoder(num_layers=5, z_dim=16, max_shot=5)
      encoder(tf.zeros([2, 28, 28, 1]), tf.zeros([2], tf.int32), tf.ones([2]), tf.ones([3]))
      return encoder, [v.numpy() for v in encoder.trainable_variables]
    (encoder, first), (_, second) = weights(), weights()
    for a, b in zip(first, second):
      self.assertAllEqual(a, b)
    # Same-shaped heads must not share values (a shared initializer instance would).
    _, mu, sigma = encoder.heads['gamma']
    self.assertNotAllClose(mu.kernel, sigma.kernel)

  def test_glorot_instance_init_gives_image_features_of_unit_scale(self):
    images = tf.constant(tasks.omniglot_task(np.random.default_rng(5), [3, 3, 2])
                         .support_images)

    def feature_spread(init):
      keras.utils.set_random_seed(4)
      encoder = SetEncoder(num_layers=5, z_dim=16, max_shot=5, instance_init=init)
      x = images
      for layer in encoder.instance:
        x = layer(x)
      return float(tf.reduce_mean(tf.math.reduce_std(x, axis=0)))

    authors, glorot = feature_spread('authors'), feature_spread('glorot')
    # std-0.02 weights through two convs and a dense layer leave ~1e-4 of the image signal,
    # which a few hundred Adam steps on the biases (1e-3 each) can switch off.
    self.assertLess(authors, 1e-3)
    self.assertGreater(glorot, 0.05)
    with self.assertRaisesRegex(ValueError, 'instance_init'):
      SetEncoder(5, 16, 5, instance_init='he')

  def test_compiles_with_xla(self):
    ep = tasks.omniglot_task(self.rng, [2, 2], max_way=4, support_size=10)
    eager = self.run_encoder(ep)
    compiled = tf.function(self.encoder, jit_compile=True)(
        tf.constant(ep.support_images), tf.constant(ep.support_labels),
        tf.constant(ep.support_mask), tf.constant(ep.class_mask))
    self.assertAllClose(eager.z[0], compiled.z[0], atol=1e-4)

  def test_from_config_builds_the_same_network(self):
    encoder = SetEncoder(num_layers=3, z_dim=8, max_shot=4, channels=5, features=12,
                         instance_init='glorot', precision='mixed_bfloat16', name='posterior')
    config = encoder.get_config()
    self.assertEqual({k: config[k] for k in ('num_layers', 'z_dim', 'max_shot', 'channels',
                                             'features', 'instance_init', 'precision')},
                     dict(num_layers=3, z_dim=8, max_shot=4, channels=5, features=12,
                          instance_init='glorot', precision='mixed_bfloat16'))
    clone = SetEncoder.from_config(config)
    self.assertEqual(clone.get_config(), config)
    self.assertEqual(clone.name, 'posterior')
    args = (tf.constant(self.rng.random((6, 28, 28, 1)), tf.float32),
            tf.constant([0, 0, 1, 1, 2, 2]), tf.ones([6]), tf.ones([3]))
    shapes = [[[x.shape for x in pair] for pair in model(*args)] for model in (encoder, clone)]
    self.assertEqual(shapes[0], shapes[1])
    self.assertEqual(shapes[0][1][0], [3])  # gamma: num_layers values
    self.assertEqual([(v.path, v.shape, v.dtype) for v in encoder.weights],
                     [(v.path, v.shape, v.dtype) for v in clone.weights])


if __name__ == '__main__':
  tf.test.main()


class SetEncoderPrecisionTest(tf.test.TestCase):

  def test_bfloat16_layers_give_float32_posteriors_close_to_float32(self):
    task = tasks.omniglot_task(np.random.default_rng(2), [2, 3, 4])
    args = (task.support_images, task.support_labels, task.support_mask, task.class_mask)
    outs = {}
    for precision in ('float32', 'mixed_bfloat16'):
      keras.utils.set_random_seed(4)
      encoder = SetEncoder(num_layers=5, z_dim=16, max_shot=5, instance_init='glorot',
                           precision=precision)
      outs[precision] = encoder(*args)
      self.assertEqual(encoder.instance[0].compute_dtype,
                       'bfloat16' if precision == 'mixed_bfloat16' else 'float32')
    for name, (loc, pre) in zip(outs['mixed_bfloat16']._fields, outs['mixed_bfloat16']):
      self.assertEqual((loc.dtype, pre.dtype), (tf.float32, tf.float32), msg=name)
      full_loc, full_pre = getattr(outs['float32'], name)
      self.assertAllClose(loc, full_loc, atol=0.02, msg=name)
      self.assertAllClose(pre, full_pre, atol=0.02, msg=name)
