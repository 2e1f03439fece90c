"""pytest set-up shared by every test file (one process runs them all).

The CPU is split into two logical devices before TensorFlow initialises its devices, so the
distribution tests can run a 2-replica MirroredStrategy on the CPU whatever file pytest imports
first. Single-device tests keep using /CPU:0 and are unaffected.
"""

from taml_tf import distribute

distribute.split_cpu(2)
