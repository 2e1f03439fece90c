"""TaskShape: the one home of way, max_shot, query and max_way, and the refusal of a model and
tasks built from different values."""

import tensorflow as tf
from absl import flags

from taml_tf.data import experiment
from taml_tf.data import sampler
from taml_tf.flags import definitions
from taml_tf.method import config as config_lib
from taml_tf.method import task_shape
from taml_tf.method.task_shape import TaskShape
from tests import helpers


class TaskShapeTest(tf.test.TestCase):

  def test_every_default_comes_from_one_place(self):
    values = flags.FlagValues()
    definitions.define_shared_flags(values)
    values(['prog'])
    shape = TaskShape()
    homes = {
        'ModelConfig': (config_lib.ModelConfig().max_way, config_lib.ModelConfig().max_shot),
        'SamplerConfig': (sampler.SamplerConfig().way, sampler.SamplerConfig().max_shot),
        'DataConfig': (experiment.DataConfig(id_datasets=('embedded',)).way,
                       experiment.DataConfig(id_datasets=('embedded',)).max_shot),
        'flags': (values.way, values.max_shot),
    }
    for home, got in homes.items():
      self.assertEqual(got, (shape.way, shape.max_shot), home)
    self.assertEqual({sampler.SamplerConfig().query, values.query,
                      experiment.DataConfig(id_datasets=('embedded',)).query}, {shape.query})

  def test_fields(self):
    shape = TaskShape(way=3, max_shot=4, query=2)
    self.assertEqual(shape.max_way, 3)
    self.assertEqual(shape.model_fields(), {'max_way': 3, 'max_shot': 4})
    self.assertEqual(shape.sampler_fields(), {'way': 3, 'max_shot': 4, 'query': 2})
    with self.assertRaisesRegex(ValueError, 'max_way=2 must be >= way=3'):
      TaskShape(way=3, max_way=2)
    with self.assertRaisesRegex(ValueError, 'max_shot must be >= 1'):
      TaskShape(max_shot=0)

  def test_a_mismatch_names_both_values(self):
    model = config_lib.variant('maml', max_way=5, max_shot=15)
    task_shape.check_agree(model, 5, 15)
    with self.assertRaisesRegex(ValueError, r'max_shot=50 .* ModelConfig.max_shot=15'):
      task_shape.check_agree(model, 5, 50)
    with self.assertRaisesRegex(ValueError, r'way=6 .* ModelConfig.max_way=5'):
      task_shape.check_agree(model, 6, 15)

  def test_the_trainer_refuses_tasks_of_another_shape(self):
    with self.assertRaisesRegex(ValueError, r'max_shot=3 .* ModelConfig.max_shot=2'):
      helpers.make_trainer(helpers.tmpdir(self), data=helpers.tiny_data(max_shot=3))


if __name__ == '__main__':
  tf.test.main()
