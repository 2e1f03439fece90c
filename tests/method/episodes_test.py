"""Tests of taml_tf.method.episodes: padding, stacking and dropping support padding."""

import numpy as np
import tensorflow as tf

from taml_tf.method import episodes


def padded_task(support_size=8):
  rng = np.random.default_rng(0)
  return episodes.from_arrays(rng.uniform(size=[5, 4, 4]), [0, 1, 1, 2, 0],
                              rng.uniform(size=[3, 4, 4]), [0, 1, 2], max_way=4,
                              support_size=support_size, query_size=6)


class EpisodesTest(tf.test.TestCase):

  def test_from_arrays_pads_and_masks(self):
    ep = padded_task()
    self.assertEqual(ep.support_images.shape, (8, 4, 4, 1))
    self.assertAllEqual(ep.support_mask, [1, 1, 1, 1, 1, 0, 0, 0])
    self.assertAllEqual(ep.query_mask, [1, 1, 1, 0, 0, 0])
    self.assertAllEqual(ep.class_mask, [1, 1, 1, 0])
    batch = episodes.stack([ep, ep])
    self.assertEqual(batch.support_images.shape, (2, 8, 4, 4, 1))

  def test_without_support_padding(self):
    ep = episodes.to_tensors(padded_task())
    # Padding in the middle too: rows are kept by mask, not by position.
    ep = ep._replace(support_mask=tf.constant([1, 1, 0, 1, 1, 0, 1, 0], tf.float32))
    out = episodes.without_support_padding(ep)
    keep = [0, 1, 3, 4, 6]
    self.assertAllEqual(out.support_images, tf.gather(ep.support_images, keep))
    self.assertAllEqual(out.support_labels, tf.gather(ep.support_labels, keep))
    self.assertAllEqual(out.support_mask, tf.ones([5]))
    for name in ('query_images', 'query_labels', 'query_mask', 'class_mask'):
      self.assertIs(getattr(out, name), getattr(ep, name))
    # Inside tf.function with a free support length.
    fn = tf.function(episodes.without_support_padding,
                     input_signature=[episodes.spec((4, 4, 1), None, 6, 4)])
    self.assertEqual(int(tf.shape(fn(ep).support_images)[0]), 5)


if __name__ == '__main__':
  tf.test.main()
