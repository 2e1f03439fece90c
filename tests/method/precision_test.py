"""Tests of the precision settings and the bfloat16 hardware check."""

from unittest import mock

import tensorflow as tf

from taml_tf.method import precision


class PrecisionTest(tf.test.TestCase):

  def test_unknown_precision_is_refused_by_name(self):
    with self.assertRaisesRegex(ValueError, 'float16'):
      precision.layer_policy('float16')

  def test_policies(self):
    self.assertEqual(precision.layer_policy('float32').compute_dtype, 'float32')
    policy = precision.layer_policy('mixed_bfloat16')
    self.assertEqual((policy.compute_dtype, policy.variable_dtype), ('bfloat16', 'float32'))

  def test_warns_only_for_bfloat16_without_hardware(self):
    amd = {'model': 'AMD EPYC', 'flags': ['avx2', 'fma'], 'bfloat16_hardware': False}
    xeon = {'model': 'Intel Xeon', 'flags': ['avx512f', 'amx_bf16'], 'bfloat16_hardware': True}
    self.assertIsNone(precision.hardware_warning('float32', amd))
    warning = precision.hardware_warning('mixed_bfloat16', amd)
    self.assertIn('AMD EPYC', warning)
    self.assertIn('emulates bfloat16', warning)
    self.assertIsNone(precision.hardware_warning('mixed_bfloat16', xeon))
    self.assertIsNone(precision.hardware_warning('mixed_bfloat16', amd, accelerators=['TPU']))

  def test_startup_warning_looks_at_this_machine_only_for_bfloat16(self):
    amd = {'model': 'AMD EPYC', 'flags': ['avx2'], 'bfloat16_hardware': False}
    with mock.patch.object(precision, 'cpu_info', side_effect=AssertionError('lscpu ran')):
      self.assertIsNone(precision.startup_warning('float32'))
    with mock.patch.object(precision, 'cpu_info', return_value=amd), \
         mock.patch.object(tf.config, 'list_physical_devices',
                           return_value=[tf.config.PhysicalDevice('/cpu:0', 'CPU')]):
      self.assertIn('AMD EPYC', precision.startup_warning('mixed_bfloat16'))
      self.assertIsNone(precision.startup_warning('mixed_bfloat16', tpu=True))
    with mock.patch.object(precision, 'cpu_info', return_value=amd), \
         mock.patch.object(tf.config, 'list_physical_devices',
                           return_value=[tf.config.PhysicalDevice('/gpu:0', 'GPU')]):
      self.assertIsNone(precision.startup_warning('mixed_bfloat16'))

  def test_cpu_info_matches_proc_cpuinfo(self):
    info = precision.cpu_info()
    with open('/proc/cpuinfo') as f:
      flags = set()
      for line in f:
        if line.startswith('flags'):
          flags |= set(line.split(':', 1)[1].split())
    self.assertEqual(info['flags'], [f for f in precision.CPU_FLAGS if f in flags])
    self.assertEqual(info['bfloat16_hardware'],
                     any(f in flags for f in precision.BFLOAT16_CPU_FLAGS))
    self.assertNotEqual(info['model'], '')


if __name__ == '__main__':
  tf.test.main()
