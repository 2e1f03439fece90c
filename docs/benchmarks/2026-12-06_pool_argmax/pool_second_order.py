"""Issue 39 probe: max pooling's second order by argmax + gather instead of MaxPoolGradGrad.

MaxPoolGradGrad was 8.7% of a Bayesian TAML A train step's op time (80 ops; the 2026-12-05
profile): it finds every window's maximum again. The candidate takes the maxima's indices once
(`tf.nn.max_pool_with_argmax`, include_batch_in_index) and pools by `tf.gather` on them, whose
gradient (a scatter) and second-order gradient (a gather again) are TensorFlow's own ops
(MaxPoolGradWithArgmax has no registered gradient, so the argmax op's own backward cannot be
differentiated twice). Times a second-order product through ReLU + pooling (tf.function, pools
(2, 1) as the package sets them; medians of 15 calls) for both, on stand-in shapes (4 tasks x
40 rows at the first and second blocks of shape A; 500 rows of 32x32x32 for B's first block),
and prints the largest difference of the results. Usage: python pool_second_order.py
"""
import time, numpy as np, tensorflow as tf
tf.config.threading.set_inter_op_parallelism_threads(2); tf.config.threading.set_intra_op_parallelism_threads(1)
def pool_kernel(x): return tf.nn.max_pool2d(x, 2, 2, 'VALID')
def pool_argmax(x):
  _, am = tf.nn.max_pool_with_argmax(tf.stop_gradient(x), 2, 2, 'VALID', include_batch_in_index=True)
  return tf.gather(tf.reshape(x, [-1]), am)
def second(pool, x, w, v):
  with tf.GradientTape() as outer:
    outer.watch(w)
    with tf.GradientTape() as inner:
      inner.watch(x)
      y = pool(tf.nn.relu(x * w))
      l = tf.reduce_sum(y * y)
    g = inner.gradient(l, x)
    m = tf.reduce_sum(g * v)
  return outer.gradient(m, w), g
rng = np.random.RandomState(0)
for shape in [(160, 28, 28, 32), (160, 14, 14, 32), (500,32,32,32)]:
  x = tf.constant(rng.randn(*shape).astype(np.float32)); w = tf.constant(rng.rand(1,1,1,shape[-1]).astype(np.float32)+0.5)
  v = tf.constant(rng.randn(*shape).astype(np.float32))
  res = {}
  for name, p in [('kernel', pool_kernel), ('argmax', pool_argmax)]:
    f = tf.function(lambda x, w, v, p=p: second(p, x, w, v))
    out = f(x, w, v)
    ts = []
    for _ in range(15):
      t = time.perf_counter(); r = f(x, w, v); r[0].numpy(); ts.append(time.perf_counter() - t)
    res[name] = out
    print(shape, name, 'median %.2f ms' % (1e3 * np.median(ts)), flush=True)
  print('  diff ww', float(tf.reduce_max(tf.abs(res['kernel'][0] - res['argmax'][0]))), float(tf.reduce_max(tf.abs(res['kernel'][0]))),
        'g', float(tf.reduce_max(tf.abs(res['kernel'][1] - res['argmax'][1]))))
