"""The sitting's tables (docs/performance.md, "Current result on an Intel Xeon with AMX"): per
line, the peers' and taml-tf's medians per round, the ratios, ops per iteration, and memory:
whole-process peak and peak above the process's floor (the peers' floor: their RSS after
import). float32 (every plan), then mixed_bfloat16 (Bayesian TAML, against the same rounds'
float32 peers).

Usage: python table.py [FOLDER] [ROUNDS]   (default this script's folder, 2)
"""
import json
import os
import sys

LINES = (  # (label, peer algo, shape, phase, our variant)
    ('Bayesian TAML train A', 'btaml', 'A', 'train', 'bayesian_taml'),
    ('Bayesian TAML train B', 'btaml', 'B', 'train', 'bayesian_taml'),
    ('meta-test A', 'btaml', 'A', 'test', 'bayesian_taml'),
    ('meta-test B', 'btaml', 'B', 'test', 'bayesian_taml'),
    ('MAML train A (learn2learn)', 'l2l_maml', 'A', 'train', 'maml'),
    ('MAML train B (learn2learn)', 'l2l_maml', 'B', 'train', 'maml'),
)


def main(folder, rounds):
  rs = range(1, rounds + 1)
  peers = {}
  with open(os.path.join(folder, 'peers.jsonl')) as f:
    for line in f:
      p = json.loads(line)
      peers[p['label'], p['algo'], p['shape'], p['phase']] = p
  slash = ' / '.join
  for precision in ('float32', 'bf16'):
    ours = {}
    for r in rs:
      with open(os.path.join(folder, f'sitting_{precision}_r{r}.json')) as f:
        for m in json.load(f)['results']:
          ours[r, m['variant'], m['shape'], m['phase']] = m
    print(f'\n{precision}:\n')
    print('| what (peer episodes) | peers ' + slash(f'r{r}' for r in rs) + ' (s) | taml-tf '
          + slash(f'r{r}' for r in rs) + ' (s) | ratio | ops / iteration | peers peak, above '
          'floor (MB) | taml-tf peak, above floor (MB) |')
    print('|---' * 7 + '|')
    for label, algo, shape, phase, variant in LINES:
      if (1, variant, shape, phase) not in ours:
        continue
      p = [peers[f'r{r}', algo, shape, phase] for r in rs]
      o = [ours[r, variant, shape, phase] for r in rs]
      print(f'| {label} | ' + slash(f"{x['median_s']:.3f}" for x in p) + ' | '
            + slash(f"{x['seconds']:.3f}" for x in o) + ' | **'
            + slash(f"{a['median_s'] / b['seconds']:.2f}x" for a, b in zip(p, o)) + '** | '
            + f"{o[0]['ops_per_iteration']:,} | "
            + slash(f"{x['peak_rss_mib']:.0f}, {x['peak_rss_mib'] - x['rss_after_import_mib']:.0f}"
                    for x in p) + ' | '
            + slash(f"{x['peak_rss_mb']:.0f}, {x['above_floor_mb']:.0f}" for x in o) + ' |')


if __name__ == '__main__':
  main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)),
       int(sys.argv[2]) if len(sys.argv) > 2 else 2)
