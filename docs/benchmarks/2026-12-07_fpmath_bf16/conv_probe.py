"""Issue 39 probe: oneDNN's bf16 math mode for float32 convolutions against bfloat16 ones.

One conv1-sized convolution of a B task ([120, 32, 32, 32] * [3, 3, 32, 32], 'SAME'), its
forward pass and both gradients (input and filter) in a tf.function, in float32 or with the
inputs cast to bfloat16 (what mixed_bfloat16 runs). Run it under
ONEDNN_DEFAULT_FPMATH_MODE=STRICT (the default: float32 arithmetic) and =BF16 (oneDNN may
compute a float32 convolution with bfloat16 inputs and float32 accumulation, "bf32": Intel's
reference models' "bfloat32" precision), and with ONEDNN_VERBOSE=1 to see which
implementation each primitive ran and its time (conv_probe.sh sums them).

Usage: [ONEDNN_DEFAULT_FPMATH_MODE=BF16] python conv_probe.py [float32|bfloat16]
Prints the mode, the dtype and the median seconds of 20 calls.
"""
import os
import sys
import time

import tensorflow as tf


def main(dtype):
  x = tf.Variable(tf.random.normal([120, 32, 32, 32]))
  w = tf.Variable(tf.random.normal([3, 3, 32, 32]))

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      y = tf.cast(tf.nn.conv2d(tf.cast(x, dtype), tf.cast(w, dtype), 1, 'SAME'), tf.float32)
      loss = tf.reduce_sum(y * y)
    return loss, tape.gradient(loss, [w, x])

  step()
  times = []
  for _ in range(20):
    start = time.perf_counter()
    step()
    times.append(time.perf_counter() - start)
  print(os.environ.get('ONEDNN_DEFAULT_FPMATH_MODE', 'STRICT'), dtype, sorted(times)[10])


if __name__ == '__main__':
  main(sys.argv[1] if len(sys.argv) > 1 else 'float32')
