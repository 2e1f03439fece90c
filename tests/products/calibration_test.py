"""Tests of taml_tf.products.calibration against hand-computed values."""

import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from taml_tf.products import calibration


def two_class(confidence, correct):
  """[N, 2] probs whose max is `confidence`, labelled so that `correct` holds."""
  probs = np.stack([confidence, 1.0 - np.asarray(confidence)], axis=1)
  labels = np.where(correct, 0, 1)
  return probs, labels


class AccuracyIntervalTest(tf.test.TestCase):

  def test_hand_computed(self):
    # deviations -.125, .375, .125, -.375: population variance .3125 / 4 = .078125.
    mean, ci = calibration.accuracy_interval([0.5, 1.0, 0.75, 0.25])
    self.assertAllClose(mean, 0.625)
    self.assertAllClose(ci, 1.96 * math.sqrt(0.078125) / 2.0)

  def test_matches_formula_and_edge_cases(self):
    acc = np.random.default_rng(0).uniform(size=1000)
    mean, ci = calibration.accuracy_interval(acc)
    self.assertAllClose(ci, 1.96 * np.std(acc) / np.sqrt(1000))
    self.assertAllClose(mean, acc.mean())
    self.assertEqual(calibration.accuracy_interval([0.7]), (0.7, 0.0))
    self.assertTrue(all(math.isnan(x) for x in calibration.accuracy_interval([])))


class LikelihoodTest(tf.test.TestCase):

  def test_nll_hand_computed(self):
    probs = np.array([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]])
    nll = calibration.negative_log_likelihood(probs, [0, 0, 0])
    self.assertAllClose(nll, -(math.log(0.5) + math.log(0.9) + math.log(0.2)) / 3)

  def test_zero_probability_is_finite(self):
    nll = calibration.negative_log_likelihood(np.array([[1.0, 0.0]]), [1])
    self.assertAllClose(nll, -math.log(1e-12))

  def test_bad_input(self):
    with self.assertRaisesRegex(ValueError, 'labels must lie'):
      calibration.negative_log_likelihood(np.full([2, 3], 1 / 3), [0, 3])
    with self.assertRaisesRegex(ValueError, 'need probs'):
      calibration.expected_calibration_error(np.full([2, 3], 1 / 3), [0, 1, 2])
    with self.assertRaisesRegex(ValueError, 'num_bins'):
      calibration.reliability(np.full([2, 3], 1 / 3), [0, 1], num_bins=0)


class CalibrationTest(tf.test.TestCase):

  def test_perfectly_calibrated_is_zero(self):
    # Ten predictions at 0.8 confidence, eight right; and ten certain, all right.
    probs, labels = two_class(np.full(10, 0.8), np.arange(10) < 8)
    self.assertAllClose(calibration.expected_calibration_error(probs, labels), 0.0)
    probs, labels = two_class(np.ones(10), np.ones(10, bool))
    self.assertAllClose(calibration.expected_calibration_error(probs, labels), 0.0)

  def test_known_confusion(self):
    # 0.9 once right once wrong (bin 13: gap .4), 0.6 twice right (bin 8: gap .4) -> ECE .4.
    probs, labels = two_class([0.9, 0.9, 0.6, 0.6], [True, False, True, True])
    self.assertAllClose(calibration.expected_calibration_error(probs, labels), 0.4)
    self.assertAllClose(calibration.negative_log_likelihood(probs, labels),
                        -(math.log(0.9) + math.log(0.1) + 2 * math.log(0.6)) / 4)
    rel = calibration.reliability(probs, labels)
    self.assertEqual(rel.count.tolist(), [0] * 8 + [2] + [0] * 4 + [2, 0])
    self.assertAllClose(rel.confidence[[8, 13]], [0.6, 0.9])
    self.assertAllClose(rel.accuracy[[8, 13]], [1.0, 0.5])
    self.assertTrue(np.isnan(rel.accuracy[0]))
    self.assertAllClose(rel.edges, np.linspace(0, 1, 16))

  def test_bin_ends(self):
    rel = calibration.reliability_from_confidences([0.0, 1.0, 0.5], [1, 1, 0], num_bins=15)
    self.assertEqual(rel.count[0], 1)
    self.assertEqual(rel.count[14], 1)
    self.assertEqual(rel.count[7], 1)  # 0.5 * 15 = 7.5 -> (7/15, 8/15].

  def test_matches_brute_force(self):
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(500, 5)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = rng.integers(0, 5, 500)
    conf, pred = probs.max(1), probs.argmax(1)
    ece = 0.0
    for b in range(15):
      lo, hi = b / 15, (b + 1) / 15
      inside = (conf > lo) & (conf <= hi)
      if inside.any():
        ece += inside.mean() * abs((pred[inside] == labels[inside]).mean() - conf[inside].mean())
    self.assertAllClose(calibration.expected_calibration_error(probs, labels), ece)
    self.assertEqual(calibration.reliability(probs, labels).count.sum(), 500)

  def test_matches_tensorflow_probability(self):
    # tfp.stats.expected_calibration_error uses the same equal-width bins and weighting; it
    # puts a confidence lying exactly on an inner edge in the upper bin (ours: the lower one,
    # as Guo et al.), which continuous predictions never hit. Sharp and flat predictions and
    # several bin counts exercise every bin.
    rng = np.random.default_rng(2)
    for scale, ways, num_bins in ((0.3, 5, 15), (3.0, 5, 15), (8.0, 3, 10), (2.0, 20, 7)):
      logits = rng.normal(size=(2000, ways)) * scale
      probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
      labels = np.where(rng.uniform(size=2000) < 0.7, probs.argmax(1),
                        rng.integers(0, ways, 2000))
      want = tfp.stats.expected_calibration_error(
          num_bins, logits=tf.constant(logits, tf.float32),
          labels_true=tf.constant(labels, tf.int32))
      self.assertAllClose(calibration.expected_calibration_error(probs, labels, num_bins),
                          float(want), atol=1e-5, msg=f'{scale} {ways} {num_bins}')


if __name__ == '__main__':
  tf.test.main()
