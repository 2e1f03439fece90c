"""oneDNN's CPU kernels for TensorFlow on every x86-64 CPU, not only the newest.

TensorFlow's x86-64 build carries two sets of CPU kernels for convolution, pooling, batch norm
and matmul: Eigen's and oneDNN's. It turns oneDNN's on by itself only where the CPU has
AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX, and reads ``TF_ENABLE_ONEDNN_OPTS`` (``1`` on, ``0``
off) once, when TensorFlow is imported. On an AVX2-only CPU (an AMD EPYC Zen 3, 2026-12-07) a
meta-update on Eigen's kernels took 2.1x as long as on oneDNN's (Bayesian TAML train A, the
peers' tasks: 1.084 s against 0.515 s; Eigen's MaxPoolGrad alone was a quarter of the step),
which put taml-tf at 0.7-1.4x the PyTorch ports there against 2-3x on an AVX-512 CPU
(docs/performance.md, "oneDNN's kernels on an AVX2 CPU").

So ``import taml_tf`` asks for oneDNN (:func:`default_on`) unless the environment already says
otherwise; it has to come before the first ``import tensorflow`` of the process to count. A
program that imports TensorFlow first, or sets ``TF_ENABLE_ONEDNN_OPTS=0``, keeps TensorFlow's
own choice; :func:`enabled` tells which kernels a process runs.
"""

from __future__ import annotations

import os
import platform
import sys
import typing

ENV = 'TF_ENABLE_ONEDNN_OPTS'
# Where TensorFlow's wheel has oneDNN's kernels without its compute library for Arm, whose
# default TensorFlow chooses per Arm CPU and this module leaves alone.
_X86_64 = ('x86_64', 'amd64')


def default_on(environ: typing.MutableMapping[str, str] | None = None,
               machine: str | None = None,
               tensorflow_imported: bool | None = None) -> bool:
  """Asks for oneDNN's kernels where nothing else has decided: sets ``TF_ENABLE_ONEDNN_OPTS=1``
  on x86-64 if the variable is unset and TensorFlow is not yet imported.

  Args:
    environ: the environment to set it in (default ``os.environ``, which child processes
      inherit).
    machine: the machine architecture (default ``platform.machine()``).
    tensorflow_imported: whether TensorFlow is already imported (default: read from
      ``sys.modules``); once it is, TensorFlow has read the variable, and setting it then
      would make the environment claim kernels this process does not run.

  Returns:
    Whether the variable was set.

  Example:

  >>> from taml_tf.execution import onednn
  >>> env = {}
  >>> onednn.default_on(env, machine='x86_64', tensorflow_imported=False), env
  (True, {'TF_ENABLE_ONEDNN_OPTS': '1'})
  >>> onednn.default_on({'TF_ENABLE_ONEDNN_OPTS': '0'}, 'x86_64', False)
  False
  """
  environ = os.environ if environ is None else environ
  machine = platform.machine() if machine is None else machine
  if tensorflow_imported is None:
    tensorflow_imported = 'tensorflow' in sys.modules
  if tensorflow_imported or ENV in environ or machine.lower() not in _X86_64:
    return False
  environ[ENV] = '1'
  return True


def enabled() -> bool:
  """Whether this process's TensorFlow runs oneDNN's CPU kernels (fixed at its import).

  Returns:
    True where TensorFlow's graph rewrites put oneDNN's kernels in; False where it runs
    Eigen's (TensorFlow's default on CPUs without AVX512_VNNI / AVX512_BF16 / AMX, or
    ``TF_ENABLE_ONEDNN_OPTS=0``).
  """
  # TensorFlow has no public query: its own start-up message comes from the same function.
  from tensorflow.python.util import _pywrap_util_port  # pylint: disable=g-import-not-at-top
  return bool(_pywrap_util_port.IsMklEnabled())
