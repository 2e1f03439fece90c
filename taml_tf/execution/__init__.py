"""Execution, the third layer: how the method is run.

The execution settings (XLA, task order, padding, precision), the trainer and its host loop, the
run folder (config.json, checkpoints, best.json), distribution strategies and atomic writes.
Imports the method and data layers, never the products.
"""
