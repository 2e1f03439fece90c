"""Issue 39, the "fewer Casts with mixed_bfloat16" lever: which Casts a Bayesian TAML A train
step traces in mixed_bfloat16, by source and destination dtype, rank and kind of tensor.

Traces the step with `taml_tf.products.benchmarking.traced_train_step` (nothing runs), then walks
the graph and every function it calls (custom gradients, Keras layers traced apart) once each.
Usage: python docs/benchmarks/2026-12-05_bf16_casts/casts.py > docs/benchmarks/2026-12-05_bf16_casts/casts.txt
"""
import collections

from taml_tf.products import benchmarking


def kind(shape):
  if shape.rank == 4 and shape[0] == 3 and shape[1] == 3:
    return 'conv kernel'
  if shape.rank == 4:
    return f'activation {shape[1]}x{shape[2]}'
  return f'rank {shape.rank}'


def cast_counts(precision):
  graph = benchmarking.traced_train_step('A', 'bayesian_taml', 'second',
                                         precision=precision).graph
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
  # Ties in a stable order (the keys), so that a rerun prints the same file.
  for key in sorted(set(float32) | set(bfloat16), key=lambda k: (-bfloat16[k], k)):
    print(f'| {key[0]} | {key[1]} | {key[2]} | {float32[key]} | {bfloat16[key]} |')


if __name__ == '__main__':
  main()
