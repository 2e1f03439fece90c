"""taml-tf: Bayesian Task-Adaptive Meta-Learning in TensorFlow 2 / Keras 3 / TFP."""

import setuptools

setuptools.setup(
    name='taml-tf',
    version='0.1.0',
    description=('Bayesian TAML ("Learning to Balance", Lee et al., ICLR 2020) in TensorFlow 2, '
                 'Keras 3 and TensorFlow Probability'),
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    python_requires='>=3.10',
    # flags/ and launch/ are installed inside the package namespace: PyPI already has
    # unrelated top-level packages called `flags` and `launch`.
    packages=['taml_tf', 'taml_tf.method', 'taml_tf.method.models', 'taml_tf.data',
              'taml_tf.execution', 'taml_tf.products', 'taml_tf.flags', 'taml_tf.launch'],
    package_dir={'taml_tf': 'taml_tf', 'taml_tf.flags': 'flags', 'taml_tf.launch': 'launch'},
    package_data={'taml_tf.launch': ['*.sh', 'flagfiles/*.cfg', 'experiments/*.sh']},
    install_requires=[
        'tensorflow>=2.21,<2.22',
        'keras>=3.15,<3.16',
        'tensorflow-probability[tf]>=0.25,<0.26',
        'tensorflow-datasets>=4.9,<4.10',
        'tensorboard>=2.21,<2.22',
        'absl-py>=2.1',
        'numpy>=1.26',
        'pillow>=10',
        'scikit-learn>=1.3',
        'matplotlib>=3.8',
    ],
    extras_require={'test': ['pytest>=8']},
    entry_points={'console_scripts': [
        'taml-train=taml_tf.launch.train:run',
        'taml-evaluate=taml_tf.launch.evaluate:run',
        'taml-export=taml_tf.launch.export:run',
        'taml-benchmark=taml_tf.launch.benchmark:run',
        'taml-figures=taml_tf.launch.figures:run',
        'taml-compare=taml_tf.launch.compare:run',
    ]},
    license='MIT',
)
