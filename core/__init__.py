"""Latent-space lab for standard convolutional autoencoders.

Import modules by their full path (``from core.sampling import samplers``,
``from core.stats.kde import kde2d``); the subpackages re-export nothing.
Importing ``core`` itself is cheap and does not import TensorFlow; the
layers are drawn in docs/architecture.md.
"""

__version__ = "0.1.0"
