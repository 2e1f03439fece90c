"""Tests of the published models under pretrained/omniglot_mnist/: each one loads in a process
without taml_tf, Keras or TFP, and re-measures the first episodes of its model card's meta-test
on the real Omniglot and MNIST data, episode by episode."""

import json
import os
import shutil
import tempfile
import unittest

import numpy as np
import tensorflow as tf

from taml_tf.data import experiment
from taml_tf.method import episodes as episodes_lib
from taml_tf.products import model_card
from tests import real_data
from tests import without_taml_tf

PUBLISHED = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    'pretrained', 'omniglot_mnist')
# The study's task distribution; the cards' commands must name it (checked below), so the
# episodes drawn here are the first ones of each card's meta-test.
TASKS = dict(way=5, max_shot=15, query=5, shot_mode='mixed')
EPISODES = 10
CHANCE = 1.0 / TASKS['way']


def published_models() -> list:
  return sorted(n for n in os.listdir(PUBLISHED)
                if os.path.isfile(os.path.join(PUBLISHED, n, 'saved_model.pb')))


def requests(data_dir: str) -> dict:
  """The first EPISODES meta-test episodes per data set, unpadded as the signatures take them:
  {data set: [(support_images, support_labels, query_images, query_labels)]}."""
  cfg = experiment.DataConfig(id_datasets=('omniglot',), ood_datasets=('mnist',),
                              data_dir=data_dir, image_shape=(28, 28, 1), **TASKS)
  out = {}
  for name, dataset in experiment.evaluation_sets(cfg, 'test', EPISODES).items():
    out[name] = []
    for batch in dataset:
      task = episodes_lib.Episode(*[np.asarray(x)[0] for x in batch])
      support, query = task.support_mask > 0, task.query_mask > 0
      out[name].append((task.support_images[support], task.support_labels[support],
                        task.query_images[query], task.query_labels[query]))
  return out


class PublishedModelsTest(unittest.TestCase):

  def test_the_study_models_are_published_with_cards(self):
    # The rows of docs/reproduction.md's answer table that are published.
    study = {'bayesian_taml', 'bayesian_taml_glorot', 'deterministic_taml', 'gamma_taml', 'maml',
             'metasgd'}
    self.assertTrue(study <= set(published_models()), published_models())
    for name in published_models():
      for extra in ('MODEL_CARD.md', 'results.json'):
        self.assertTrue(os.path.isfile(os.path.join(PUBLISHED, name, extra)), (name, extra))

  def test_cards_say_which_training_made_the_model(self):
    # The models trained the authors' way (issue 28) are published as <variant>_authors; cards
    # written before the switches existed describe the exact training by leaving them out.
    for name in published_models():
      with open(os.path.join(PUBLISHED, name, 'assets.extra', 'model_config.json')) as f:
        config = json.load(f)
      with open(os.path.join(PUBLISHED, name, 'MODEL_CARD.md')) as f:
        card = f.read()
      authors = not config.get('bn_second_order', True) or config.get('authors_padding', False)
      with self.subTest(model=name):
        self.assertEqual(name.endswith('_authors'), authors)
        if authors or 'Meta-gradient and padding' in card:
          self.assertIn(model_card.training_kind(config), card)

  def test_each_model_reproduces_its_card_without_taml_tf(self):
    data_dir = real_data.require('omniglot_28x28.npz', 'mnist_test.npz')
    work = tempfile.mkdtemp(prefix='pretrained_test_')
    self.addCleanup(shutil.rmtree, work, True)
    tasks = requests(data_dir)
    arrays = {}
    for name, episodes in tasks.items():
      for i, (s_images, s_labels, q_images, _) in enumerate(episodes):
        arrays.update({f'{name}/{i}/support_images': s_images,
                       f'{name}/{i}/support_labels': s_labels.astype(np.int32),
                       f'{name}/{i}/query_images': q_images})
    np.savez(os.path.join(work, 'requests.npz'), **arrays)
    models = {n: os.path.join(PUBLISHED, n) for n in published_models()}
    without_taml_tf.run(self, f"""
        import numpy as np
        import tensorflow as tf
        requests = dict(np.load('requests.npz'))
        keys = sorted({{k.rsplit('/', 1)[0] for k in requests}})
        out = {{}}
        for model_name, path in {models!r}.items():
          predict = tf.saved_model.load(path).signatures['adapt_and_predict']
          for key in keys:
            probs = predict(**{{f: tf.constant(requests[f'{{key}}/{{f}}']) for f in
                               ('support_images', 'support_labels', 'query_images')}})
            out[f'{{model_name}}/{{key}}'] = probs['probs'].numpy()
        np.savez('probs.npz', **out)
        """, cwd=work, timeout=600)
    with np.load(os.path.join(work, 'probs.npz')) as d:
      probs = {k: d[k] for k in d.files}
    for model_name in models:
      with open(os.path.join(models[model_name], 'MODEL_CARD.md')) as f:
        card = f.read()
      with open(os.path.join(models[model_name], 'results.json')) as f:
        results = json.load(f)
      args = model_card.evaluate_args(card)
      for flag, value in dict(TASKS, eval_mode='mean', seed=0).items():
        self.assertIn(f'--{flag}={value}', args, model_name)
      for name, episodes in tasks.items():
        stated = results['datasets'][name]
        self.assertIn(f"{100 * stated['accuracy']:.2f} ± {100 * stated['ci95']:.2f}", card)
        accuracy = [float(np.mean(np.argmax(probs[f'{model_name}/{name}/{i}'], -1) == labels))
                    for i, (*_, labels) in enumerate(episodes)]
        with self.subTest(model=model_name, dataset=name):
          # Code since training may round differently: one query per episode may flip.
          np.testing.assert_allclose(accuracy, stated['episode_accuracy'][:EPISODES],
                                     atol=1.0 / 25 + 1e-6, rtol=0)
          self.assertGreater(np.mean(accuracy), CHANCE + 0.4)


if __name__ == '__main__':
  tf.test.main()
