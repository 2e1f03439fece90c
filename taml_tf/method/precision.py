"""Numeric precision of the meta-learner: float32, or bfloat16 convolutions and matmuls.

'mixed_bfloat16' gives the backbone's convolutions and the set encoder's convolutions and dense
layers the Keras ``mixed_bfloat16`` policy (bfloat16 compute, float32 variables). Everything
else stays float32: the parameters and the adapted parameter tensors with their inner-loop
updates, batch-norm statistics, the dense head, losses, log-softmax, the KL and the posteriors.
Variables are float32 either way, so a checkpoint does not depend on the precision.

bfloat16 is what TPUs compute in, and CPUs with AMX or AVX512_BF16 (Intel Cooper Lake and
Sapphire Rapids on, AMD Zen 4 on) compute it in hardware. Elsewhere TensorFlow emulates it by conversion, which is slower than float32 (on an
AVX2-only CPU a 3x3 convolution's weight gradient measured about 5x slower):
:func:`hardware_warning` says so.
"""

from __future__ import annotations

import subprocess
import typing

import keras
import tensorflow as tf

PRECISIONS = ('float32', 'mixed_bfloat16')
# CPU features that decide what the matrix units can do: AVX-512 and AMX / AVX512_BF16 give
# bfloat16 hardware; without them bfloat16 is emulated.
CPU_FLAGS = ('avx2', 'fma', 'avx512f', 'avx512_bf16', 'amx_tile', 'amx_bf16')
BFLOAT16_CPU_FLAGS = ('avx512_bf16', 'amx_bf16')


def check(precision: str) -> str:
  """Returns `precision` if it is one of :data:`PRECISIONS`, else raises ValueError."""
  if precision not in PRECISIONS:
    raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
  return precision


def layer_policy(precision: str) -> keras.DTypePolicy:
  """The Keras dtype policy of the convolution and dense layers for `precision`."""
  return keras.DTypePolicy(check(precision))


def cpu_info() -> dict:
  """The CPU model and its relevant feature flags (from lscpu, else /proc/cpuinfo).

  Returns:
    {'model': str, 'flags': [the CPU_FLAGS present], 'bfloat16_hardware': bool}.
  """
  text = ''
  try:
    text = subprocess.run(['lscpu'], capture_output=True, text=True, check=False).stdout
  except OSError:
    pass
  if not text:
    try:
      with open('/proc/cpuinfo') as f:
        text = f.read()
    except OSError:
      text = ''
  model, flags = 'unknown', set()
  for line in text.splitlines():
    key, _, value = line.partition(':')
    key = key.strip().lower()
    if key == 'model name' and model == 'unknown':
      model = value.strip()
    elif key == 'flags':
      flags |= set(value.split())
  present = [f for f in CPU_FLAGS if f in flags]
  return {'model': model, 'flags': present,
          'bfloat16_hardware': any(f in flags for f in BFLOAT16_CPU_FLAGS)}


def hardware_warning(precision: str, cpu: dict,
                     accelerators: typing.Sequence[str] = ()) -> typing.Optional[str]:
  """A warning when 'mixed_bfloat16' will run without bfloat16 hardware, else None.

  Args:
    precision: one of :data:`PRECISIONS`.
    cpu: :func:`cpu_info`'s result.
    accelerators: device types present besides the CPU ('GPU', 'TPU').

  Returns:
    None for float32, on a GPU / TPU, or on a CPU with AMX / AVX512_BF16; else a sentence
    naming the CPU and saying that bfloat16 is emulated there.
  """
  if check(precision) == 'float32' or accelerators or cpu.get('bfloat16_hardware'):
    return None
  return (f"--precision={precision} on {cpu.get('model', 'an unknown CPU')} without AMX or "
          'AVX512_BF16 and without a GPU or TPU: TensorFlow emulates bfloat16 here, which is '
          'slower than float32; use it on hardware with bfloat16 units')


def startup_warning(precision: str, tpu: bool = False) -> typing.Optional[str]:
  """:func:`hardware_warning` for this machine: its CPU and its GPUs / TPUs.

  Looks at the hardware only for a precision other than float32, so a float32 run starts
  without running lscpu.

  Args:
    precision: one of :data:`PRECISIONS`.
    tpu: the run uses a TPU (a TPU worker's devices are not listed before it connects).

  Returns:
    The warning, or None.
  """
  if check(precision) == 'float32':
    return None
  accelerators = sorted({d.device_type for d in tf.config.list_physical_devices()} - {'CPU'})
  if tpu:
    accelerators.append('TPU')
  return hardware_warning(precision, cpu_info(), accelerators)
