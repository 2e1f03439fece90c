"""tests/conftest.py: pytest collects no inherited tf.test.TestCase.test_session."""

import os
import subprocess
import sys
import unittest

_TESTS = os.path.dirname(os.path.abspath(__file__))


class ConftestTest(unittest.TestCase):

  def test_inherited_test_session_is_not_collected(self):
    # calibration_test.py has three tf.test.TestCase classes, each inheriting test_session.
    proc = subprocess.run(
        [sys.executable, '-m', 'pytest', '--collect-only', '-q', '-p', 'no:cacheprovider',
         os.path.join(_TESTS, 'calibration_test.py')],
        capture_output=True, text=True, timeout=300, cwd=os.path.dirname(_TESTS),
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))
    self.assertEqual(proc.returncode, 0, proc.stdout[-3000:] + proc.stderr[-3000:])
    self.assertIn('test_matches_brute_force', proc.stdout)
    self.assertNotIn('test_session', proc.stdout)
    self.assertRegex(proc.stdout, r'\b3 deselected')


if __name__ == '__main__':
  unittest.main()
