"""Running a script in a Python process where taml_tf, Keras and TFP cannot be imported.

A SavedModel this package exports must serve with TensorFlow alone; tests that check it (an
export, the published models) run their serving script through :func:`run`.
"""

import os
import subprocess
import sys
import textwrap

BLOCKED = ('taml_tf', 'keras', 'tf_keras', 'tensorflow_probability')

_PROLOGUE = f"""
import sys
# Only the SavedModel may be used: no taml_tf (even if installed), Keras or TFP.
for name in {BLOCKED!r}:
  sys.modules[name] = None
try:
  import taml_tf
except ImportError:
  pass
else:
  raise SystemExit('taml_tf is importable')
"""

_EPILOGUE = f"""
loaded = [m for m in sys.modules if m.split('.')[0] in {BLOCKED!r}]
assert not [m for m in loaded if sys.modules[m] is not None], loaded
"""


def run(test, script: str, cwd: str, timeout: int) -> None:
  """Runs `script` (dedented) in a fresh process in `cwd` with the packages of BLOCKED made
  unimportable, then checks none of them was loaded; fails `test` unless all of it exits 0."""
  env = {k: v for k, v in os.environ.items() if not k.startswith('PYTHON')}
  env['TF_CPP_MIN_LOG_LEVEL'] = '2'
  code = _PROLOGUE + textwrap.dedent(script) + _EPILOGUE
  result = subprocess.run([sys.executable, '-c', code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
  test.assertEqual(result.returncode, 0, result.stderr[-3000:])
