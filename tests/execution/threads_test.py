"""taml_tf.execution.threads: the measured default pools and configure's contract.

The pools belong to the process and are fixed by its first TensorFlow op (this test process has
long run ops), so every case of `configure` runs in a fresh Python process.
"""

import unittest

import numpy as np

from taml_tf.execution import threads
from tests import real_data
from tests.helpers import DATA_FILES
from tests.helpers import fresh_python

PRELUDE = ('import json, os\n'
           'import tensorflow as tf\n'
           'from taml_tf.execution import threads\n'
           'show = lambda **kw: print("RESULT " + json.dumps({k: list(v) if isinstance(v, tuple) '
           'else v for k, v in kw.items()}))\n')


def run_fresh(code: str, **env) -> dict:
  """Runs `code` (after PRELUDE) in a new Python process without the pools' environment
  variables (unless given in `env`); returns what it passed to show()."""
  return fresh_python(PRELUDE + code, drop=(threads.ENV_INTER_OP, threads.ENV_INTRA_OP), **env)


class DefaultPoolsTest(unittest.TestCase):

  def test_one_op_at_a_time_per_core_and_four_tasks_fill_the_cores(self):
    # Measured on 2 cores: (2, 1) beat TensorFlow's (2, 2), (1, 2), (4, 2), (1, 1) and (4, 1).
    self.assertEqual(threads.default_pools(2), (2, 1))
    self.assertEqual(threads.default_pools(1), (1, 1))
    self.assertEqual(threads.default_pools(7), (7, 1))
    self.assertEqual(threads.default_pools(8), (8, 2))
    self.assertEqual(threads.default_pools(16), (16, 4))
    self.assertEqual(threads.default_pools(), threads.default_pools(threads.cores()))

  def test_bad_sizes_are_refused_before_tensorflow_is_touched(self):
    with self.assertRaisesRegex(ValueError, 'num_cores must be >= 1, got 0'):
      threads.default_pools(0)
    with self.assertRaisesRegex(ValueError, r'thread-pool sizes must be >= 0 .*got -1'):
      threads.configure(inter_op=-1)
    with self.assertRaisesRegex(ValueError, r'thread-pool sizes must be >= 0 .*got -2'):
      threads.configure(intra_op=-2)


class ConfigureTest(unittest.TestCase):

  def test_the_default_pools_are_set_before_the_first_op_and_hold_after_it(self):
    out = run_fresh('pools = threads.configure()\n'
                    'tf.reduce_sum(tf.ones([4, 4])).numpy()\n'
                    'show(pools=pools, after=threads.current(), default=threads.default_pools())')
    self.assertEqual(out['pools'], out['default'])
    self.assertEqual(out['after'], out['default'])
    self.assertEqual(out['default'][1], max(1, threads.cores() // 4))

  def test_explicit_sizes_win_and_zero_leaves_tensorflow_its_default(self):
    out = run_fresh('a = threads.configure(inter_op=3, intra_op=2)\n'
                    'tf.constant(1.0).numpy()\n'
                    'show(a=a, again=threads.configure(3, 2))')
    self.assertEqual(out['a'], [3, 2])
    self.assertEqual(out['again'], [3, 2])  # the same sizes after the first op: nothing to do
    out = run_fresh('show(zero=threads.configure(0, 0))')
    self.assertEqual(out['zero'], [0, 0])

  def test_other_sizes_after_the_first_op_fail_with_what_to_do(self):
    out = run_fresh('tf.constant(1.0).numpy()\n'
                    'try:\n'
                    '  threads.configure(2, 1)\n'
                    '  show(error=None)\n'
                    'except RuntimeError as e:\n'
                    '  show(error=str(e), still=threads.current())')
    self.assertIsNotNone(out['error'])
    self.assertIn('has already run an op', out['error'])
    self.assertIn('Call taml_tf.configure_threads() first', out['error'])
    self.assertEqual(out['still'], [0, 0])

  def test_the_environment_variables_are_left_to_tensorflow_unless_overridden(self):
    # The study's lanes set TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 themselves.
    out = run_fresh('show(default=threads.configure())', TF_NUM_INTRAOP_THREADS='3')
    self.assertEqual(out['default'], [threads.default_pools().inter_op, 0])
    out = run_fresh('show(explicit=threads.configure(intra_op=2))', TF_NUM_INTRAOP_THREADS='3',
                    TF_NUM_INTEROP_THREADS='5')
    self.assertEqual(out['explicit'], [0, 2])

  def test_a_meta_gradient_is_the_same_under_both_pools_up_to_float_rounding(self):
    real_data.require(*DATA_FILES)
    # Four real Omniglot tasks of different ways and shots: the tasks the pools run side by side.
    code = ('pools = threads.configure({}, {})\n'
            'import keras, numpy as np\n'
            'from taml_tf.method.learner import MetaLearner\n'
            'from tests import helpers, tasks\n'
            'keras.utils.set_random_seed(0)\n'
            'learner = MetaLearner(helpers.tiny_config())\n'
            'rng = np.random.default_rng(3)\n'
            'batch = tasks.batch_of(*[tasks.omniglot_task(rng, s, max_way=5, support_size=25,'
            ' query_size=10) for s in ([1, 5, 2], [3, 3, 3, 3], [5, 1], [2, 2, 2, 2, 2])])\n'
            'grads, _ = tf.function(lambda b: learner.compute_gradients(b, tf.constant([1, 2])))('
            'batch)\n'
            'show(pools=tuple(threads.current()),'
            ' grads=tasks.flat_gradients([g.numpy() for g in grads]).tolist())')
    measured = run_fresh(code.format(None, None))
    tensorflows = run_fresh(code.format(0, 0))
    serial = run_fresh(code.format(1, 1))
    self.assertEqual(measured['pools'], list(threads.default_pools()))
    self.assertEqual(tensorflows['pools'], [0, 0])
    a, b = np.array(measured['grads']), np.array(tensorflows['grads'])
    self.assertGreater(np.abs(a).max(), 1e-3)
    # TensorFlow's pools split reductions over threads, in another order: 1.2e-5 of the largest
    # entry measured, the float32 rounding of a second-order meta-gradient (Bayesian TAML's
    # parity with the authors' code is 1.3e-5, docs/performance.md).
    self.assertLess(np.abs(a - b).max() / np.abs(a).max(), 5e-5)
    if threads.default_pools().intra_op == 1:
      # One thread per op computes each op as a serial run does: the same bits.
      np.testing.assert_array_equal(a, np.array(serial['grads']))

  def test_the_public_name_is_configure(self):
    import taml_tf  # pylint: disable=g-import-not-at-top
    self.assertIs(taml_tf.configure_threads, threads.configure)


if __name__ == '__main__':
  unittest.main()
