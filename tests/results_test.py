"""Tests of taml_tf.results: the split buckets and the JSON form of a result."""

import json
import math

import numpy as np
import tensorflow as tf

from taml_tf import calibration
from taml_tf import results


def tiny_result():
  """A hand-made EvaluationResult of one data set with two episodes."""
  rel = calibration.reliability_from_confidences(np.array([0.9, 0.6, 0.8]),
                                                 np.array([True, False, True]))
  rows = [results.SplitRow(results.bucket_label(lo, hi), lo, hi, 0, 0, 0, 0, math.nan,
                           math.nan, math.nan) for lo, hi in results.TASK_SIZE_BUCKETS]
  rows[0] = results.SplitRow('1-25', 1, 25, 2, 4, 3, 2, 0.75, 0.49, 0.4)
  classes = [results.SplitRow(results.bucket_label(lo, hi), lo, hi, 0, 0, 0, 0, math.nan,
                              math.nan, math.nan) for lo, hi in results.CLASS_SIZE_BUCKETS]
  data = results.DatasetResult(
      name='toy', episodes=2, queries=3, accuracy=0.75, ci95=0.49, nll=0.4,
      ece=calibration.ece_from_reliability(rel), reliability=rel, by_task_size=rows,
      by_class_size=classes, episode_accuracy=np.array([1.0, 0.5]))
  records = [results.TaskRecord('toy', i, 2, 4, 2 - i, np.array([2, 2]), acc, 0.4,
                                omega=np.array([0.5, 0.5], np.float32))
             for i, acc in enumerate((1.0, 0.5))]
  return results.EvaluationResult(mode='mean', num_samples=None, num_steps=2, seed=0,
                                  variables=('omega',), datasets={'toy': data},
                                  records=records, seconds=1.5)


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
    d = tiny_result().to_dict()
    text = json.dumps(d, allow_nan=False)  # NaN (empty buckets) became null
    self.assertEqual(json.loads(text), d)
    toy = d['datasets']['toy']
    self.assertEqual(toy['episode_accuracy'], [1.0, 0.5])
    self.assertIsNone(toy['by_task_size'][1]['accuracy'])
    self.assertEqual(d['task_size_buckets'][-1], [251, None])
    self.assertNotIn('records', d)


if __name__ == '__main__':
  tf.test.main()
