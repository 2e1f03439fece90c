"""Issue 39's lever "XLA only on the element-wise parts", measured alone on a stand-in step.

A conv4 (4 x [conv 3x3 32 -> batch norm (batch statistics, offset) -> ReLU -> max-pool 2x2],
then a dense head) adapted by 5 inner SGD steps on a 40-row 28x28 support set, then
differentiated (second order) through a 75-row query loss: the shape of a peer A task. The
convolutions stay TensorFlow (oneDNN) ops; the batch norm + ReLU (and, in a third mode, the
pooling too) of each block run as a nested ``tf.function(jit_compile=True)``. A fourth mode
nests the same function without XLA, the control for the function boundary itself.

Prints each mode's median seconds per meta-gradient (8 timed calls after one warm-up) and how
far its meta-gradient is from the plain ops' (largest difference over the largest entry, per
variable; the worst variable and the L2 norm of the first conv kernel's gradient).
Usage: python xla_elementwise.py   (run it alone on the machine)
"""

import time

import numpy as np
import tensorflow as tf

ROWS, QUERY, WAY, STEPS = 40, 75, 5, 5


def bn_relu(x, beta):
  shift = tf.stop_gradient(tf.reduce_mean(x[:1], axis=[0, 1, 2]))
  c = x - shift
  m = tf.reduce_mean(c, axis=[0, 1, 2])
  v = tf.reduce_mean(tf.square(c - m), axis=[0, 1, 2])
  return tf.nn.relu((c - m) * tf.math.rsqrt(v + 1e-3) + beta)


def bn_relu_pool(x, beta):
  return tf.nn.max_pool2d(bn_relu(x, beta), 2, 2, 'VALID')


MODES = {
    'plain ops': lambda y, b: tf.nn.max_pool2d(bn_relu(y, b), 2, 2, 'VALID'),
    'XLA: batch norm + ReLU': (
        lambda f: lambda y, b: tf.nn.max_pool2d(f(y, b), 2, 2, 'VALID'))(
            tf.function(bn_relu, jit_compile=True)),
    'XLA: batch norm + ReLU + pool': tf.function(bn_relu_pool, jit_compile=True),
    'nested tf.function, no XLA (control)': (
        lambda f: lambda y, b: tf.nn.max_pool2d(f(y, b), 2, 2, 'VALID'))(
            tf.function(bn_relu)),
}


def main():
  tf.random.set_seed(0)
  shapes, cin = [], 1
  for _ in range(4):
    shapes += [(3, 3, cin, 32), (32,), (32,)]
    cin = 32
  shapes += [(32, WAY)]
  weights = [tf.Variable(tf.random.normal(s, stddev=0.1)) for s in shapes]
  data = (tf.random.normal([ROWS, 28, 28, 1]), tf.random.uniform([ROWS], 0, WAY, tf.int32),
          tf.random.normal([QUERY, 28, 28, 1]), tf.random.uniform([QUERY], 0, WAY, tf.int32))

  def make_step(block):
    def net(ws, x):
      for i in range(4):
        k, b, beta = ws[3 * i:3 * i + 3]
        x = block(tf.nn.conv2d(x, k, 1, 'SAME') + b, beta)
      return tf.matmul(tf.reshape(x, [tf.shape(x)[0], -1]), ws[-1])

    def loss(ws, x, y):
      return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, net(ws, x)))

    @tf.function
    def step(x, y, xq, yq):
      with tf.GradientTape() as outer:
        params = [tf.identity(w) for w in weights]
        for _ in range(STEPS):
          with tf.GradientTape() as inner:
            inner.watch(params)
            support_loss = loss(params, x, y)
          grads = inner.gradient(support_loss, params)
          params = [p - 0.1 * g for p, g in zip(params, grads)]
        query_loss = loss(params, xq, yq)
      return outer.gradient(query_loss, weights)
    return step

  reference = None
  for name, block in MODES.items():
    step = make_step(block)
    grads = [g.numpy() for g in step(*data)]  # warm-up: tracing and XLA compilation
    times = []
    for _ in range(8):
      start = time.perf_counter()
      grads = [g.numpy() for g in step(*data)]
      times.append(time.perf_counter() - start)
    if reference is None:
      reference = grads
    worst = max(float(np.abs(a - b).max() / np.abs(a).max()) for a, b in zip(reference, grads)
                if np.abs(a).max() > 1e-4)
    print(f'{name}: {np.median(times):.3f} s per meta-gradient; conv1 kernel gradient norm '
          f'{np.linalg.norm(grads[0]):.4f}; largest difference from the plain ops (variables '
          f'whose gradient exceeds 1e-4) {worst:.1e}', flush=True)


if __name__ == '__main__':
  main()
