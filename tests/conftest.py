"""pytest set-up shared by every test file (one process runs them all).

The CPU is split into two logical devices before TensorFlow initialises its devices, so the
distribution tests can run a 2-replica MirroredStrategy on the CPU whatever file pytest imports
first. Single-device tests keep using /CPU:0 and are unaffected.
"""

from taml_tf import distribute

distribute.split_cpu(2)


def pytest_collection_modifyitems(config, items):
  """Deselects the `test_session` method every tf.test.TestCase inherits.

  It is a deprecated context manager, not a test, and pytest reported it as one skipped test
  per class (about 23), which hid a real test that skipped. Only TensorFlow's own method goes:
  a test of ours named test_session would stay.
  """
  inherited = [item for item in items if item.name == 'test_session' and getattr(
      getattr(item, 'obj', None), '__qualname__', '') == 'TensorFlowTestCase.test_session']
  if inherited:
    config.hook.pytest_deselected(items=inherited)
    items[:] = [item for item in items if item not in inherited]
