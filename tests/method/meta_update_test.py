"""MetaUpdate's replica bookkeeping: which rule keeps the padded rows, and where each replica's
share of the global meta-batch starts (the seed of each task depends on it). The update itself is
tested against one device in tests/execution/distribute_test.py and
tests/products/keras_model_distributed_test.py."""

import tensorflow as tf

from taml_tf.execution import distribute

try:  # Before TensorFlow initialises its devices (tests/conftest.py does the same).
  distribute.split_cpu(2)
except RuntimeError:
  pass

from taml_tf.method import meta_update  # pylint: disable=g-import-not-at-top
from tests import helpers  # pylint: disable=g-import-not-at-top

META_BATCH = 4


class MetaUpdateTest(tf.test.TestCase):

  def test_static_shapes_when_asked_or_compiled(self):
    self.assertFalse(meta_update.uses_static_shapes(jit_compile=False, static_shapes=False))
    self.assertTrue(meta_update.uses_static_shapes(jit_compile=True, static_shapes=False))
    self.assertTrue(meta_update.uses_static_shapes(jit_compile=False, static_shapes=True))

  def test_no_offset_outside_a_strategy(self):
    batch = next(iter(helpers.dataset_fn(helpers.tiny_data(), 3, META_BATCH)(0, None)))
    self.assertEqual(meta_update.MetaUpdate.replica_task_offset(batch), 0)

  def test_each_replica_starts_at_its_share(self):
    batch = next(iter(helpers.dataset_fn(helpers.tiny_data(), 3, META_BATCH)(0, None)))
    strategy = helpers.mirrored()
    per = META_BATCH // strategy.num_replicas_in_sync
    shares = helpers.replica_shares(strategy, batch)

    @tf.function
    def offsets(shares):
      return strategy.run(
          lambda b: tf.convert_to_tensor(meta_update.MetaUpdate.replica_task_offset(b)),
          args=(shares,))

    got = [int(v) for v in strategy.experimental_local_results(offsets(shares))]
    self.assertEqual(got, [0, per])

  def test_dynamic_share_size(self):
    # Keras hands each replica a batch of unknown leading size; the offset still follows it.
    batch = next(iter(helpers.dataset_fn(helpers.tiny_data(), 3, META_BATCH)(0, None)))
    strategy = helpers.mirrored()
    spec = tf.TensorSpec([None] + batch.support_images.shape[1:], batch.support_images.dtype)

    @tf.function(input_signature=[spec])
    def offsets(images):
      return strategy.run(lambda x: tf.convert_to_tensor(
          meta_update.MetaUpdate.replica_task_offset(batch._replace(support_images=x))),
          args=(images,))

    got = [int(v) for v in strategy.experimental_local_results(offsets(batch.support_images))]
    self.assertEqual(got, [0, META_BATCH])


if __name__ == '__main__':
  tf.test.main()
