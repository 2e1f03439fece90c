"""taml-evaluate of a run folder on one of its data sets ($ONLY_DATASET), for a Monte-Carlo
meta-test split into one process per data set and merged after (merge_results.py): episode i
of a data set is drawn and sampled from seeds of the data set and i only, so two processes give
what one call would. (A run folder's data sets are its config's; --id_dataset may not
contradict them, hence the filter.) Run it with the venv of the code that trained the run.

Usage: ONLY_DATASET=mnist python evaluate_one.py <taml-evaluate flags>
"""
import os
from taml_tf.data import experiment
from taml_tf.launch import evaluate

_sets = experiment.evaluation_sets


def _only(*args, **kwargs):
  return {k: v for k, v in _sets(*args, **kwargs).items() if k == os.environ['ONLY_DATASET']}


experiment.evaluation_sets = _only
evaluate.run()
