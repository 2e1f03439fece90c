"""Issue 39: the closed-form batch norm's forward statistics (MaskedBatchNorm._statistics on
all-real rows) against cheaper forms, alone, on a B task's activations, one thread per op.

  closed:  what the layer computes (shift by the first row's mean, subtract the batch mean,
           square, mean, rsqrt, multiply: six passes over the activation);
  kernel:  TensorFlow's fused batch-norm kernel in training mode (one op);
  moments: the shifted values' mean and sum of squares (reduce_euclidean_norm over H, W), the
           variance as E[d^2] - E[d]^2, and x_hat from the fused kernel in inference mode
           (moments.patch);
each against float64 (largest error of x_hat, relative error of 1 / sigma) and timed (median
of 15 calls of a tf.function).
Usage: python docs/benchmarks/2026-12-07_bn_moments/statistics.py   (repository root, venv)
"""
import time

import numpy as np
import tensorflow as tf

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
from taml_tf.method.models import masked_batch_norm as mbn  # pylint: disable=g-import-not-at-top

EPSILON = 1e-3


def closed(x):
  centred = x - mbn._first_row_shift(x)
  centred = centred - mbn._weighted_mean(centred, None, None)
  inverse = tf.math.rsqrt(mbn._weighted_mean(tf.square(centred), None, None) + EPSILON)
  return centred * inverse, inverse


def _fused(x, mean, variance, training):
  c = x.shape[-1]
  return tf.raw_ops.FusedBatchNormV3(
      x=x, scale=tf.ones([c]), offset=tf.zeros([c]), mean=mean, variance=variance,
      epsilon=EPSILON, exponential_avg_factor=1.0, data_format='NHWC', is_training=training)


def kernel(x):
  y, _, _, _, variance, _ = _fused(x, tf.zeros([0]), tf.zeros([0]), True)
  return y, tf.math.rsqrt(variance + EPSILON)  # reserve_space_2: the biased variance


def moments(x):
  shifted = x - mbn._first_row_shift(x)
  mean = mbn._weighted_mean(shifted, None, None)
  squares = tf.reduce_mean(tf.square(tf.math.reduce_euclidean_norm(shifted, [1, 2])), 0)
  variance = tf.maximum(squares / (x.shape[1] * x.shape[2]) - tf.square(mean), 0.0)
  return _fused(shifted, mean, variance, False)[0], tf.math.rsqrt(variance + EPSILON)


def exact(x):
  x = x.astype(np.float64)
  mean = x.mean((0, 1, 2))
  inverse = 1 / np.sqrt(((x - mean) ** 2).mean((0, 1, 2)) + EPSILON)
  return (x - mean) * inverse, inverse


def main():
  rng = np.random.default_rng(0)
  cases = [('conv1 [126,32,32,32], mean 6 spreads', 3 + 0.5 * rng.normal(size=(126, 32, 32, 32))),
           ('conv1 [126,32,32,32], centred', rng.normal(size=(126, 32, 32, 32))),
           ('conv2 [126,16,16,32], centred', rng.normal(size=(126, 16, 16, 32)))]
  print('| activation | form | x_hat error | 1/sigma rel. error | ms (median of 15) |')
  print('|---|---|---|---|---|')
  for name, x in cases:
    x32 = x.astype(np.float32)
    want, want_inverse = exact(x32)
    for form, fn in (('closed', closed), ('kernel', kernel), ('moments', moments)):
      fn = tf.function(fn)
      x_hat, inverse = fn(tf.constant(x32))
      times = []
      for _ in range(15):
        start = time.perf_counter()
        fn(tf.constant(x32))[0].numpy()
        times.append(time.perf_counter() - start)
      print(f'| {name} | {form} | {np.abs(x_hat.numpy() - want).max():.1e} | '
            f'{(np.abs(inverse.numpy() - want_inverse) / want_inverse).max():.1e} | '
            f'{1e3 * np.median(times):.2f} |')


if __name__ == '__main__':
  main()
