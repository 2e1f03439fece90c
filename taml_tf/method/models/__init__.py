"""Keras models (conv4 backbone, DeepSets set encoder) and the TFP posteriors of omega, gamma, z."""
