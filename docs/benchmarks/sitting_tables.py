"""What the dated sittings' table.py scripts share: the lines a sitting compares, the peers'
rows, taml-benchmark's rows, and the table cells (seconds, ratios, memory) of several rounds
side by side, 'r1 / r2'.

Imported by a dated folder's table.py with this folder on sys.path.
"""
import json
import os

LINES = (  # (label, peer algo, shape, phase, our variant)
    ('Bayesian TAML train A', 'btaml', 'A', 'train', 'bayesian_taml'),
    ('Bayesian TAML train B', 'btaml', 'B', 'train', 'bayesian_taml'),
    ('meta-test A', 'btaml', 'A', 'test', 'bayesian_taml'),
    ('meta-test B', 'btaml', 'B', 'test', 'bayesian_taml'),
    ('MAML train A (learn2learn)', 'l2l_maml', 'A', 'train', 'maml'),
    ('MAML train B (learn2learn)', 'l2l_maml', 'B', 'train', 'maml'),
)
slash = ' / '.join


def read_peers(folder):
  """(label, algo, shape, phase) -> the peers' row, from FOLDER/peers.jsonl."""
  peers = {}
  with open(os.path.join(folder, 'peers.jsonl')) as f:
    for line in f:
      p = json.loads(line)
      peers[p['label'], p['algo'], p['shape'], p['phase']] = p
  return peers


def read_ours(path):
  """(variant, shape, phase) -> taml-benchmark's row, from a --json_out file."""
  with open(path) as f:
    return {(m['variant'], m['shape'], m['phase']): m for m in json.load(f)['results']}


def peer_seconds(peers):
  """The peers' medians, one per round."""
  return slash(f"{x['median_s']:.3f}" for x in peers)


def our_seconds(ours):
  """taml-tf's medians, one per round."""
  return slash(f"{x['seconds']:.3f}" for x in ours)


def ratios(peers, ours):
  """The peers' median over taml-tf's, one per round."""
  return slash(f"{a['median_s'] / b['seconds']:.2f}x" for a, b in zip(peers, ours))


def peer_memory(peers):
  """The peers' whole-process peak and peak above their floor (RSS after import), MB."""
  return slash(f"{x['peak_rss_mib']:.0f}, {x['peak_rss_mib'] - x['rss_after_import_mib']:.0f}"
               for x in peers)


def our_memory(ours):
  """taml-tf's whole-process peak and peak above its floor, MB."""
  return slash(f"{x['peak_rss_mb']:.0f}, {x['above_floor_mb']:.0f}" for x in ours)
