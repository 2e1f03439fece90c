"""TamlModel.fit under a 2-replica MirroredStrategy (two logical CPUs, tests/conftest.py) makes
the meta-update of one device: the weights of the Trainer run without a strategy."""

import tensorflow as tf

from taml_tf.method.task_shape import TaskShape
from taml_tf.products import keras_model
from tests import helpers

TASK = TaskShape(way=helpers.WAY, max_shot=helpers.SHOT, query=helpers.QUERY)


class DistributedFitTest(tf.test.TestCase):

  def test_two_replicas_reach_one_devices_weights(self):
    # The reference is one device, not the Trainer's replicas: both paths share
    # MetaUpdate.replica_task_offset, so a bug there would make them agree with each other.
    trainer = helpers.make_trainer(helpers.tmpdir(self), num_steps=2)
    trainer.run()
    strategy = helpers.mirrored()
    with strategy.scope():
      model = keras_model.TamlModel(config=helpers.tiny_model(), task=TASK, seed=3)
      model.compile()
    # Keras splits each meta-batch of 2 between the replicas, one task each; each task keeps
    # the seed of its place in the meta-batch (without that, 0.035 apart after 2 updates).
    stream = helpers.dataset_fn(helpers.tiny_data(), 3, 2, 'max')(0, None)
    model.fit(stream, steps_per_epoch=2, epochs=1, verbose=0)
    self.assertEqual(int(model.optimizer.iterations.numpy()), 2)
    for a, b in zip(model.learner.meta_variables, trainer.learner.meta_variables):
      if a.path.startswith('backbone/conv') and a.path.endswith('/bias'):
        # A conv bias would feed batch norm, which subtracts it again: the convolutions leave
        # it out (conv_without_bias), so its meta-gradient is exactly zero and Adam leaves it
        # where it started, in both (read, its float noise became Adam steps of up to
        # ~meta_lr, 5.5e-4 apart here on an Intel Xeon with AMX, 2026-12-04).
        self.assertAllEqual(a.numpy(), b.numpy(), msg=a.path)
        self.assertAllEqual(a.numpy(), tf.zeros_like(a), msg=a.path)
      else:
        self.assertAllClose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, msg=a.path)


if __name__ == '__main__':
  tf.test.main()
