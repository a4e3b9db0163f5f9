"""The samplers' registry names, importable without SciPy, scikit-learn or numba.

:data:`core.sampling.samplers.SAMPLERS` maps exactly these names, in this
order, to the sampler classes (``tests/test_samplers.py`` checks); code that
only checks or lists names (an experiment grid on the Train page) imports
this module instead.
"""

SAMPLER_NAMES = ("uniform", "per-component", "gaussian-diag", "pca-ellipse", "mvn", "gmm", "shell")

__all__ = ["SAMPLER_NAMES"]
