"""Tests of taml_tf.products.serving's request checks (the signatures end to end: tests/products/export_test.py)."""

import numpy as np
import tensorflow as tf

from taml_tf.products import serving


def check(labels, support=None, query=None, max_way=5, image_shape=(4, 4, 1)):
  n = len(labels)
  support = np.full([n, *image_shape], 0.5, np.float32) if support is None else support
  query = np.full([2, *image_shape], 0.5, np.float32) if query is None else query
  way, checked = serving.input_assertions(
      tf.constant(support), tf.constant(labels, tf.int32), tf.constant(query), max_way,
      image_shape)
  return int(way), checked


class InputAssertionsTest(tf.test.TestCase):

  def test_way_and_pass_through(self):
    way, checked = check([0, 1, 2, 1])
    self.assertEqual(way, 3)
    self.assertLen(checked, 3)
    self.assertAllEqual(checked[1], [0, 1, 2, 1])

  def test_first_problem_is_reported(self):
    for labels, kwargs, message in (
        ([0, 5], {}, 'more classes than the model allows'),
        ([0, 0], {}, 'fewer than 2 classes'),
        ([0, 2], {}, 'missing class'),
        ([0, -1], {}, 'labels must be >= 0'),
        ([0, 1], dict(query=np.full([2, 4, 4, 1], 255.0, np.float32)), 'out of range'),
        ([0, 1], dict(query=np.full([2, 5, 4, 1], 0.5, np.float32)), 'wrong image size')):
      with self.subTest(message):
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, message):
          check(labels, **kwargs)


if __name__ == '__main__':
  tf.test.main()
