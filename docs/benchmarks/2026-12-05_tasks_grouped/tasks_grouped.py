"""Issue 39's lever "the meta-batch's tasks as one batched computation", its best case, alone.

The train step builds one copy of the conv4 per task (four independent chains of ~6,000 small
ops each, which the inter-op pool runs side by side). Folded, the T tasks become one network:
each conv is a grouped convolution (``feature_group_count`` T, task t's channels are group t),
batch norm per channel is then batch norm per task and channel, ReLU and max-pool are per
channel anyway, and the head is one einsum over [rows, T, C] x [T, C, way]; every op is T times
larger and there are T times fewer of them. The inner loop's gradient of the summed task losses
with respect to the stacked weights is each task's own gradient in its slice, so the
meta-gradient is the same mathematics.

The stand-in of docs/benchmarks/2026-12-05_fused_batch_norm (4 tasks, conv4 with 32 channels,
batch statistics with an offset, 5 inner steps at step size 0.01 on 40 support rows of 28x28,
second order through a 75-row query loss), with every task the same size: the lever's best
case, since real any-shot tasks differ in size and folding them needs padding to the largest
(with masks in the statistics and the loss). Prints each mode's median seconds per
meta-gradient (10 timed calls after one warm-up), the traced op count, and how far the folded
meta-gradient is from the per-task one (largest difference over the largest entry; kernels,
offsets, head).
Usage: python tasks_grouped.py [INTER INTRA]   (run it alone on the machine; default 2 1;
results.txt has (2, 1), (1, 2) and (2, 2))
"""

import sys
import time

import numpy as np
import tensorflow as tf

ROWS, QUERY, WAY, STEPS, TASKS, CH, INNER_LR = 40, 75, 5, 5, 4, 32, 0.01


def batch_norm(x, beta):
  shift = tf.stop_gradient(tf.reduce_mean(x[:1], axis=[0, 1, 2]))
  c = x - shift
  m = tf.reduce_mean(c, axis=[0, 1, 2])
  v = tf.reduce_mean(tf.square(c - m), axis=[0, 1, 2])
  return (c - m) * tf.math.rsqrt(v + 1e-3) + beta


def block(x, k, b, beta):
  # conv2d infers the groups from the input's depth over the kernel's input depth.
  return tf.nn.max_pool2d(tf.nn.relu(batch_norm(tf.nn.conv2d(x, k, 1, 'SAME') + b, beta)),
                          2, 2, 'VALID')


def per_task_net(ws, x):
  for i in range(4):
    x = block(x, *ws[3 * i:3 * i + 3])
  return tf.matmul(tf.reshape(x, [tf.shape(x)[0], -1]), ws[-1])


def folded_net(ws, x):
  """x [rows, H, W, T * 1]; conv weights [3, 3, cin, T * CH]; head [T, CH, WAY] -> [rows, T, WAY]."""
  for i in range(4):
    x = block(x, *ws[3 * i:3 * i + 3])
  features = tf.reshape(x, [tf.shape(x)[0], TASKS, CH])
  return tf.einsum('ntc,tcw->ntw', features, ws[-1])


def fold(per_task):
  """The T tasks' weights (lists of [conv kernel, bias, offset] x 4, head) stacked for folded_net."""
  out = []
  for i in range(12):
    # Kernels and per-channel vectors: task t's output channels are the t-th group.
    out.append(tf.concat([ws[i] for ws in per_task], axis=-1))
  out.append(tf.stack([ws[12] for ws in per_task]))
  return out


def main():
  inter, intra = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) == 3 else (2, 1)
  tf.config.threading.set_inter_op_parallelism_threads(inter)
  tf.config.threading.set_intra_op_parallelism_threads(intra)
  tf.random.set_seed(0)
  shapes, cin = [], 1
  for _ in range(4):
    shapes += [(3, 3, cin, CH), (CH,), (CH,)]
    cin = CH
  shapes += [(CH, WAY)]
  weights = [tf.Variable(tf.random.normal(s, stddev=0.1)) for s in shapes]
  data = [(tf.random.normal([ROWS, 28, 28, 1]), tf.random.uniform([ROWS], 0, WAY, tf.int32),
           tf.random.normal([QUERY, 28, 28, 1]), tf.random.uniform([QUERY], 0, WAY, tf.int32))
          for _ in range(TASKS)]

  def ce(labels, logits):
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))

  def adapt(params, loss):
    for _ in range(STEPS):
      with tf.GradientTape() as inner:
        inner.watch(params)
        support_loss = loss(params)
      grads = inner.gradient(support_loss, params)
      params = [p - INNER_LR * g for p, g in zip(params, grads)]
    return params

  @tf.function(autograph=False)
  def per_task(tasks):
    with tf.GradientTape() as outer:
      total = 0.
      for x, y, xq, yq in tasks:
        params = adapt([tf.identity(w) for w in weights],
                       lambda ps: ce(y, per_task_net(ps, x)))
        total += ce(yq, per_task_net(params, xq)) / TASKS
    return outer.gradient(total, weights)

  @tf.function(autograph=False)
  def folded(tasks):
    x = tf.concat([t[0] for t in tasks], axis=-1)
    y = tf.stack([t[1] for t in tasks], axis=1)
    xq = tf.concat([t[2] for t in tasks], axis=-1)
    yq = tf.stack([t[3] for t in tasks], axis=1)
    # Each task's mean loss, summed over tasks: every task's gradient in its own slice.
    loss = lambda ps, xs, ys: ce(ys, folded_net(ps, xs)) * TASKS
    with tf.GradientTape() as outer:
      params = adapt(fold([[tf.identity(w) for w in weights]] * TASKS),
                     lambda ps: loss(ps, x, y))
      total = loss(params, xq, yq) / TASKS
    return outer.gradient(total, weights)

  reference = None
  for name, step in (('per-task copies (kept)', per_task), ('tasks folded into conv groups', folded)):
    ops = len(step.get_concrete_function(data).graph.get_operations())
    grads = [g.numpy() for g in step(data)]
    times = []
    for _ in range(10):
      start = time.perf_counter()
      grads = [g.numpy() for g in step(data)]
      times.append(time.perf_counter() - start)
    reference = grads if reference is None else reference
    worst = max(float(np.abs(a - b).max() / np.abs(b).max())
                for i, (a, b) in enumerate(zip(grads, reference)) if i % 3 != 1 or i == 12)
    print(f'{name}: {np.median(times):.3f} s per meta-gradient (min {min(times):.3f}, max '
          f'{max(times):.3f}); {ops} ops traced; largest difference from the per-task '
          f'meta-gradient {worst:.1e}', flush=True)


if __name__ == '__main__':
  main()
