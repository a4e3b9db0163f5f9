"""Latent-space lab for standard convolutional autoencoders.

Import submodules directly (``from core import samplers``); importing ``core``
itself is cheap and does not import TensorFlow.
"""

__version__ = "0.1.0"
