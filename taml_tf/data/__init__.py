"""Data side of taml-tf: sources -> ClassImages -> any-shot sampler -> tf.data Episodes.

Typical use::

  from taml_tf import data
  train = data.build_source('omniglot', 'train', image_shape=(28, 28, 1))
  config = data.SamplerConfig(way=5, max_shot=15, query=5, mode='mixed')
  ds = data.episode_dataset(train, config, seed=0, batch_size=4)
  evals = data.named_evaluation_sets({'omniglot': 'omniglot:evaluation', 'mnist': 'mnist'},
                                     config, num_episodes=1000)
"""

from taml_tf.data.class_images import ClassImages
from taml_tf.data.class_images import from_class_arrays
from taml_tf.data.class_images import from_labelled
from taml_tf.data.class_images import with_rotations
from taml_tf.data.pipeline import episode_dataset
from taml_tf.data.pipeline import evaluation_dataset
from taml_tf.data.pipeline import named_evaluation_sets
from taml_tf.data.registry import build_source
from taml_tf.data.registry import default_data_dir
from taml_tf.data.registry import default_image_shape
from taml_tf.data.registry import KNOWN_NAMES
from taml_tf.data.sampler import EpisodeSampler
from taml_tf.data.sampler import real_shots
from taml_tf.data.sampler import SamplerConfig
from taml_tf.data.sampler import SHOT_MODES
