"""XLA against TensorFlow's kernels: Hessian-vector products through conv -> [op] -> conv.

Usage: python docs/benchmarks/2026-11-27_xla_pooling/pool_second_order.py

Prints, for several middle ops, how far the first-order gradient and the Hessian-vector
product computed under XLA (jit_compile) are from TensorFlow's (relative L2), and for max
pooling also TensorFlow float32 and XLA float32 against TensorFlow float64. Measured
2026-11-27 (TF 2.21, CPU): every op agrees to ~1e-6 except those with max pooling, whose HVP
differs by 2.5e-2 under XLA while TensorFlow float32 matches float64 to 1.7e-7: tf2xla's
MaxPoolGradGrad picks window maxima by bfloat16-rounded inputs. (Finite differences cannot
referee this: a step moves some window's maximum, and the gradient jumps there.)
"""
import numpy as np
import tensorflow as tf

rng = np.random.default_rng(0)
x = rng.random((6, 28, 28, 1))
k1, k2 = 0.1 * rng.normal(size=(3, 3, 1, 8)), 0.1 * rng.normal(size=(3, 3, 8, 8))
v1, v2 = rng.normal(size=(3, 3, 1, 8)), rng.normal(size=(3, 3, 8, 8))
w = rng.normal(size=(6, 14, 14, 8))


def rel(a, b):
  a = np.concatenate([np.ravel(t) for t in a])
  b = np.concatenate([np.ravel(t) for t in b])
  return np.linalg.norm(a - b) / np.linalg.norm(b)


def make(act, pool, norm, dtype):
  c = lambda a: tf.constant(a, dtype)
  xs, ws, vs = c(x), c(w), (c(v1), c(v2))

  def gradient_and_hvp(k1, k2):
    with tf.GradientTape() as outer:
      outer.watch([k1, k2])
      with tf.GradientTape() as inner:
        inner.watch([k1, k2])
        h = tf.nn.conv2d(xs, k1, 1, 'SAME')
        if norm:
          m = tf.reduce_mean(h, [0, 1, 2])
          h = (h - m) * tf.math.rsqrt(tf.reduce_mean(tf.square(h - m), [0, 1, 2]) + 1e-3)
        h = act(h)
        h = tf.nn.max_pool2d(h, 2, 2, 'VALID') if pool else h[:, ::2, ::2]
        loss = tf.reduce_sum(ws * tf.tanh(tf.nn.conv2d(h, k2, 1, 'SAME')))
      g = inner.gradient(loss, [k1, k2])
      s = tf.reduce_sum(g[0] * vs[0]) + tf.reduce_sum(g[1] * vs[1])
    return g, outer.gradient(s, [k1, k2])
  return gradient_and_hvp, (c(k1), c(k2))


for name, act, pool, norm in (('linear', tf.identity, False, False),
                              ('relu', tf.nn.relu, False, False),
                              ('batch norm', tf.identity, False, True),
                              ('max pool', tf.identity, True, False),
                              ('relu + max pool', tf.nn.relu, True, False),
                              ('bn + relu + max pool', tf.nn.relu, True, True)):
  f, ks = make(act, pool, norm, tf.float32)
  g, h = f(*ks)
  gx, hx = tf.function(f, jit_compile=True)(*ks)
  print(f'{name:22s} XLA vs TF: gradient {rel(gx, g):.1e}, HVP {rel(hx, h):.1e}')

f32, ks32 = make(tf.identity, True, False, tf.float32)
f64, ks64 = make(tf.identity, True, False, tf.float64)
h64 = f64(*ks64)[1]  # XLA has no float64 MaxPoolGradGrad: TensorFlow is the reference
print(f'max pool HVP against TF float64: TF float32 {rel(f32(*ks32)[1], h64):.1e}, '
      f'XLA float32 {rel(tf.function(f32, jit_compile=True)(*ks32)[1], h64):.1e}')
