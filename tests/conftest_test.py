"""tests/conftest.py: no inherited tf.test.TestCase.test_session; temporary files stay in the run."""

import os
import subprocess
import sys
import tempfile
import unittest

import tensorflow as tf

_TESTS = os.path.dirname(os.path.abspath(__file__))


def collect(*args):
  """`pytest --collect-only -q args` from the repository's root, in a new process."""
  return subprocess.run(
      [sys.executable, '-m', 'pytest', '--collect-only', '-q', '-p', 'no:cacheprovider', *args],
      capture_output=True, text=True, timeout=300, cwd=os.path.dirname(_TESTS),
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))


class ConftestTest(unittest.TestCase):

  def test_inherited_test_session_is_not_collected(self):
    # calibration_test.py has three tf.test.TestCase classes, each inheriting test_session.
    proc = collect(os.path.join(_TESTS, 'products', 'calibration_test.py'))
    self.assertEqual(proc.returncode, 0, proc.stdout[-3000:] + proc.stderr[-3000:])
    self.assertIn('test_matches_brute_force', proc.stdout)
    self.assertNotIn('test_session', proc.stdout)
    self.assertRegex(proc.stdout, r'\b3 deselected')

  def test_each_test_is_marked_with_its_files_bazel_size(self):
    # BUILD's _SIZES is the one home of the sizes; a file not there is Bazel's default, medium.
    build = os.path.join(os.path.dirname(_TESTS), 'BUILD')
    if not os.path.exists(build):
      self.skipTest('BUILD is not in the runfiles (under Bazel the target has the size)')
    proc = collect('-m', 'enormous', os.path.join(_TESTS, 'method', 'learner_test.py'),
                   os.path.join(_TESTS, 'products', 'calibration_test.py'))
    self.assertEqual(proc.returncode, 0, proc.stdout[-3000:] + proc.stderr[-3000:])
    self.assertIn('learner_test.py::', proc.stdout)
    self.assertNotIn('calibration_test.py::', proc.stdout)
    from tests import conftest  # pylint: disable=g-import-not-at-top
    sizes = conftest.bazel_sizes(build)
    self.assertEqual(sizes['tests/method/learner_test.py'], 'enormous')
    self.assertEqual(sizes['tests/products/evaluation_test.py'], 'large')
    for path, size in sizes.items():
      self.assertTrue(os.path.exists(os.path.join(os.path.dirname(_TESTS), path)), path)
      self.assertIn(size, conftest.SIZES, path)

  def test_temporary_files_go_to_the_runs_folder(self):
    # AutoGraph writes each converted function as a .py file into the temporary folder, which
    # nothing removes: it must be the test run's own folder, which conftest removes at exit.
    folder = tempfile.gettempdir()
    self.assertTrue(os.path.basename(folder).startswith('taml_test_caches_'), folder)
    self.assertEqual(os.environ['TMPDIR'], folder)

    @tf.function
    def clipped(x):
      if x > 0:  # a Python condition on a tensor: AutoGraph converts it
        return x
      return -x

    before = set(os.listdir(folder))
    self.assertEqual(float(clipped(tf.constant(-2.0))), 2.0)
    written = [f for f in set(os.listdir(folder)) - before if f.startswith('__autograph')]
    self.assertTrue(written, 'AutoGraph wrote no file into the run\'s temporary folder')


if __name__ == '__main__':
  unittest.main()
