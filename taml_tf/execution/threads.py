"""TensorFlow's CPU thread pools, sized for meta-learning steps by measurement.

A meta-update is thousands of small ops in a few independent chains (the meta-batch's tasks;
at meta-test, the Monte-Carlo samples). TensorFlow's default gives every op the intra-op pool
(one thread per core) *and* runs as many ops side by side as there are cores: on 2 cores that
is up to 4 busy threads handing small ops to each other. Running each op on one thread and the
independent chains side by side was measured 1.3x faster on a 2-core Xeon (Bayesian TAML train
step, the peers' A tasks: 0.60 s against 0.77-0.86 s; docs/performance.md, "Levers measured
on 2026-12-04 (evening)").

The pools are the process's, fixed once TensorFlow has run its first op: :func:`configure` is
the first call of a program (the taml-* binaries make it from ``--inter_op_threads`` and
``--intra_op_threads``).
"""

from __future__ import annotations

import os
import typing

import tensorflow as tf

# The environment variables TensorFlow reads when no pool size is configured.
ENV_INTER_OP = 'TF_NUM_INTEROP_THREADS'
ENV_INTRA_OP = 'TF_NUM_INTRAOP_THREADS'
# Tasks of the default meta-batch that run side by side (each needs a thread).
_CHAINS = 4


class Pools(typing.NamedTuple):
  """Thread-pool sizes; 0 leaves the choice to TensorFlow (its environment variables, else
  one thread per core)."""
  inter_op: int
  intra_op: int


def cores() -> int:
  """CPU cores this process may run on (its affinity mask, as ``taskset`` restricts it)."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # not on Linux
    return os.cpu_count() or 1


def default_pools(num_cores: int | None = None) -> Pools:
  """The pools :func:`configure` uses unless told otherwise.

  One ``inter_op`` thread per core; ``intra_op`` threads per op so that the four tasks of a
  meta-batch together fill the cores: 1 up to 7 cores. Measured on 2 cores only, where it was
  the fastest setting tried, level with (3, 1) (docs/performance.md); above that the rule is
  the same reasoning, not a measurement.

  Args:
    num_cores: cores to size for (default: :func:`cores`).

  Returns:
    :class:`Pools`.

  Example:

  >>> from taml_tf.execution import threads
  >>> threads.default_pools(2)
  Pools(inter_op=2, intra_op=1)
  >>> threads.default_pools(16)
  Pools(inter_op=16, intra_op=4)
  """
  n = cores() if num_cores is None else int(num_cores)
  if n < 1:
    raise ValueError(f'num_cores must be >= 1, got {n}')
  return Pools(inter_op=n, intra_op=max(1, n // _CHAINS))


def current() -> Pools:
  """The pool sizes TensorFlow is configured with (0: its own default)."""
  return Pools(tf.config.threading.get_inter_op_parallelism_threads(),
               tf.config.threading.get_intra_op_parallelism_threads())


def _requested(value, env: str, default: int) -> int:
  if value is None:
    # An explicit environment variable is the user's choice (the study's lanes set 1 and 1):
    # leaving the pool unconfigured lets TensorFlow read it.
    return 0 if os.environ.get(env) else default
  value = int(value)
  if value < 0:
    raise ValueError(f'thread-pool sizes must be >= 0 (0: TensorFlow\'s default), got {value}')
  return value


def configure(inter_op: int | None = None, intra_op: int | None = None) -> Pools:
  """Sizes TensorFlow's inter-op and intra-op thread pools; call it before any TensorFlow op.

  Args:
    inter_op: ops run side by side. None: :func:`default_pools` (or, where it is set, the
      ``TF_NUM_INTEROP_THREADS`` environment variable); 0: TensorFlow's default.
    intra_op: threads one op may use. None: :func:`default_pools` (or
      ``TF_NUM_INTRAOP_THREADS``); 0: TensorFlow's default.

  Returns:
    The :class:`Pools` now configured (0 where TensorFlow decides).

  Raises:
    ValueError: a negative size.
    RuntimeError: TensorFlow has already run an op with other pool sizes (they are fixed from
      then on): the message says to call this first.

  Example:

  >>> import taml_tf
  >>> taml_tf.configure_threads()       # doctest: +SKIP
  Pools(inter_op=2, intra_op=1)
  >>> from taml_tf.execution import threads
  >>> threads.default_pools(2)          # what it chose on the 2 cores above
  Pools(inter_op=2, intra_op=1)
  """
  defaults = default_pools()
  wanted = Pools(_requested(inter_op, ENV_INTER_OP, defaults.inter_op),
                 _requested(intra_op, ENV_INTRA_OP, defaults.intra_op))
  if current() == wanted:
    return wanted
  try:
    tf.config.threading.set_inter_op_parallelism_threads(wanted.inter_op)
    tf.config.threading.set_intra_op_parallelism_threads(wanted.intra_op)
  except RuntimeError as e:
    raise RuntimeError(
        f'cannot size the thread pools to {tuple(wanted)} (inter-op, intra-op): TensorFlow '
        f'has already run an op with {tuple(current())}, and its pools are fixed from then on. '
        f'Call taml_tf.configure_threads() first, before building a model ({e})') from e
  return current()


# The public name (taml_tf.configure_threads).
configure_threads = configure
