"""Issue 39 probe: can the second-order gradient of max pooling (MaxPoolGradGrad, 9% of a
Bayesian TAML A train step's op time in the 2026-12-05 night profile) be computed faster?

MaxPoolGradGrad(x, y, g) picks, for each 2x2 window, g at the window's first maximum of x.
Timed against three exact replacements on ReLU outputs (ties at 0 are common there), one op
at a time in a tf.function, pools (2, 1) as the package's default, median of 50:
  gather:  tf.gather of g at the indices of tf.nn.max_pool_with_argmax (the indices cost a
           MaxPoolWithArgmax forward, timed as 'pool+argmax' against MaxPool's 'pool');
  slices:  the four strided slices of the window, tf.where from the last position to the
           first (so the first maximum wins, as in TensorFlow's kernel);
  s2d:     space_to_depth, the first maximum by argmax of the equality mask, one_hot, sum.
Run with every other process of ours stopped:
  python docs/benchmarks/2026-12-05_pooling_gradgrad/pooling_gradgrad.py > .../results.txt
"""
import time

import numpy as np
import tensorflow as tf

tf.config.threading.set_inter_op_parallelism_threads(2)
tf.config.threading.set_intra_op_parallelism_threads(1)
KSIZE = [1, 2, 2, 1]


def median_ms(f, *args, n=50):
  f(*args)
  times = []
  for _ in range(n):
    start = time.perf_counter()
    f(*args).numpy()
    times.append(time.perf_counter() - start)
  return float(np.median(times)) * 1e3


def gradgrad(x, y, g):
  return tf.raw_ops.MaxPoolGradGrad(orig_input=x, orig_output=y, grad=g, ksize=KSIZE,
                                    strides=KSIZE, padding='VALID')


def gather(g, argmax):
  return tf.gather(tf.reshape(g, [-1]), argmax)


def slices(x, y, g):
  h, w = y.shape[1], y.shape[2]
  window = lambda t, i, j: t[:, i:2 * h:2, j:2 * w:2]
  picked = window(g, 1, 1)
  for i, j in ((1, 0), (0, 1), (0, 0)):
    picked = tf.where(tf.equal(window(x, i, j), y), window(g, i, j), picked)
  return picked


def s2d(x, y, g):
  h, w, c = y.shape[1], y.shape[2], y.shape[3]
  crop = lambda t: t[:, :2 * h, :2 * w]
  x4 = tf.reshape(tf.nn.space_to_depth(crop(x), 2), [-1, h, w, 4, c])
  g4 = tf.reshape(tf.nn.space_to_depth(crop(g), 2), [-1, h, w, 4, c])
  first = tf.argmax(tf.cast(tf.equal(x4, y[:, :, :, None]), tf.int8), axis=3,
                    output_type=tf.int32)
  return tf.reduce_sum(g4 * tf.one_hot(first, 4, axis=3, dtype=g.dtype), axis=3)


def main():
  print('| activation [B, H, W, C] | MaxPoolGradGrad (ms) | gather | pool / pool+argmax | '
        'slices | s2d | largest difference (gather, slices, s2d) |')
  print('|---|---|---|---|---|---|---|')
  for shape in [(75, 28, 28, 32), (75, 14, 14, 32), (75, 7, 7, 32), (75, 3, 3, 32),
                (300, 28, 28, 32)]:
    rng = np.random.default_rng(0)
    x = tf.nn.relu(tf.constant(rng.normal(size=shape).astype(np.float32)))
    y = tf.nn.max_pool2d(x, 2, 2, 'VALID')
    g = tf.constant(rng.normal(size=shape).astype(np.float32))
    _, argmax = tf.nn.max_pool_with_argmax(x, 2, 2, 'VALID', include_batch_in_index=True)
    fns = {name: tf.function(f) for name, f in
           [('gradgrad', gradgrad), ('gather', gather), ('slices', slices), ('s2d', s2d)]}
    pool = tf.function(lambda x: tf.nn.max_pool2d(x, 2, 2, 'VALID'))
    pool_argmax = tf.function(
        lambda x: tf.nn.max_pool_with_argmax(x, 2, 2, 'VALID', include_batch_in_index=True)[1])
    ref = fns['gradgrad'](x, y, g)
    diffs = [float(tf.reduce_max(tf.abs(ref - out))) for out in
             (fns['gather'](g, argmax), fns['slices'](x, y, g), fns['s2d'](x, y, g))]
    print(f"| {list(shape)} | {median_ms(fns['gradgrad'], x, y, g):.3f} | "
          f"{median_ms(fns['gather'], g, argmax):.3f} | "
          f'{median_ms(pool, x):.3f} / {median_ms(pool_argmax, x):.3f} | '
          f"{median_ms(fns['slices'], x, y, g):.3f} | {median_ms(fns['s2d'], x, y, g):.3f} | "
          f'{diffs[0]:g}, {diffs[1]:g}, {diffs[2]:g} |')


if __name__ == '__main__':
  main()
