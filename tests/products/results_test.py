"""Tests of taml_tf.products.results: the split buckets and the JSON form of a result."""

import json

import tensorflow as tf

from taml_tf.products import results
from tests import helpers


class BucketsTest(tf.test.TestCase):

  def test_buckets(self):
    self.assertEqual(results.bucket_index(25, results.TASK_SIZE_BUCKETS), 0)
    self.assertEqual(results.bucket_index(26, results.TASK_SIZE_BUCKETS), 1)
    self.assertEqual(results.bucket_index(1000, results.TASK_SIZE_BUCKETS), 4)
    self.assertEqual(results.bucket_index(1, results.CLASS_SIZE_BUCKETS), 0)
    self.assertEqual(results.bucket_index(6, results.CLASS_SIZE_BUCKETS), 2)
    self.assertEqual(results.bucket_index(0, results.CLASS_SIZE_BUCKETS), -1)
    self.assertEqual([results.bucket_label(*b) for b in results.CLASS_SIZE_BUCKETS],
                     ['1', '2-5', '6-10', '11-25', '26-50', '51+'])
    # The buckets tile 1..infinity without gaps or overlaps.
    for buckets in (results.TASK_SIZE_BUCKETS, results.CLASS_SIZE_BUCKETS):
      self.assertEqual(buckets[0][0], 1)
      self.assertIsNone(buckets[-1][1])
      for (_, high), (low, _) in zip(buckets, buckets[1:]):
        self.assertEqual(low, high + 1)


class ToDictTest(tf.test.TestCase):

  def test_strict_json(self):
    d = helpers.tiny_result().to_dict()
    text = json.dumps(d, allow_nan=False)  # NaN (empty buckets) became null
    self.assertEqual(json.loads(text), d)
    toy = d['datasets']['toy']
    self.assertEqual(toy['episode_accuracy'], [1.0, 0.5])
    self.assertIsNone(toy['by_task_size'][1]['accuracy'])
    self.assertEqual(d['task_size_buckets'][-1], [251, None])
    self.assertNotIn('records', d)


if __name__ == '__main__':
  tf.test.main()
