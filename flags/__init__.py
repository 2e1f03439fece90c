"""absl flag definitions of the taml-tf binaries and the one place flags become configs.

Installed as ``taml_tf.flags`` (setup.py maps this folder there; PyPI has an unrelated
top-level ``flags`` package). Library code under ``taml_tf/`` never imports it.
"""
