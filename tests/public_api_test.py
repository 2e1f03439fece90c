"""taml_tf's public API: every name of __all__ resolves, importing the package stays cheap,
and every public class carries an example in its docstring that runs."""

import doctest
import inspect
import subprocess
import sys
import unittest

import taml_tf
from taml_tf.method import config as config_lib
from taml_tf.method import episodes


class PublicApiTest(unittest.TestCase):

  def test_every_public_name_resolves(self):
    for name in taml_tf.__all__:
      self.assertIsNotNone(getattr(taml_tf, name), name)
    with self.assertRaisesRegex(AttributeError, 'no attribute'):
      getattr(taml_tf, 'Nothing')

  def test_import_does_not_load_tensorflow(self):
    code = 'import sys, taml_tf; print("tensorflow" in sys.modules)'
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True).stdout
    self.assertEqual(out.strip(), 'False')

  def test_public_classes_carry_an_example_that_runs(self):
    classes = [getattr(taml_tf, n) for n in taml_tf.__all__
               if inspect.isclass(getattr(taml_tf, n))]
    self.assertGreaterEqual(len(classes), 8)
    names = {n: getattr(taml_tf, n) for n in taml_tf.__all__ if n != '__version__'}
    for cls in classes:
      with self.subTest(cls.__name__):
        self.assertIn('Example', cls.__doc__ or '')
        module = sys.modules[cls.__module__]
        scope = dict(vars(module), **names, config=config_lib,
                     from_arrays=episodes.from_arrays)
        test = doctest.DocTestParser().get_doctest(cls.__doc__, scope, cls.__name__,
                                                   module.__file__, 0)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        runner.run(test, out=lambda s: None)
        self.assertEqual(runner.summarize(verbose=False).failed, 0,
                         f'{cls.__name__} docstring example failed')


if __name__ == '__main__':
  unittest.main()
