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

# OpenBLAS's worker threads spin for ~2^28 cycles (~0.1 s) after each
# threaded call before they sleep.  On a 2-core machine that takes a core
# from whatever runs next: the Gram pass's threads, the PCA-ellipse and
# statistics kernels, TensorFlow.  Measured (issue 14): a thread burned
# 46 ms of CPU during a 50 ms sleep after a matmul, 2.7 ms with 2^20; a
# PCA fit right after scikit-learn's took 135 ms instead of 104 (the peer's
# own time unchanged, 123 ms).  Effective only when numpy loads after
# ``import core`` (the CLI, the dashboard's ``lab`` and the tests import it
# first); an explicit setting wins.
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "20")
