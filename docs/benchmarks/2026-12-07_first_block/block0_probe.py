"""Issue 39 probe (run once, 15:2x UTC, one thread, nothing else running): conv1 + batch norm +
pooling + ReLU of a B support set ([124, 32, 32, 3] pixels, 32 channels) as the fused kernel
("now": normalise, then pool) against pooling first and normalising with statistics from the
images' patch moments in float64 ("new", Conv4.first_block's forward), each against float64;
medians of 30 calls, three repeats. Its output is in block0_probe.txt.
Usage: python block0_probe.py   (repository root, venv)
"""
import time, numpy as np, tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1); tf.config.threading.set_inter_op_parallelism_threads(1)
rng = np.random.default_rng(0)
images = tf.constant(rng.random((124, 32, 32, 3)), tf.float32)
w = tf.constant(0.1 * rng.normal(size=(3, 3, 3, 32)), tf.float32)
off = tf.constant(rng.normal(size=(32,)), tf.float32)
EPS = 1e-3
# patch statistics, once per task
patches = tf.image.extract_patches(images, [1, 3, 3, 1], [1, 1, 1, 1], [1, 1, 1, 1], 'SAME')
p64 = tf.cast(tf.reshape(patches, [-1, 27]), tf.float64)
n = float(p64.shape[0])
psum = tf.reduce_sum(p64, 0); gram = tf.matmul(p64, p64, transpose_a=True)
@tf.function
def now(w):
  y = tf.nn.conv2d(images, w, 1, 'SAME')
  x, *_ = tf.compat.v1.nn.fused_batch_norm(y, tf.ones([32]), off, epsilon=EPS, is_training=True)
  return tf.nn.relu(tf.nn.max_pool2d(x, 2, 2, 'VALID'))
@tf.function
def new(w):
  y = tf.nn.conv2d(images, w, 1, 'SAME')
  w2 = tf.cast(tf.reshape(w, [27, 32]), tf.float64)
  mean = tf.linalg.matvec(w2, psum, transpose_a=True) / n
  sq = tf.reduce_sum(w2 * tf.matmul(gram, w2), 0) / n
  var = tf.cast(sq - mean * mean, tf.float32); mean = tf.cast(mean, tf.float32)
  p = tf.nn.max_pool2d(y, 2, 2, 'VALID')
  x, *_ = tf.compat.v1.nn.fused_batch_norm(p, tf.ones([32]), off, mean=mean, variance=var, epsilon=EPS, is_training=False)
  return tf.nn.relu(x)
@tf.function
def conv_only(w):
  return tf.nn.conv2d(images, w, 1, 'SAME')
a, b = now(w).numpy(), new(w).numpy()
y64 = tf.nn.conv2d(tf.cast(images, tf.float64), tf.cast(w, tf.float64), 1, 'SAME').numpy()
m = y64.mean((0,1,2)); v = y64.var((0,1,2)); ex = np.maximum(((y64 - m)/np.sqrt(v+EPS) + off.numpy().astype(np.float64)).reshape(124,16,2,16,2,32).max((2,4)), 0)
print('now err', np.abs(a-ex).max(), 'new err', np.abs(b-ex).max())
for r in range(3):
  for name, f in (('conv only', conv_only), ('now', now), ('new', new)):
    ts = []
    for _ in range(30):
      t = time.perf_counter(); f(w).numpy(); ts.append(time.perf_counter() - t)
    print(r, name, '%.2f ms' % (1e3 * np.median(ts)))
