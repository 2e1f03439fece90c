"""Issue 39's batch-norm lever in its other form: TensorFlow's fused kernel instead of plain ops.

The closed form of b2d7951 removed ops but not arithmetic (each of its steps is still an op that
reads and writes the activations). ``FusedBatchNormV3`` computes the statistics and the
normalisation in one kernel and ``FusedBatchNormGradV3`` the whole first-order backward in
another; TensorFlow's registered gradient of the latter (nn_grad.py, ``_BatchNormGrad`` with
``is_training=True``) recomputes the batch statistics from x with plain ops, so the second-order
terms through the statistics are kept: the meta-gradient stays exact.

A meta-batch of 4 stand-in tasks in one graph (conv4: 4 x [conv 3x3 32 -> batch norm (batch
statistics, offset, no scale) -> ReLU -> max-pool 2x2], dense head; 5 inner SGD steps on a
40-row 28x28 support set, second-order meta-gradient of a 75-row query loss: the shape of a peer
A meta-batch), the thread pools of taml_tf.execution.threads ((2, 1) on 2 cores), the first-row
shift of MaskedBatchNorm in both modes. Prints each mode's median seconds per meta-gradient (10
timed calls after one warm-up), the traced op count, and how far its float32 meta-gradient is
from the plain ops' in float64 (largest difference over the largest entry, over the kernels,
offsets and head: the conv biases' true gradient is 0 under batch norm), second order and first
order (inner gradients held constant). INNER_LR (default 0.1) sets the inner step size.
Usage: python fused_batch_norm.py [INTER INTRA]   (run it alone on the machine)
"""

import os
import sys
import time

import numpy as np
import tensorflow as tf

ROWS, QUERY, WAY, STEPS, TASKS, CH = 40, 75, 5, 5, 4, 32
INNER_LR = float(os.environ.get("INNER_LR", 0.1))
EPS = 1e-3


def plain_bn(x, beta):
  shift = tf.stop_gradient(tf.reduce_mean(x[:1], axis=[0, 1, 2]))
  c = x - shift
  m = tf.reduce_mean(c, axis=[0, 1, 2])
  v = tf.reduce_mean(tf.square(c - m), axis=[0, 1, 2])
  return (c - m) * tf.math.rsqrt(v + EPS) + beta


def fused_bn(x, beta):
  shift = tf.stop_gradient(tf.reduce_mean(x[:1], axis=[0, 1, 2]))
  y, _, _ = tf.compat.v1.nn.fused_batch_norm(
      x - shift, tf.ones_like(beta), beta, epsilon=EPS, is_training=True)
  return y


MODES = {'plain ops': plain_bn, 'fused kernel': fused_bn,
         # The lever measured on 2026-12-04 (docs/benchmarks/2026-12-04_xla_elementwise), here
         # against the float64 truth that its own comparison lacked.
         'XLA (nested jit_compile) batch norm': tf.function(plain_bn, jit_compile=True)}


def main():
  if len(sys.argv) == 3:
    tf.config.threading.set_inter_op_parallelism_threads(int(sys.argv[1]))
    tf.config.threading.set_intra_op_parallelism_threads(int(sys.argv[2]))
  else:
    tf.config.threading.set_inter_op_parallelism_threads(2)
    tf.config.threading.set_intra_op_parallelism_threads(1)
  tf.random.set_seed(0)
  shapes, cin = [], 1
  for _ in range(4):
    shapes += [(3, 3, cin, CH), (CH,), (CH,)]
    cin = CH
  shapes += [(CH, WAY)]
  initial = [tf.random.normal(s, stddev=0.1) for s in shapes]
  data = [(tf.random.normal([ROWS, 28, 28, 1]), tf.random.uniform([ROWS], 0, WAY, tf.int32),
           tf.random.normal([QUERY, 28, 28, 1]), tf.random.uniform([QUERY], 0, WAY, tf.int32))
          for _ in range(TASKS)]

  def in_dtype(dtype):
    cast = lambda t: tf.cast(t, dtype) if t.dtype.is_floating else t
    return [tf.Variable(cast(w)) for w in initial], [tuple(map(cast, d)) for d in data]

  def make_step(bn, weights, second_order=True):
    def net(ws, x):
      for i in range(4):
        k, b, beta = ws[3 * i:3 * i + 3]
        x = tf.nn.max_pool2d(tf.nn.relu(bn(tf.nn.conv2d(x, k, 1, 'SAME') + b, beta)),
                             2, 2, 'VALID')
      return tf.matmul(tf.reshape(x, [tf.shape(x)[0], -1]), ws[-1])

    def loss(ws, x, y):
      return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, net(ws, x)))

    @tf.function(autograph=False)
    def step(tasks):
      with tf.GradientTape() as outer:
        total = 0.
        for x, y, xq, yq in tasks:
          params = [tf.identity(w) for w in weights]
          for _ in range(STEPS):
            with tf.GradientTape() as inner:
              inner.watch(params)
              support_loss = loss(params, x, y)
            grads = inner.gradient(support_loss, params)
            if not second_order:
              grads = [tf.stop_gradient(g) for g in grads]
            params = [p - INNER_LR * g for p, g in zip(params, grads)]
          total += loss(params, xq, yq) / TASKS
      return outer.gradient(total, weights)
    return step

  def distance(grads, truth):
    # The conv biases are left out: batch norm subtracts any per-channel constant, so their true
    # gradient is 0 and what float32 computes for them is rounding noise.
    return max(float(np.abs(a - b).max() / np.abs(b).max())
               for i, (a, b) in enumerate(zip(grads, truth)) if i % 3 != 1 or i == 12)

  # The truth: the plain ops in float64 (the fused kernel has no float64 version); both float32
  # modes are measured against it, so rounding that the problem amplifies shows in both.
  weights64, data64 = in_dtype(tf.float64)
  truth = {order: [g.numpy() for g in make_step(plain_bn, weights64, order)(data64)]
           for order in (True, False)}
  weights, data = in_dtype(tf.float32)
  for name, bn in MODES.items():
    step = make_step(bn, weights)
    ops = len(step.get_concrete_function(data).graph.get_operations())
    grads = [g.numpy() for g in step(data)]
    times = []
    for _ in range(10):
      start = time.perf_counter()
      grads = [g.numpy() for g in step(data)]
      times.append(time.perf_counter() - start)
    first = [g.numpy() for g in make_step(bn, weights, second_order=False)(data)]
    print(f'{name}: {np.median(times):.3f} s per meta-gradient (min {min(times):.3f}, max '
          f'{max(times):.3f}); {ops} ops traced; largest difference from the float64 plain ops '
          f'(over the largest entry; kernels, offsets, head): second order '
          f'{distance(grads, truth[True]):.1e}, first order {distance(first, truth[False]):.1e}',
          flush=True)


if __name__ == '__main__':
  main()
