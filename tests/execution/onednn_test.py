"""taml_tf.execution.onednn: `import taml_tf` asks for oneDNN's kernels, and only where nothing
else has decided.

TensorFlow reads TF_ENABLE_ONEDNN_OPTS once, at its import, so the end-to-end cases run in a
fresh Python process each. On a CPU where TensorFlow turns oneDNN on by itself (AVX512_VNNI,
AVX512_BF16, AMX) the first of them passes without the package's default too; on an AVX2-only
CPU it fails without it (TensorFlow's default there is Eigen's kernels).
"""

import os
import platform
import unittest

from taml_tf.execution import onednn
from tests.helpers import fresh_python

_X86_64 = platform.machine().lower() in ('x86_64', 'amd64')


def kernels_after(code: str, **env) -> bool:
  """Runs `code` in a new Python process without TF_ENABLE_ONEDNN_OPTS in its environment
  (unless given in `env`); returns onednn.enabled() there."""
  return fresh_python(code + '\nimport json\nfrom taml_tf.execution import onednn\n'
                      'print("RESULT", json.dumps(onednn.enabled()))',
                      drop=(onednn.ENV,), **env)


class DefaultOnTest(unittest.TestCase):

  def test_sets_the_variable_only_where_unset_on_x86_64_before_tensorflow(self):
    env = {}
    self.assertTrue(onednn.default_on(env, machine='x86_64', tensorflow_imported=False))
    self.assertEqual(env, {onednn.ENV: '1'})
    self.assertTrue(onednn.default_on({}, machine='AMD64', tensorflow_imported=False))
    for env in ({onednn.ENV: '0'}, {onednn.ENV: '1'}):  # the user's choice stands
      before = dict(env)
      self.assertFalse(onednn.default_on(env, machine='x86_64', tensorflow_imported=False))
      self.assertEqual(env, before)
    for machine in ('aarch64', 'arm64', 'ppc64le'):  # TensorFlow's own choice per Arm CPU
      env = {}
      self.assertFalse(onednn.default_on(env, machine=machine, tensorflow_imported=False))
      self.assertEqual(env, {})
    env = {}  # too late: TensorFlow has read the environment
    self.assertFalse(onednn.default_on(env, machine='x86_64', tensorflow_imported=True))
    self.assertEqual(env, {})

  def test_reads_sys_modules_and_os_environ_by_default(self):
    import tensorflow  # pylint: disable=g-import-not-at-top,unused-import
    # TensorFlow is imported in this process, so nothing may change.
    before = os.environ.get(onednn.ENV)
    self.assertFalse(onednn.default_on())
    self.assertEqual(os.environ.get(onednn.ENV), before)


@unittest.skipUnless(_X86_64, 'the package asks for oneDNN on x86-64 only')
class ImportTest(unittest.TestCase):

  def test_import_taml_tf_first_runs_onednn_kernels(self):
    self.assertTrue(kernels_after('import taml_tf\nimport tensorflow'))

  def test_a_users_zero_is_kept(self):
    self.assertFalse(kernels_after('import taml_tf\nimport tensorflow',
                                   **{onednn.ENV: '0'}))


if __name__ == '__main__':
  unittest.main()
