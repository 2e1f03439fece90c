"""Metrics of probabilistic few-shot predictions: accuracy interval, NLL and calibration.

Pure numpy, so they can be checked by hand and reused outside TensorFlow:

* :func:`accuracy_interval` - mean of per-episode accuracies with the 95% interval
  1.96 * std / sqrt(episodes) used by the paper (Lee et al., ICLR 2020) and by MAML before it;
* :func:`negative_log_likelihood` - mean over examples of -log p(y);
* :func:`reliability` / :func:`expected_calibration_error` - the expected calibration error
  (Naeini et al., 2015; Guo et al., 2017) over equal-width confidence bins, and the per-bin data
  of a reliability diagram.

Confidence is the largest predicted probability of an example, and the prediction is correct
when its argmax equals the label. Bin b of B covers (b / B, (b + 1) / B]; confidence 0 falls in
bin 0. ECE = sum_b (n_b / n) |accuracy_b - confidence_b|.

Why not ``tfp.stats.expected_calibration_error``: it gives the same number (tested to 1e-5 in
tests/products/calibration_test.py; it only puts a confidence exactly on an inner bin edge in the upper
bin), but it returns the ECE alone, while the reports and figures need the per-bin data of the
reliability diagram from the same binning; it takes logits, while the meta-test has
probabilities (averaged over Monte-Carlo samples); and it needs TensorFlow in float32, while
these functions run on saved arrays in float64 (figures, taml-compare).
"""

from __future__ import annotations

import typing

import numpy as np

NUM_BINS = 15  # Guo et al. (2017) and most later work.
Z_95 = 1.96
_MIN_PROB = 1e-12  # Floor on p(y) so a confidently wrong prediction gives a finite NLL.


class Reliability(typing.NamedTuple):
  """The data of a reliability diagram (all arrays [num_bins]).

  edges: [num_bins + 1] bin edges, 0 to 1.
  confidence: mean confidence of the examples in each bin (NaN for an empty bin).
  accuracy: fraction of correct predictions in each bin (NaN for an empty bin).
  count: number of examples in each bin.
  """

  edges: np.ndarray
  confidence: np.ndarray
  accuracy: np.ndarray
  count: np.ndarray


def accuracy_interval(per_episode_accuracy) -> tuple:
  """Mean accuracy and the half-width of its 95% interval over episodes.

  Args:
    per_episode_accuracy: [E] accuracy of each episode (any scale, e.g. 0..1 or %).

  Returns:
    (mean, 1.96 * std / sqrt(E)) as floats, with the population std (numpy's default, as in
    the authors' code); (nan, nan) for no episodes and (mean, 0) for one.
  """
  acc = np.asarray(per_episode_accuracy, np.float64).reshape(-1)
  if acc.size == 0:
    return float('nan'), float('nan')
  return float(acc.mean()), float(Z_95 * acc.std() / np.sqrt(acc.size))


def _check(probs, labels):
  probs = np.asarray(probs, np.float64)
  labels = np.asarray(labels).reshape(-1)
  if probs.ndim != 2 or probs.shape[0] != labels.shape[0]:
    raise ValueError(f'need probs [N, K] and labels [N], got {probs.shape} and {labels.shape}')
  if labels.size and (labels.min() < 0 or labels.max() >= probs.shape[1]):
    raise ValueError(f'labels must lie in [0, {probs.shape[1]}), got {labels.min()}..'
                     f'{labels.max()}')
  return probs, labels.astype(np.int64)


def negative_log_likelihood(probs, labels) -> float:
  """Mean over examples of -log p(label).

  Args:
    probs: [N, K] predicted class probabilities.
    labels: [N] integer labels in [0, K).

  Returns:
    The mean NLL (nats) as a float; nan for no examples. p(y) is floored at 1e-12.
  """
  probs, labels = _check(probs, labels)
  if labels.size == 0:
    return float('nan')
  picked = probs[np.arange(labels.size), labels]
  return float(np.mean(-np.log(np.maximum(picked, _MIN_PROB))))


def confidences(probs, labels) -> tuple:
  """Confidence (max probability) and correctness (argmax == label) of every example.

  Args:
    probs: [N, K] predicted class probabilities.
    labels: [N] integer labels.

  Returns:
    (confidence [N] float64, correct [N] bool).
  """
  probs, labels = _check(probs, labels)
  return probs.max(axis=1), probs.argmax(axis=1) == labels


def reliability_from_confidences(confidence, correct, num_bins: int = NUM_BINS) -> Reliability:
  """Reliability-diagram data from confidences and correctness.

  Args:
    confidence: [N] confidences in [0, 1].
    correct: [N] booleans (or 0/1).
    num_bins: equal-width bins over [0, 1].

  Returns:
    A Reliability.
  """
  if num_bins < 1:
    raise ValueError(f'num_bins must be >= 1, got {num_bins}')
  confidence = np.asarray(confidence, np.float64).reshape(-1)
  correct = np.asarray(correct, np.float64).reshape(-1)
  if confidence.shape != correct.shape:
    raise ValueError(f'confidence {confidence.shape} and correct {correct.shape} differ')
  bins = np.clip(np.ceil(confidence * num_bins).astype(np.int64) - 1, 0, num_bins - 1)
  count = np.bincount(bins, minlength=num_bins)
  with np.errstate(invalid='ignore', divide='ignore'):
    conf = np.bincount(bins, confidence, minlength=num_bins) / count
    acc = np.bincount(bins, correct, minlength=num_bins) / count
  return Reliability(np.linspace(0.0, 1.0, num_bins + 1), conf, acc, count)


def reliability(probs, labels, num_bins: int = NUM_BINS) -> Reliability:
  """Reliability-diagram data of predictions.

  Args:
    probs: [N, K] predicted class probabilities.
    labels: [N] integer labels.
    num_bins: equal-width bins over [0, 1].

  Returns:
    A Reliability.
  """
  return reliability_from_confidences(*confidences(probs, labels), num_bins=num_bins)


def ece_from_reliability(rel: Reliability) -> float:
  """sum_b (n_b / n) |accuracy_b - confidence_b| (nan when there are no examples)."""
  total = rel.count.sum()
  if total == 0:
    return float('nan')
  full = rel.count > 0
  gaps = np.abs(rel.accuracy[full] - rel.confidence[full])
  return float(np.sum(rel.count[full] * gaps) / total)


def expected_calibration_error(probs, labels, num_bins: int = NUM_BINS) -> float:
  """Expected calibration error over `num_bins` equal-width confidence bins.

  Args:
    probs: [N, K] predicted class probabilities.
    labels: [N] integer labels.
    num_bins: equal-width bins over [0, 1] (15 by default).

  Returns:
    The ECE in [0, 1] as a float.
  """
  return ece_from_reliability(reliability(probs, labels, num_bins))
