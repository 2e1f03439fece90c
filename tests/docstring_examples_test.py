"""Every public name of taml_tf has a docstring example, and every example runs.

For each name of ``taml_tf.__all__`` (``__version__`` aside) the test finds its docstring,
checks that it holds a doctest example (``>>>``) of which at least one line is not skipped,
and runs it with doctest; any failure fails the test. A constant such as ``VARIANTS`` has no
docstring of its own (its ``__doc__`` is dict's): its example lives in the docstring of the
module that defines it, and must use the name.

The examples run with their module's globals (as ``doctest.testmod`` runs them) plus the
public names, in a temporary working folder, which they must leave empty: files only under
temporary folders they remove.
"""

import doctest
import inspect
import os
import sys
import tempfile
import unittest

import taml_tf

PUBLIC = [name for name in taml_tf.__all__ if name != '__version__']
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def example_of(value, module):
  """The docstring that holds the example of `value`, a public name defined in `module`."""
  if inspect.isclass(value) or inspect.isroutine(value):
    return value.__doc__
  # A constant: its __doc__ is its type's. The defining module's docstring documents it.
  return module.__doc__


def run_example(name, value=None, module=None):
  """(doctest, the doctest report, examples run, failures) for public name `name` (or a
  `value` defined in `module`, for the test's planted docstrings)."""
  if value is None:
    value = getattr(taml_tf, name)
    module = sys.modules[taml_tf._EXPORTS[name]]  # pylint: disable=protected-access
  scope = dict(vars(module), **{n: getattr(taml_tf, n) for n in PUBLIC})
  test = doctest.DocTestParser().get_doctest(example_of(value, module) or '', scope,
                                             f'taml_tf.{name}', module.__file__, 0)
  report = []
  runner = doctest.DocTestRunner(optionflags=FLAGS)
  runner.run(test, out=report.append)
  results = runner.summarize(verbose=False)
  # Python 3.13 counts skipped examples in `attempted` (and has `skipped`); 3.11 leaves them out.
  ran = results.attempted - getattr(results, 'skipped', 0)
  return test, ''.join(report), ran, results.failed


class DocstringExamplesTest(unittest.TestCase):

  def setUp(self):
    super().setUp()
    self.folder = self.enterContext(tempfile.TemporaryDirectory())
    cwd = os.getcwd()
    os.chdir(self.folder)
    self.addCleanup(os.chdir, cwd)

  def test_every_public_name_has_an_example_that_runs(self):
    self.assertGreaterEqual(len(PUBLIC), 15)
    for name in PUBLIC:
      with self.subTest(name):
        test, report, ran, failed = run_example(name)
        self.assertTrue(test.examples, f'taml_tf.{name}: no >>> example in its docstring')
        self.assertGreater(ran, 0, f'taml_tf.{name}: every example line is skipped')
        if not (inspect.isclass(getattr(taml_tf, name)) or
                inspect.isroutine(getattr(taml_tf, name))):
          self.assertTrue(any(name in example.source for example in test.examples),
                          f'the docstring of {test.filename} has no example of {name}')
        self.assertEqual(failed, 0, f'taml_tf.{name} docstring example failed:\n{report}')
        self.assertEqual(os.listdir(self.folder), [],
                         f'taml_tf.{name} example left files in the working folder')

  def test_a_failing_or_missing_example_is_caught(self):
    # The checks above on a planted docstring: one whose output is wrong, one with no example,
    # one whose every line is skipped.
    def wrong():
      """>>> 1 + 1
      3
      """

    def missing():
      """No example."""

    def skipped():
      """>>> 1 + 1  # doctest: +SKIP
      3
      """

    cases = {'wrong': (wrong, 1, 1), 'missing': (missing, 0, 0), 'skipped': (skipped, 0, 0)}
    for label, (fn, ran, failed) in cases.items():
      with self.subTest(label):
        test, report, got_ran, got_failed = run_example(label, fn, sys.modules[__name__])
        self.assertEqual((len(test.examples) > 0, got_ran, got_failed),
                         (label != 'missing', ran, failed), report)


if __name__ == '__main__':
  unittest.main()
