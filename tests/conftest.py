"""pytest set-up shared by every test file (one process runs them all).

The CPU is split into two logical devices before TensorFlow initialises its devices, so the
distribution tests can run a 2-replica MirroredStrategy on the CPU whatever file pytest imports
first. Single-device tests keep using /CPU:0 and are unaffected.
"""

import atexit
import os
import re
import shutil
import tempfile

import pytest

# Keras (keras.json) and matplotlib (font cache) write their caches under HOME on first
# import, and AutoGraph (converted functions) and TFDS (dataset metadata) write files into the
# system temporary folder that nothing removes: point all of them at a folder of this test run
# (inherited by the binaries tests start), before anything imports them, so no test writes
# outside its temporary folders. pytest's tmp_path folders are made under it too.
_CACHES = tempfile.mkdtemp(prefix='taml_test_caches_')
atexit.register(shutil.rmtree, _CACHES, True)
os.environ['TMPDIR'] = tempfile.tempdir = _CACHES
os.environ.setdefault('KERAS_HOME', os.path.join(_CACHES, 'keras'))
os.environ.setdefault('MPLCONFIGDIR', os.path.join(_CACHES, 'matplotlib'))

from taml_tf.execution import distribute  # pylint: disable=g-import-not-at-top

distribute.split_cpu(2)


_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Bazel's test sizes, which are also pytest markers here (BUILD's _SIZES is their one home).
SIZES = ('small', 'medium', 'large', 'enormous')


def bazel_sizes(build_path: str = os.path.join(_REPO, 'BUILD')) -> dict:
  """'tests/<file>.py' -> its Bazel size, from BUILD's _SIZES (files not there: 'medium', the
  targets' default); {} where BUILD is not at hand (inside Bazel's runfiles)."""
  if not os.path.exists(build_path):
    return {}
  with open(build_path, encoding='utf-8') as f:
    text = f.read()
  block = re.search(r'^_SIZES = \{(.*?)^\}', text, re.S | re.M)
  if not block:
    raise ValueError(f'{build_path} has no _SIZES dict')
  return dict(re.findall(r'"(tests/[^"]+\.py)": "(\w+)"', block.group(1)))


def pytest_configure(config):
  for size in SIZES:
    config.addinivalue_line('markers', f'{size}: the test file\'s Bazel size is {size} '
                            '(BUILD); the fast tier is -m "small or medium"')


def pytest_collection_modifyitems(config, items):
  """Marks every test with its file's Bazel size; deselects the `test_session` method every
  tf.test.TestCase inherits.

  It is a deprecated context manager, not a test, and pytest reported it as one skipped test
  per class (about 23), which hid a real test that skipped. Only TensorFlow's own method goes:
  a test of ours named test_session would stay.
  """
  sizes = bazel_sizes()
  if sizes:
    for item in items:
      path = os.path.relpath(str(item.path), _REPO)
      item.add_marker(getattr(pytest.mark, sizes.get(path, 'medium')))
  inherited = [item for item in items if item.name == 'test_session' and getattr(
      getattr(item, 'obj', None), '__qualname__', '') == 'TensorFlowTestCase.test_session']
  if inherited:
    config.hook.pytest_deselected(items=inherited)
    items[:] = [item for item in items if item not in inherited]
