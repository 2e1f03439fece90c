"""Products, the top layer of the library: what a trained meta-learner yields.

Meta-test evaluation and its statistics, calibration, results files, the SavedModel export and
its serving signatures, reports, model cards, figures, diagnostics, comparisons and
benchmarks. May import every lower layer (method, data, execution).
"""
