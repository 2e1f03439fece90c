"""The method, the lowest layer: what Bayesian TAML computes (Lee et al., ICLR 2020).

The model configuration, the episode type and its checks, the backbone and the set encoder
(``models``), the posteriors, the balancing variables, the inner loop, the meta-learner with its
objective (eq. 8), and the meta-update. Imports nothing from the data, execution or products
layers (tests/layers_test.py reads the imports).
"""
