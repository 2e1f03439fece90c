"""One factory for every tf.distribute strategy taml-tf runs under.

``default`` (one device), ``mirrored`` (the GPUs, or logical CPUs, of one machine),
``multi_worker`` (MultiWorkerMirroredStrategy from TF_CONFIG) and ``tpu`` (a TPUStrategy
built from a cluster resolver, with the TPU system initialised). The training step is the same
code under all of them.
"""

from __future__ import annotations

import tensorflow as tf

STRATEGIES = ('default', 'mirrored', 'multi_worker', 'tpu')


def split_cpu(num_devices: int) -> None:
  """Splits the physical CPU into `num_devices` logical devices (for testing replicas on CPU).

  Must run before TensorFlow initialises its devices; a no-op when the split already exists.

  Raises:
    RuntimeError: if TensorFlow already initialised a different device layout.
  """
  cpu = tf.config.list_physical_devices('CPU')[0]
  current = tf.config.get_logical_device_configuration(cpu)
  if current is not None and len(current) == num_devices:
    return
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)])


def make_strategy(name: str = 'default', tpu: str | None = None,
                  devices: list | None = None) -> tf.distribute.Strategy:
  """Builds a distribution strategy.

  Args:
    name: one of ``STRATEGIES``.
    tpu: for 'tpu', the TPU name or grpc address ('' or 'local' for a TPU VM).
    devices: for 'mirrored', explicit device names (default: all GPUs, else all logical CPUs).

  Returns:
    The strategy.

  Raises:
    ValueError: for an unknown name, or `tpu` given for a non-TPU strategy.
  """
  if name not in STRATEGIES:
    raise ValueError(f'unknown strategy {name!r}; choose one of {STRATEGIES}')
  if tpu and name != 'tpu':
    raise ValueError(f'--tpu={tpu!r} is only meaningful with --strategy=tpu, not {name!r}')
  if name == 'default':
    return tf.distribute.get_strategy()
  if name == 'mirrored':
    if devices is None and not tf.config.list_logical_devices('GPU'):
      devices = [d.name for d in tf.config.list_logical_devices('CPU')]
    return tf.distribute.MirroredStrategy(devices)
  if name == 'multi_worker':
    return tf.distribute.MultiWorkerMirroredStrategy()
  resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
      tpu='local' if tpu in (None, '') else tpu)
  tf.config.experimental_connect_to_cluster(resolver)
  tf.tpu.experimental.initialize_tpu_system(resolver)
  return tf.distribute.TPUStrategy(resolver)
