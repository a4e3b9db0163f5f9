"""scikit-learn's 8 x 8 digits, the ``digits`` data source.

A module of its own because importing ``sklearn.datasets`` costs about 0.5 s
of CPU: ``core.data.sources`` imports it only when ``digits`` is opened.
"""

from __future__ import annotations

from sklearn.datasets import load_digits


def digit_images():
    """The 1,797 digits.

    Returns
    -------
    images : ndarray of shape (1797, 8, 8), values 0..16
    target : ndarray of int, shape (1797,)
    """
    digits = load_digits()
    return digits.images, digits.target
