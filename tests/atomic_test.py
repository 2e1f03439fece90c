"""Tests of atomic file writes."""

import os
from unittest import mock

import tensorflow as tf

from taml_tf import atomic


class AtomicTest(tf.test.TestCase):

  def test_writes_and_replaces(self):
    path = os.path.join(self.get_temp_dir(), 'a.json')
    atomic.write_text(path, 'one')
    atomic.write_text(path, 'two')
    with open(path) as f:
      self.assertEqual(f.read(), 'two')
    self.assertEqual(os.listdir(os.path.dirname(path)), ['a.json'])

  def test_failure_keeps_the_old_file_and_leaves_no_temporary(self):
    folder = os.path.join(self.get_temp_dir(), 'fail')
    os.makedirs(folder)
    path = os.path.join(folder, 'b.bin')
    atomic.write_bytes(path, b'old')
    with mock.patch.object(os, 'replace', side_effect=OSError('disk full')):
      with self.assertRaisesRegex(OSError, 'disk full'):
        atomic.write_bytes(path, b'new')
    with open(path, 'rb') as f:
      self.assertEqual(f.read(), b'old')
    self.assertEqual(os.listdir(folder), ['b.bin'])


if __name__ == '__main__':
  tf.test.main()
