"""One factory for every tf.distribute strategy taml-tf runs under.

``default`` (one device), ``mirrored`` (the GPUs, or logical CPUs, of one machine),
``multi_worker`` (MultiWorkerMirroredStrategy from TF_CONFIG) and ``tpu`` (a TPUStrategy
built from a cluster resolver, with the TPU system initialised). The training step is the same
code under all of them.
"""

from __future__ import annotations

import os
import re

import tensorflow as tf

STRATEGIES = ('default', 'mirrored', 'multi_worker', 'tpu')
# How long a multi-worker collective may wait for the other workers before the run stops with
# an error (tf.distribute.experimental.CommunicationOptions.timeout_seconds): a worker that is
# lost without closing its connections (a machine gone, a network partition, a stopped
# process) stops the cluster after this long instead of never. Long enough for the skew
# between workers at a step: the first step's tracing, a checkpoint write, a validation.
DEFAULT_COLLECTIVE_TIMEOUT = 600.0
# The TensorFlow task names in a collective's error ('/job:worker/replica:0/task:1').
_TASK_NAME = re.compile(r'/job:(\w+)/replica:\d+/task:(\d+)')


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
                  devices: list | None = None,
                  collective_timeout: float | None = None) -> tf.distribute.Strategy:
  """Builds a distribution strategy.

  Args:
    name: one of ``STRATEGIES``.
    tpu: for 'tpu', the TPU name or grpc address ('' or 'local' for a TPU VM).
    devices: for 'mirrored', explicit device names (default: all GPUs, else all logical CPUs).
    collective_timeout: for 'multi_worker', seconds a collective may wait for the other
      workers before it fails (default ``DEFAULT_COLLECTIVE_TIMEOUT``; 0: wait forever).

  Returns:
    The strategy.

  Raises:
    ValueError: for an unknown name, `tpu` given for a non-TPU strategy, or a negative or
      misplaced `collective_timeout`.
  """
  if name not in STRATEGIES:
    raise ValueError(f'unknown strategy {name!r}; choose one of {STRATEGIES}')
  if tpu and name != 'tpu':
    raise ValueError(f'--tpu={tpu!r} is only meaningful with --strategy=tpu, not {name!r}')
  if collective_timeout is not None:
    if name != 'multi_worker':
      raise ValueError(f'--collective_timeout={collective_timeout} is only meaningful with '
                       f'--strategy=multi_worker, not {name!r}')
    if collective_timeout < 0:
      raise ValueError(f'--collective_timeout must be >= 0 seconds, got {collective_timeout}')
  if name == 'default':
    return tf.distribute.get_strategy()
  if name == 'mirrored':
    if devices is None and not tf.config.list_logical_devices('GPU'):
      devices = [d.name for d in tf.config.list_logical_devices('CPU')]
    return tf.distribute.MirroredStrategy(devices)
  if name == 'multi_worker':
    timeout = DEFAULT_COLLECTIVE_TIMEOUT if collective_timeout is None else collective_timeout
    return tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=tf.distribute.experimental.CommunicationOptions(
            timeout_seconds=timeout or None))
  resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
      tpu='local' if tpu in (None, '') else tpu)
  tf.config.experimental_connect_to_cluster(resolver)
  tf.tpu.experimental.initialize_tpu_system(resolver)
  return tf.distribute.TPUStrategy(resolver)


def _worker(strategy: tf.distribute.Strategy):
  """(task_type, task_id) of this process in a multi-worker cluster, or (None, None)."""
  if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return None, None
  resolver = strategy.cluster_resolver
  return resolver.task_type, resolver.task_id


def worker_index(strategy: tf.distribute.Strategy) -> tuple[int, int]:
  """(this process's index among the workers, the number of workers).

  One process (default, mirrored, TPU) is worker 0 of 1. In a MultiWorkerMirroredStrategy
  cluster the 'chief' task (if any) comes first, then the 'worker' tasks in TF_CONFIG's order.
  """
  task_type, task_id = _worker(strategy)
  if task_type is None:
    return 0, 1
  cluster = strategy.cluster_resolver.cluster_spec().as_dict()
  chiefs = len(cluster.get('chief', ()))
  count = chiefs + len(cluster.get('worker', ()))
  return (task_id if task_type == 'chief' else chiefs + task_id), count


def worker_name(strategy: tf.distribute.Strategy, index: int) -> str:
  """The TensorFlow task name of worker `index` (:func:`worker_index`'s order)."""
  if _worker(strategy)[0] is None:
    return 'this process'
  chiefs = len(strategy.cluster_resolver.cluster_spec().as_dict().get('chief', ()))
  job, task = ('chief', index) if index < chiefs else ('worker', index - chiefs)
  return f'/job:{job}/replica:0/task:{task}'


def lost_peer(strategy: tf.distribute.Strategy, message: str) -> str | None:
  """The task a failed collective's error `message` names other than this process
  ('/job:worker/replica:0/task:1'), or None when it names none (e.g. a timeout)."""
  return peer_in_message(message, _worker(strategy))


def peer_in_message(message: str, own: tuple) -> str | None:
  """The first task name in `message` that is not `own` ((job, task index)), or None."""
  for match in _TASK_NAME.finditer(message):
    if (match.group(1), int(match.group(2))) != tuple(own):
      return match.group(0)
  return None


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """Whether this process writes a run's files (checkpoints, summaries, results).

  One process (default, mirrored, TPU) is always the chief. In a MultiWorkerMirroredStrategy
  cluster it is the 'chief' task, or worker 0 when the cluster names no chief (TensorFlow's
  convention; TF_CONFIG's "task" says which this process is).
  """
  task_type, task_id = _worker(strategy)
  if task_type in (None, 'chief'):
    return True
  cluster = strategy.cluster_resolver.cluster_spec().as_dict()
  return task_type == 'worker' and task_id == 0 and 'chief' not in cluster


def write_dir(strategy: tf.distribute.Strategy, directory: str) -> str:
  """Where this process writes what belongs in `directory`.

  Every worker of a MultiWorkerMirroredStrategy must take part in saving a checkpoint (the save
  may need the others' values), but two workers writing the same files abort with
  MergeV2Checkpoints errors: the chief writes to `directory`, every other worker to a folder of
  its own under ``<directory>/../.workers/`` that it deletes after each save
  (:func:`discard_worker_dir`). Workers read checkpoints from the chief's folder, so the run
  folder must be on a file system all workers share (GCS, NFS; one disk on one machine).
  """
  if is_chief(strategy):
    return directory
  task_type, task_id = _worker(strategy)
  parent, name = os.path.split(os.path.normpath(directory))
  return os.path.join(parent, '.workers', f'{task_type}_{task_id}', name)


def discard_worker_dir(strategy: tf.distribute.Strategy, directory: str) -> None:
  """Deletes a non-chief worker's copy of `directory` (see :func:`write_dir`)."""
  if is_chief(strategy):
    return
  worker = os.path.dirname(write_dir(strategy, directory))
  tf.io.gfile.rmtree(worker)
  try:
    os.rmdir(os.path.dirname(worker))  # .workers, once no worker uses it
  except OSError:
    pass
