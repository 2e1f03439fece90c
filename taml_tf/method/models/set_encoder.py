"""The DeepSets "set of sets" inference network that reads a task's support set.

It produces the parameters of q(omega, gamma, z | D) (Lee et al., ICLR 2020, section 3.3 and
appendix; exact sizes from the authors' code):

1. instance net: conv3x3(10) -> ReLU -> maxpool2 -> conv3x3(10) -> ReLU -> maxpool2 -> flatten
   -> dense 64;
2. per class c: statistics pooling [mean, variance, (n_c - 1) / (max_shot - 1)] of the 64-d
   features -> [64, 3] -> dense 4 -> ReLU -> flatten = class summary s_c (256-d);
3. per class: dense 128 -> ReLU -> dense 32;
4. across classes: [mean, variance, mean count] -> [32, 3] -> dense 4 -> ReLU -> flatten = task
   summary v (128-d);
5. heads: omega_c from s_c, gamma and z from v (dense 64 -> ReLU -> dense mean / dense
   pre-scale).

Sums of DeepSets are replaced by statistics pooling. Per-class pooling uses one-hot weights
multiplied by the row mask instead of boolean masks, so it compiles under XLA (TPU) and padding
rows and padding classes change nothing.
"""

from __future__ import annotations

import functools

import keras
import tensorflow as tf

from taml_tf.method import precision as precision_lib
from taml_tf.method.models import posteriors

INSTANCE_INITS = ('authors', 'glorot')


def _initializer(kind: str, conv: bool):
  # A new initializer per layer: a shared (module-level) instance would fix its seed at import,
  # before keras.utils.set_random_seed, and give every layer of one shape the same values.
  if kind == 'glorot':
    return keras.initializers.GlorotUniform()
  if conv:
    return keras.initializers.TruncatedNormal(stddev=0.02)
  return keras.initializers.RandomNormal(stddev=0.02)


def _dense(units, activation=None, name=None, init='authors', dtype=None):
  return keras.layers.Dense(units, activation=activation,
                            kernel_initializer=_initializer(init, conv=False),
                            bias_initializer='zeros', name=name, dtype=dtype)


def masked_statistics(features, weights):
  """Weighted mean and population variance of rows, grouped by the columns of `weights`.

  Args:
    features: [R, D] row features.
    weights: [R, G] non-negative weights; column g selects the rows of group g (one-hot labels
      times the row mask).

  Returns:
    (mean [G, D], variance [G, D], count [G]); a group with no rows gets zeros.
  """
  count = tf.reduce_sum(weights, axis=0)
  safe = tf.maximum(count, 1.0)[:, None]
  mean = tf.matmul(weights, features, transpose_a=True) / safe
  second = tf.matmul(weights, tf.square(features), transpose_a=True) / safe
  # E[x^2] - E[x]^2 can dip below zero by rounding; variance is >= 0 by definition.
  variance = tf.nn.relu(second - tf.square(mean))
  return mean, variance, count


class SetEncoder(keras.Model):
  """Amortised inference network q(omega, gamma, z | support set).

  Args:
    num_layers: number of gamma values (conv blocks + dense head).
    z_dim: size of z (2 * channels * conv blocks).
    max_shot: normalises the count feature; no default: the model's ``ModelConfig.max_shot``
      (from the run's TaskShape) is the one home of the value.
    channels: filters of the instance conv net (10).
    features: width of the instance embedding (64).
    instance_init: initialiser of the instance net (conv1, conv2, dense1): 'authors' (the
      authors' code: std 0.02 normals) or 'glorot' (Glorot-uniform). With 'authors' the image
      features start about 1e-3 in scale, so small bias updates can switch off every conv2
      ReLU and leave the posterior a function of shot counts only (docs/reproduction.md);
      the other layers keep the authors' initialisers either way.
  """

  def __init__(self, num_layers: int, z_dim: int, max_shot: int,
               channels: int = 10, features: int = 64, instance_init: str = 'authors',
               precision: str = 'float32', **kwargs):
    super().__init__(**kwargs)
    if instance_init not in INSTANCE_INITS:
      raise ValueError(f'instance_init must be one of {INSTANCE_INITS}, got {instance_init!r}')
    self.max_shot = max_shot
    # The other constructor arguments, for get_config.
    self.num_layers, self.z_dim, self.channels = num_layers, z_dim, channels
    self.features, self.instance_init, self.precision = features, instance_init, precision
    policy = precision_lib.layer_policy(precision)
    dense = functools.partial(_dense, dtype=policy)
    conv = lambda name: keras.layers.Conv2D(
        channels, 3, padding='same', activation='relu',
        kernel_initializer=_initializer(instance_init, conv=True),
        bias_initializer='zeros', name=name, dtype=policy)
    self.instance = [conv('conv1'), keras.layers.MaxPooling2D(2, 2, padding='valid'),
                     conv('conv2'), keras.layers.MaxPooling2D(2, 2, padding='valid'),
                     keras.layers.Flatten(), dense(features, name='dense1', init=instance_init)]
    self.interact1 = dense(4, 'relu', name='interact1')
    self.class_net = [dense(128, 'relu', name='dense2'), dense(32, name='dense3')]
    self.interact2 = dense(4, 'relu', name='interact2')
    self.heads = {}
    # A per-class variable's head gives one unit per class row; the others a vector per task.
    lengths = {'num_layers': num_layers, 'z_dim': z_dim}
    units_of = posteriors.Balancing(*[1 if v.per_class else lengths[v.size]
                                      for v in posteriors.VARIABLES])
    for name, units in units_of._asdict().items():
      self.heads[name] = (dense(64, 'relu', name=f'dense_{name}'),
                          dense(units, name=f'mu_{name}'),
                          dense(units, name=f'sigma_{name}'))

  def get_config(self) -> dict:
    """The constructor's arguments: ``SetEncoder.from_config`` builds the same network (new
    weights). Keras cannot capture them itself (it refuses, asking for this method)."""
    return {'name': self.name, 'trainable': self.trainable, 'num_layers': self.num_layers,
            'z_dim': self.z_dim, 'max_shot': self.max_shot, 'channels': self.channels,
            'features': self.features, 'instance_init': self.instance_init,
            'precision': self.precision}

  def instance_activations(self, images):
    """The instance net's ReLU outputs and its features, for diagnosing dead units.

    With the authors' initialisation every conv2 ReLU can switch off early in training; the
    instance net then gets no gradient again and the posterior sees shot counts only
    (docs/reproduction.md). This exposes the activations that show it.

    Args:
      images: [S, H, W, C] support images.

    Returns:
      (relus, features): the outputs of conv1 and conv2 after their ReLUs, in order, and the
      [S, features] instance embedding (dense1's output).
    """
    relus, x = [], images
    for layer in self.instance:
      x = layer(x)
      if isinstance(layer, keras.layers.Conv2D):
        relus.append(x)
    return relus, x

  def _count_feature(self, count):
    # (n - 1) / (max_shot - 1) maps the training range of shots to [0, 1].
    return (count - 1.0) / float(max(self.max_shot - 1, 1))

  def call(self, images, labels, row_mask, class_mask):
    """Posterior parameters from one task's (padded) support set.

    Args:
      images: [S, H, W, C] support images.
      labels: [S] int class ids in [0, max_way).
      row_mask: [S] 1 for real rows.
      class_mask: [max_way] 1 for the task's real classes.

    Returns:
      A :class:`taml_tf.method.models.posteriors.Balancing` of (loc, pre_scale) pairs: omega's of
      shape [max_way], gamma's [num_layers], z's [z_dim]; the posterior scale is
      softplus(pre_scale).
    """
    _, x = self.instance_activations(images)
    # Pooled statistics and the posterior parameters are float32 whatever the layers compute in.
    x = tf.cast(x, tf.float32)
    max_way = tf.shape(class_mask)[0]
    weights = tf.one_hot(labels, max_way) * row_mask[:, None]
    mean, variance, count = masked_statistics(x, weights)
    class_count = self._count_feature(count)
    stats = tf.stack([mean, variance, tf.broadcast_to(class_count[:, None], tf.shape(mean))], -1)
    class_summary = tf.reshape(self.interact1(stats), [max_way, -1])

    h = class_summary
    for layer in self.class_net:
      h = layer(h)
    h = tf.cast(h, tf.float32)
    task_mean, task_var, n_classes = masked_statistics(h, class_mask[:, None])
    mean_count = tf.reduce_sum(class_count * class_mask) / tf.maximum(n_classes, 1.0)
    task_stats = tf.stack(
        [task_mean[0], task_var[0], tf.broadcast_to(mean_count, tf.shape(task_mean[0]))], -1)
    task_summary = tf.reshape(self.interact2(task_stats[None]), [1, -1])

    sources = posteriors.Balancing(*[class_summary if v.per_class else task_summary
                                     for v in posteriors.VARIABLES])
    out = []
    for name, source in sources._asdict().items():
      hidden, mu, sigma = self.heads[name]
      h = hidden(source)
      # omega's heads give [max_way, 1] (a value per class), gamma's and z's [1, units].
      out.append((tf.reshape(tf.cast(mu(h), tf.float32), [-1]),
                  tf.reshape(tf.cast(sigma(h), tf.float32), [-1])))
    return posteriors.Balancing(*out)
