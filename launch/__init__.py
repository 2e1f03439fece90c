"""The taml-tf binaries (installed as ``taml_tf.launch``; console scripts taml-train,
taml-evaluate, taml-export, taml-benchmark)."""
