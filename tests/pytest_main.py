"""Bazel entry point of every test target: runs pytest on the test file given, as CI does.

The rootdir is the repository's root in the runfiles, so tests/conftest.py applies to every
file (pytest only reads conftest.py files up to the rootdir, which would otherwise be the test
file's own folder), and the test results go to Bazel's XML file when Bazel asks for one.
"""

import os
import sys

import pytest

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

if __name__ == '__main__':
  # Bazel gives each test a private TEST_TMPDIR but leaves TMPDIR at /tmp: temporary folders
  # (tempfile, tf.test) go to the private one.
  if os.environ.get('TEST_TMPDIR'):
    os.environ['TMPDIR'] = os.environ['TEST_TMPDIR']
  args = ['-q', '-p', 'no:cacheprovider', f'--rootdir={_REPO}']
  if os.environ.get('XML_OUTPUT_FILE'):
    args.append(f'--junitxml={os.environ["XML_OUTPUT_FILE"]}')
  sys.exit(pytest.main(args + sys.argv[1:]))
