"""Latent-space lab for standard convolutional autoencoders.

Import modules by their full path (``from core.sampling import samplers``,
``from core.stats.kde import kde2d``); the subpackages re-export nothing.
Importing ``core`` itself is cheap and does not import TensorFlow; the
layers are drawn in docs/architecture.md.
"""

__version__ = "0.1.0"

import os as _os

# TensorFlow turns its oneDNN CPU kernels on only for CPUs with AVX-512
# VNNI/BF16/AMX; on AVX2 machines they are off although they run the CAE's
# training step ~1.8x and its decoder ~1.3x faster (issue 14).  Results
# differ from the Eigen kernels only by float rounding.  Set here because
# every TensorFlow import of the lab happens after ``import core``; an
# explicit TF_ENABLE_ONEDNN_OPTS=0 still wins.
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
