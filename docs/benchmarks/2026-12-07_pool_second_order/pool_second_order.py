"""Max pooling's second order: TensorFlow's MaxPoolGradGrad against kernel_max_pool_2x2's
average pooling of the routed cotangent, alone, on the activations of a B task (peer episodes:
126 rows on average, 32x32x3 images) and an A task (about 60 rows of 28x28x1 images).

For each shape: a pass through the pooling that a meta-gradient takes (forward, first-order
backward, and the derivative of that backward in its cotangent), tf.function, medians of 20
calls, the two taking turns; and whether the two agree to the bit (integer-valued inputs: ties
in most windows). Usage: python pool_second_order.py > pool_second_order.txt
"""

import time

import numpy as np
import tensorflow as tf

from taml_tf.method.models.backbone import kernel_max_pool_2x2


def second_order_pass(pool):
  @tf.function
  def run(x, upstream, cotangent):
    with tf.GradientTape() as outer:
      outer.watch(upstream)
      with tf.GradientTape() as inner:
        inner.watch(x)
        pooled = pool(x)
      grad = inner.gradient(pooled, x, upstream)
      projected = tf.reduce_sum(grad * cotangent)
    return pooled, grad, outer.gradient(projected, upstream)
  return run


def main():
  rng = np.random.default_rng(0)
  passes = {'MaxPoolGradGrad': second_order_pass(lambda v: tf.nn.max_pool2d(v, 2, 2, 'VALID')),
            'avg_pool': second_order_pass(kernel_max_pool_2x2)}
  print('| activation [B, H, W, C] | MaxPoolGradGrad (ms) | avg_pool (ms) | faster | '
        'largest difference |')
  print('|---|---|---|---|---|')
  for shape in [(126, 32, 32, 32), (126, 16, 16, 32), (126, 8, 8, 32), (126, 4, 4, 32),
                (60, 28, 28, 32), (60, 14, 14, 32)]:
    x = tf.constant(rng.integers(0, 4, size=shape).astype(np.float32))
    upstream = tf.constant(rng.normal(
        size=(shape[0], shape[1] // 2, shape[2] // 2, shape[3])).astype(np.float32))
    cotangent = tf.constant(rng.normal(size=shape).astype(np.float32))
    results = {k: f(x, upstream, cotangent) for k, f in passes.items()}
    worst = max(float(tf.reduce_max(tf.abs(a - b)))
                for a, b in zip(results['MaxPoolGradGrad'], results['avg_pool']))
    times = {k: [] for k in passes}
    for _ in range(20):
      for k, f in passes.items():
        start = time.perf_counter()
        f(x, upstream, cotangent)[2].numpy()
        times[k].append(time.perf_counter() - start)
    a, b = (1e3 * np.median(times[k]) for k in passes)
    print(f'| {list(shape)} | {a:.2f} | {b:.2f} | {a / b:.2f}x | {worst:g} |')


if __name__ == '__main__':
  main()
