"""Tests of atomic file writes."""

import os
import tempfile
from unittest import mock

import tensorflow as tf

from taml_tf.execution import atomic


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


class ReplaceDirTest(tf.test.TestCase):

  def _folder(self, parent, name, text):
    path = os.path.join(parent, name)
    os.makedirs(path)
    with open(os.path.join(path, 'f'), 'w') as f:
      f.write(text)
    return path

  def test_moves_into_place_and_swaps_only_with_overwrite(self):
    parent = tempfile.mkdtemp(dir=self.get_temp_dir())
    target = os.path.join(parent, 'model')
    atomic.replace_dir(self._folder(parent, '.new1', 'one'), target, overwrite=False)
    with self.assertRaises(FileExistsError):
      atomic.replace_dir(self._folder(parent, '.new2', 'two'), target, overwrite=False)
    atomic.replace_dir(os.path.join(parent, '.new2'), target, overwrite=True)
    with open(os.path.join(target, 'f')) as f:
      self.assertEqual(f.read(), 'two')
    self.assertEqual(sorted(os.listdir(parent)), ['model'])  # the old one is gone

  def test_failed_swap_keeps_the_old_folder(self):
    parent = tempfile.mkdtemp(dir=self.get_temp_dir())
    target = self._folder(parent, 'model', 'old')
    new = self._folder(parent, '.new', 'new')
    real_rename = os.rename

    def rename(src, dst):
      if src == new:
        raise OSError('disk full')
      return real_rename(src, dst)

    with mock.patch.object(os, 'rename', side_effect=rename):
      with self.assertRaisesRegex(OSError, 'disk full'):
        atomic.replace_dir(new, target, overwrite=True)
    with open(os.path.join(target, 'f')) as f:
      self.assertEqual(f.read(), 'old')


if __name__ == '__main__':
  tf.test.main()
