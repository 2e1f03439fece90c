"""Tests of the parameter structure and its storage names."""

import tensorflow as tf

from taml_tf.method import parameters


class ParametersTest(tf.test.TestCase):

  def test_names_round_trip_in_layer_order(self):
    params = (parameters.Layer('k1', 'b1'), parameters.Layer('k2', 'b2'),
              parameters.Layer('kh', 'bh'))
    named = parameters.to_dict(params)
    self.assertEqual(named, {'conv1/kernel': 'k1', 'conv1/bias': 'b1', 'conv2/kernel': 'k2',
                             'conv2/bias': 'b2', 'head/kernel': 'kh', 'head/bias': 'bh'})
    self.assertEqual(parameters.from_dict(named, 2), params)
    self.assertEqual(parameters.layer_names(2), ['conv1', 'conv2', 'head'])
    self.assertEqual(parameters.conv_layers(params), params[:2])
    self.assertEqual(parameters.head(params), params[2])
    # tf.nest sees the kernels and biases, in layer order.
    self.assertEqual(tf.nest.flatten(params), ['k1', 'b1', 'k2', 'b2', 'kh', 'bh'])

  def test_missing_or_unexpected_names_are_refused(self):
    named = parameters.to_dict((parameters.Layer(1, 2), parameters.Layer(3, 4)))
    with self.assertRaisesRegex(ValueError, r"missing \['conv2/bias', 'conv2/kernel'\]"):
      parameters.from_dict(named, 2)
    with self.assertRaisesRegex(ValueError, r"unexpected \['norm1/offset'\]"):
      parameters.from_dict(dict(named, **{'norm1/offset': 5}), 1)


if __name__ == '__main__':
  tf.test.main()
