"""Issue 39, the "fewer Casts with mixed_bfloat16" lever: which Casts a Bayesian TAML A train
step traces in mixed_bfloat16, by source and destination dtype, rank and kind of tensor.

Traces the step as `taml_tf.products.benchmarking.ops_per_step` does (nothing runs), then walks
the graph and every function it calls (custom gradients, Keras layers traced apart) once each.
Usage: python docs/benchmarks/2026-12-05_bf16_casts/casts.py > docs/benchmarks/2026-12-05_bf16_casts/casts.txt
"""
import collections

import keras
import tensorflow as tf

from taml_tf.execution import execution_config
from taml_tf.method import episodes
from taml_tf.products import benchmarking


def kind(shape):
  if shape.rank == 4 and shape[0] == 3 and shape[1] == 3:
    return 'conv kernel'
  if shape.rank == 4:
    return f'activation {shape[1]}x{shape[2]}'
  return f'rank {shape.rank}'


def cast_counts(precision):
  s = benchmarking.SHAPES['A']
  cfg = benchmarking._model_config('A', 'bayesian_taml', 'second', **benchmarking.MEASURED_STEPS)
  config = execution_config.ExecutionConfig(precision=precision)
  keras.utils.set_random_seed(0)
  _, update = config.build(cfg)
  update.build()
  signature = [episodes.spec(s['image_shape'], None, benchmarking.WAY * s['query'],
                             benchmarking.WAY, benchmarking.META_BATCH),
               tf.TensorSpec([2], tf.int32)]
  graph = tf.function(update.train_step, input_signature=signature).get_concrete_function().graph
  counts, seen = collections.Counter(), set()

  def walk(g):
    for op in g.get_operations():
      if op.type == 'Cast':
        source = op.inputs[0]
        counts[(source.dtype.name, op.outputs[0].dtype.name, kind(source.shape))] += 1
    for name, function in list(getattr(g, '_functions', {}).items()):
      if name not in seen and getattr(function, 'graph', None) is not None:
        seen.add(name)
        walk(function.graph)

  walk(graph)
  return counts


def main():
  float32, bfloat16 = cast_counts('float32'), cast_counts('mixed_bfloat16')
  print(f'Casts traced: float32 {sum(float32.values())}, mixed_bfloat16 {sum(bfloat16.values())}')
  print('| from | to | tensor | float32 | mixed_bfloat16 |')
  print('|---|---|---|---|---|')
  for key in sorted(set(float32) | set(bfloat16), key=lambda k: -bfloat16[k]):
    print(f'| {key[0]} | {key[1]} | {key[2]} | {float32[key]} | {bfloat16[key]} |')


if __name__ == '__main__':
  main()
