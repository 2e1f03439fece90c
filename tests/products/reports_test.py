"""Tests of taml_tf.products.reports on a hand-made result: files written, markdown, read back."""

import dataclasses
import os
import tempfile
import typing
from unittest import mock

import numpy as np
import tensorflow as tf

from taml_tf.method.models import posteriors
from taml_tf.products import reports
from tests import helpers


class ReportsTest(tf.test.TestCase):

  def test_round_trip(self):
    result = helpers.tiny_result()
    with tempfile.TemporaryDirectory() as out:
      paths = reports.write_results(result, out)
      self.assertEqual(sorted(os.listdir(out)), ['balancing.npz', 'results.json', 'results.md'])
      loaded, arrays = reports.read_results(out)
      self.assertEqual(loaded, result.to_dict())
      self.assertEqual(arrays['dataset'].tolist(), ['toy', 'toy'])
      self.assertAllEqual(arrays['query_size'], [2, 1])
      self.assertAllClose(arrays['omega'], [[0.5, 0.5]] * 2)
      self.assertNotIn('z', arrays)
      with open(paths['markdown']) as f:
        text = f.read()
      self.assertIn('| toy | 2 | 75.00 ± 49.00 | 0.4000 |', text)
      # Empty buckets are left out of the split tables.
      self.assertIn('| toy | 1-25 | 2 | 75.00 ± 49.00 | 0.4000 |', text)
      self.assertNotIn('26-50', text)

  def test_every_variable_of_the_table_is_written(self):
    """A balancing variable added to posteriors.VARIABLES reaches balancing.npz with no other
    change: here a per-layer multiplier recorded as 'lam_multiplier'."""
    fields = (*posteriors.Balancing._fields, 'lam')
    table = typing.NamedTuple('Table', [(f, posteriors.Variable) for f in fields])(
        *posteriors.VARIABLES, posteriors.Variable('lam_on', 'num_layers', False, 'decay',
                                                   'lam_multiplier', 'exp'))
    result = helpers.tiny_result()
    records = [dataclasses.replace(r, exp_gamma=np.array([1.0, 2.0, 3.0]),
                                   other_variables={'lam_multiplier': np.array([0.5, i])})
               for i, r in enumerate(result.records)]
    with mock.patch.object(posteriors, 'VARIABLES', table):
      arrays = reports.balancing_arrays(records)
    self.assertAllClose(arrays['lam_multiplier'], [[0.5, 0.0], [0.5, 1.0]])
    self.assertAllClose(arrays['exp_gamma'], [[1.0, 2.0, 3.0]] * 2)
    self.assertAllClose(arrays['omega'], [[0.5, 0.5]] * 2)
    self.assertNotIn('z', arrays)
    self.assertEqual(records[1].variable('lam_multiplier').tolist(), [0.5, 1.0])
    self.assertIsNone(records[1].variable('z'))

  def test_format_number(self):
    self.assertEqual(reports.format_number(0.1234, 100), '12.34')
    self.assertEqual(reports.format_number(None), 'n/a')
    self.assertEqual(reports.format_number(float('nan')), 'n/a')

  def test_read_errors(self):
    with tempfile.TemporaryDirectory() as out:
      with self.assertRaisesRegex(FileNotFoundError, 'results.json does not exist'):
        reports.read_results(out)
      reports.write_results(helpers.tiny_result(), out)
      with open(os.path.join(out, 'results.json'), 'w') as f:
        f.write('{"mode": ')
      with self.assertRaisesRegex(ValueError, 'corrupt evaluation results'):
        reports.read_results(out)


if __name__ == '__main__':
  tf.test.main()
