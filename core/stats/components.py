"""Per-component statistics of a latent matrix (docs/method.md, Component statistics).

One chunked pass over the latent matrix gives, for every component, the
moments (mean, std, skewness, kurtosis) and a histogram on *shared* bin
edges (blog: bin width 0.25; bin centres on multiples of the bin width),
so that a memory-mapped 200,000 x 256 float32 matrix is never copied whole.
From the histogram come the peak position ``mu``, the half-width at half
maximum ``hw`` and a Gaussian fit (``scipy.optimize.curve_fit``).

``full_statistics`` bundles the component table, the correlation matrix,
the threshold counts and a fitted :class:`core.stats.pca.LatentPCA` (the benchmark's
"statistics" row).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from core.chunks import CHUNK_ROWS, row_blocks
from core.stats.correlation import correlation_from_cov, threshold_counts
from core.stats.gram import GRAM_ROWS, float32_eigh, float32_shift
from core.stats.moments import PowerSums
from core.stats.pca import LatentPCA
from core.validation import (
    check_component,
    check_int,
    check_latents,
    check_positive,
    check_random_state,
)

try:  # numba is optional: without it the NumPy pass runs
    from core.stats import _stats_kernel
except ImportError:  # numba missing or broken
    _stats_kernel = None

#: Largest number of shared histogram bins (memory: z_dim x bins counts).
MAX_BINS = 20000

TABLE_COLUMNS = [
    "component", "mean", "std", "mu", "hw",
    "fit_amplitude", "fit_centre", "fit_sigma", "fit_r2",
    "skewness", "kurtosis", "normality_p",
]

#: HWHM of a Gaussian in units of its sigma: sqrt(2 ln 2).
HWHM_PER_SIGMA = float(np.sqrt(2.0 * np.log(2.0)))
#: Resolution limit of ``hw``, in bins: a histogram HWHM below this many bin
#: widths means sigma <= bin width, where the binned peak is flattened and
#: the interpolated crossings overstate the HWHM (x1.1-2.8 depending on
#: where the peak falls in its bin); ``hw`` is NaN there.  At or above it
#: the overstatement is <= 13 % (<= 8 % from 1.5 bins on).
HW_MIN_BINS = 1.25


@dataclass
class ComponentHistograms:
    """Histograms of several components on shared bin edges.

    Attributes
    ----------
    edges : ndarray of shape (n_bins + 1,)
        Shared bin edges; bin centres lie on multiples of ``bin_width``.
    counts : ndarray of shape (n_components, n_bins), int64
        ``counts[c]`` is the histogram of component ``components[c]``.
    components : ndarray of shape (n_components,), int
        Latent component index of each row of ``counts``.
    bin_width : float
    n_samples : int
    """

    edges: np.ndarray
    counts: np.ndarray
    components: np.ndarray
    bin_width: float
    n_samples: int

    @property
    def centres(self):
        """Bin centres, ndarray of shape (n_bins,)."""
        return (self.edges[:-1] + self.edges[1:]) / 2.0

    def density(self):
        """Counts normalised to a probability density, shape (n_components, n_bins)."""
        return self.counts / (self.n_samples * self.bin_width)


def _moments_and_histograms(Z, bin_width, columns=None, chunk_rows=CHUNK_ROWS, moments=True):
    """One chunked pass: power sums (shifted) and integer-bin histograms.

    Returns the :class:`~core.stats.moments.PowerSums` (order 4) and the
    histogram counts with the integer index of the first bin.  Bin k covers
    [(k - 1/2) w, (k + 1/2) w): bin centres on multiples of ``w``.
    ``moments=False`` skips the power sums (returned as None).
    """
    cols = np.arange(Z.shape[1]) if columns is None else np.asarray(columns)
    full = columns is None
    d = cols.size
    sums = PowerSums(np.asarray(Z[0], dtype=np.float64)[cols], order=4) if moments else None
    inv_w = 1.0 / bin_width
    counts = None
    k_lo = 0
    for _, raw in row_blocks(Z, chunk_rows):
        if not full:
            raw = raw[:, cols]
        if sums is not None:
            sums.add(raw)
        # Histogram: integer bin index per value, all columns in ONE bincount.
        if raw.dtype == np.float32 and inv_w < 1e30:
            kf = np.floor(raw * np.float32(inv_w) + np.float32(0.5))
        else:
            kf = np.floor(raw.astype(np.float64) * inv_w + 0.5)
        k_min, k_max = float(kf.min()), float(kf.max())
        lo, hi = k_min, k_max
        if counts is not None:
            lo, hi = min(k_lo, lo), max(k_lo + counts.shape[1] - 1, hi)
        # Counted in float first: a tiny bin_width (or a few extreme outliers)
        # would otherwise overflow the int cast or allocate d x span counts.
        n_bins = hi - lo + 1
        if not n_bins <= MAX_BINS:
            shown = f"{n_bins:.0f}" if n_bins < 1e15 else f"{n_bins:.3g}"
            raise ValueError(
                f"bin_width={bin_width:g} gives {shown} bins per component over the data range "
                f"[{lo * bin_width:g}, {hi * bin_width:g}]; the limit is "
                f"{MAX_BINS}: use a larger bin_width")
        c_lo, c_hi = int(k_min), int(k_max)
        nb = c_hi - c_lo + 1
        idx = (kf - c_lo).astype(np.intp)
        idx += np.arange(d, dtype=np.intp) * nb
        part = np.bincount(idx.ravel(), minlength=d * nb).reshape(d, nb)
        del kf, idx
        if counts is None:
            counts, k_lo = part.astype(np.int64), c_lo
        else:
            new_lo = min(k_lo, c_lo)
            new_hi = max(k_lo + counts.shape[1] - 1, c_hi)
            if new_lo != k_lo or new_hi != k_lo + counts.shape[1] - 1:
                grown = np.zeros((d, new_hi - new_lo + 1), dtype=np.int64)
                grown[:, k_lo - new_lo:k_lo - new_lo + counts.shape[1]] = counts
                counts, k_lo = grown, new_lo
            counts[:, c_lo - k_lo:c_lo - k_lo + nb] += part
    return sums, counts, k_lo


class _CompiledPass:
    """Power sums and histograms block by block (the ``on_block`` accumulator of
    core.stats.gram.shifted_gram: ``fork`` one per row range, ``join`` them).

    Same bins and sums as :func:`_moments_and_histograms`, compiled, with
    the shift of the covariance pass.
    """

    def __init__(self, kernel, shift, bin_width, dtype):
        self.k = kernel
        self.shift = np.asarray(shift, dtype=np.float64)
        d = self.shift.shape[0]
        self.inv_w = dtype.type(1.0 / bin_width)
        self.half = dtype.type(0.5)
        self.bin_width = bin_width
        self.sums = np.zeros((4, d))
        self.counts = None
        self.k_lo = 0

    def __call__(self, blk):
        blk = np.ascontiguousarray(blk)
        self._cover(*self.k.bin_range(blk, self.inv_w, self.half))
        self.k.accumulate(blk, self.shift, self.inv_w, self.half, self.k_lo, self.counts, self.sums)

    def _cover(self, c_lo, c_hi):
        # Grow the bins to cover [c_lo, c_hi] (ValueError past MAX_BINS).
        d = self.shift.shape[0]
        if self.counts is None:
            lo, hi = c_lo, c_hi
        else:
            lo, hi = min(self.k_lo, c_lo), max(self.k_lo + self.counts.shape[1] - 1, c_hi)
        if hi - lo + 1 > MAX_BINS:
            w = self.bin_width
            raise ValueError(
                f"bin_width={w} gives {hi - lo + 1} bins over the data range "
                f"[{lo * w:g}, {hi * w:g}]; the limit is {MAX_BINS}: use a larger bin_width")
        if self.counts is None or lo != self.k_lo or hi != self.k_lo + self.counts.shape[1] - 1:
            grown = np.zeros((d, hi - lo + 1), dtype=np.int64)
            if self.counts is not None:
                grown[:, self.k_lo - lo:self.k_lo - lo + self.counts.shape[1]] = self.counts
            self.counts, self.k_lo = grown, lo

    def fork(self):
        """A fresh, empty pass of the same kind (one per row range of the threaded Gram pass)."""
        return _CompiledPass(self.k, self.shift, self.bin_width, np.dtype(self.inv_w.dtype))

    def join(self, forks):
        """Add the forks' sums and counts to this pass's, in the order given."""
        for f in forks:
            if f.counts is None:
                continue
            self._cover(f.k_lo, f.k_lo + f.counts.shape[1] - 1)
            a = f.k_lo - self.k_lo
            self.counts[:, a:a + f.counts.shape[1]] += f.counts
            self.sums += f.sums




def component_histograms(Z, bin_width=0.25, components=None, chunk_rows=CHUNK_ROWS):
    """Histograms of components on shared edges, for one overlaid chart.

    Parameters
    ----------
    Z : array-like of shape (n_samples, z_dim)
        May be a memory-mapped float32 matrix; read in chunks.
    bin_width : float > 0
        Bin width (blog: 0.25).  Bin centres lie on multiples of it.
    components : sequence of int or None
        Components to histogram (default: all).

    Returns
    -------
    ComponentHistograms
    """
    Z = check_latents(Z)
    bin_width = check_positive(bin_width, "bin_width")
    cols = _check_components(components, Z.shape[1])
    _, counts, k_lo = _moments_and_histograms(Z, bin_width, cols, chunk_rows)
    return _make_hist(counts, k_lo, bin_width, cols, Z.shape[0])


def _check_components(components, z_dim):
    if components is None:
        return None
    comps = np.atleast_1d(np.asarray(components))
    if comps.size == 0:
        raise ValueError("components must not be empty, got []")
    return np.array([check_component(c, z_dim, "components") for c in comps.tolist()], dtype=int)


def _make_hist(counts, k_lo, bin_width, cols, n):
    nb = counts.shape[1]
    edges = (np.arange(k_lo, k_lo + nb + 1) - 0.5) * bin_width
    comps = np.arange(counts.shape[0]) if cols is None else np.asarray(cols)
    return ComponentHistograms(edges=edges, counts=counts, components=comps,
                               bin_width=float(bin_width), n_samples=int(n))


def _gauss(x, a, c, s):
    return a * np.exp(-0.5 * ((x - c) / s) ** 2)


def _gauss_jac(x, a, c, s):
    u = (x - c) / s
    e = np.exp(-0.5 * u * u)
    return np.stack([e, a * e * u / s, a * e * u * u / s], axis=1)


def peak_and_half_width(centres, counts):
    """Peak position and half-width at half maximum of one histogram.

    The half-maximum crossings are interpolated linearly between the bin
    centres on each side of the peak; where the histogram never drops below
    half maximum on a side, the outer edge of the last bin is used.

    Parameters
    ----------
    centres : ndarray of shape (n_bins,)
    counts : ndarray of shape (n_bins,)

    Returns
    -------
    mu : float
        Centre of the highest bin (first one on ties).
    hw : float
        Half-width at half maximum, ``(right - left) / 2``.
    """
    counts = np.asarray(counts, dtype=np.float64)
    p = int(np.argmax(counts))
    half = counts[p] / 2.0
    w = centres[1] - centres[0] if centres.size > 1 else 1.0
    below = np.nonzero(counts[:p] < half)[0]
    if below.size:
        i = below[-1]  # counts[i] < half <= counts[i+1]
        left = centres[i] + (half - counts[i]) / (counts[i + 1] - counts[i]) * w
    else:
        left = centres[0] - w / 2.0
    below = np.nonzero(counts[p + 1:] < half)[0]
    if below.size:
        i = p + 1 + below[0]  # counts[i-1] >= half > counts[i]
        right = centres[i - 1] + (counts[i - 1] - half) / (counts[i - 1] - counts[i]) * w
    else:
        right = centres[-1] + w / 2.0
    return float(centres[p]), float((right - left) / 2.0)


def peak_and_half_widths(Z, bin_width=0.25, chunk_rows=CHUNK_ROWS):
    """Histogram peak ``mu`` and half-width at half maximum ``hw`` of every component.

    The one implementation of the convention (see docs/method.md,
    "Histogram peak and half-width"): bins of width ``bin_width`` with
    centres on multiples of it, ``mu`` the centre of the highest bin (first
    on ties), ``hw`` from :func:`peak_and_half_width`.  The component table
    and the per-component sampler both use it, so they agree; the table
    shows ``hw`` as NaN below the resolution limit ``HW_MIN_BINS`` bins,
    where this function still returns the interpolated width (at least half
    a bin) for the sampler to use.

    Parameters
    ----------
    Z : array-like of shape (n_samples, z_dim)
        May be a memory-mapped matrix; read in chunks.
    bin_width : float > 0

    Returns
    -------
    mu, hw : ndarray of shape (z_dim,), float64
    """
    Z = check_latents(Z)
    bin_width = check_positive(bin_width, "bin_width")
    _, counts, k_lo = _moments_and_histograms(Z, bin_width, None, chunk_rows, moments=False)
    centres = _make_hist(counts, k_lo, bin_width, None, Z.shape[0]).centres
    out = np.array([peak_and_half_width(centres, c) for c in counts]).reshape(-1, 2)
    return out[:, 0], out[:, 1]


def _fit_gaussian(centres, counts, mean, std, kernel=None):
    """curve_fit of a*exp(-(x-c)^2/(2 s^2)) on one histogram -> a, c, s, r2.

    With ``kernel`` (core.stats._stats_kernel) the same least-squares problem is
    solved by its compiled Levenberg-Marquardt (256 fits: ~5 ms instead of
    ~200 ms); without it, or where it does not converge, by curve_fit.
    """
    nz = np.nonzero(counts)[0]
    if nz.size < 3 or not std > 0:
        return np.nan, np.nan, np.nan, np.nan
    sl = slice(max(nz[0] - 1, 0), nz[-1] + 2)
    x, y = centres[sl], counts[sl].astype(np.float64)
    popt = None
    if kernel is not None:
        a, c, s, ok = kernel.fit_gaussian(x, y, float(y.max()), float(mean), float(std), 2000)
        if ok and np.isfinite([a, c, s]).all() and s != 0:
            popt = (a, c, s)
    if popt is None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                popt, _ = optimize.curve_fit(_gauss, x, y, p0=(y.max(), mean, std),
                                             jac=_gauss_jac, maxfev=2000)
        except (RuntimeError, ValueError, optimize.OptimizeWarning):
            return np.nan, np.nan, np.nan, np.nan
    a, c, s = popt
    resid = y - _gauss(x, a, c, s)
    ss_tot = np.sum((y - y.mean()) ** 2)
    r2 = 1.0 - np.sum(resid ** 2) / ss_tot if ss_tot > 0 else np.nan
    return float(a), float(c), float(abs(s)), float(r2)


def _normality_p(Z, max_n, random_state):
    n = Z.shape[0]
    if n < 8:  # scipy's skewtest needs at least 8 observations
        return np.full(Z.shape[1], np.nan)
    rng = check_random_state(random_state)
    rows = np.sort(rng.choice(n, size=min(n, max_n), replace=False)) if n > max_n else slice(None)
    sample = np.asarray(Z[rows], dtype=np.float64)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        p = stats.normaltest(sample, axis=0).pvalue
    return np.asarray(p, dtype=np.float64)


def _table_from_pass(Z, sums, counts, k_lo, bin_width, normality_max_n, random_state):
    n, d = Z.shape
    mean, m2, m3, m4 = sums.central()
    std = np.sqrt(m2 * n / (n - 1)) if n > 1 else np.zeros(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Same (biased) estimators as scipy.stats.skew / kurtosis defaults.
        skew = np.where(m2 > 0, m3 / m2 ** 1.5, np.nan)
        kurt = np.where(m2 > 0, m4 / m2 ** 2 - 3.0, np.nan)
    hist = _make_hist(counts, k_lo, bin_width, None, n)
    centres = hist.centres
    rows = np.empty((d, 6))
    kernel = _stats_kernel
    for c in range(d):
        mu, hw = peak_and_half_width(centres, counts[c])
        # Below the resolution limit the number is not a HWHM: say so (NaN).
        rows[c, :2] = mu, (hw if hw >= HW_MIN_BINS * bin_width else np.nan)
        rows[c, 2:] = _fit_gaussian(centres, counts[c], mean[c], std[c], kernel)
    table = pd.DataFrame({
        "component": np.arange(d),
        "mean": mean, "std": std, "mu": rows[:, 0], "hw": rows[:, 1],
        "fit_amplitude": rows[:, 2], "fit_centre": rows[:, 3],
        "fit_sigma": rows[:, 4], "fit_r2": rows[:, 5],
        "skewness": skew, "kurtosis": kurt,
        "normality_p": _normality_p(Z, normality_max_n, random_state),
    })
    return table, hist


def _check_table_args(Z, bin_width, normality_max_n):
    Z = check_latents(Z, min_rows=2)
    bin_width = check_positive(bin_width, "bin_width")
    normality_max_n = check_int(normality_max_n, "normality_max_n", low=8)
    return Z, bin_width, normality_max_n


def component_table(Z, bin_width=0.25, normality_max_n=5000, random_state=0,
                    chunk_rows=CHUNK_ROWS):
    """Per-component statistics table, one row per latent component.

    Parameters
    ----------
    Z : array-like of shape (n_samples, z_dim)
        Latent vectors; a memory-mapped matrix is read in chunks.
    bin_width : float > 0
        Histogram bin width (blog: 0.25); bin centres on multiples of it.
    normality_max_n : int >= 8
        The normality test (``scipy.stats.normaltest``, D'Agostino-Pearson)
        runs on a random subsample of at most this many rows, drawn without
        replacement with ``random_state``: at 200,000 rows any tiny deviation
        gives p ~ 0, so the subsample keeps the p-value informative and the
        test fast.  The same rows are used for every component.
    random_state : int, Generator or None
        Seed of the subsample.

    Returns
    -------
    table : pandas.DataFrame of shape (z_dim, 12)
        Columns: ``component``; ``mean``, ``std`` (ddof = 1); ``mu`` (centre
        of the highest histogram bin), ``hw`` (half-width at half maximum,
        interpolated half-maximum crossings; for a Gaussian hw = 1.1774 sigma;
        NaN where it is below ``HW_MIN_BINS`` bins, i.e. sigma <= bin width:
        the histogram cannot resolve it, see :func:`unresolved_hw_message`);
        ``fit_amplitude`` (counts), ``fit_centre``, ``fit_sigma``, ``fit_r2``
        of a Gaussian ``a exp(-(x-c)^2 / (2 s^2))`` fitted to the histogram
        counts with ``scipy.optimize.curve_fit`` (NaN where it cannot be
        fitted); ``skewness`` and ``kurtosis`` (excess) with the defaults of
        ``scipy.stats.skew`` / ``scipy.stats.kurtosis`` (biased, Fisher);
        ``normality_p``.
    """
    Z, bin_width, normality_max_n = _check_table_args(Z, bin_width, normality_max_n)
    passed = _moments_and_histograms(Z, bin_width, None, chunk_rows)
    table, _ = _table_from_pass(Z, *passed, bin_width, normality_max_n, random_state)
    return table


def unresolved_hw_message(table, bin_width):
    """One line naming the components whose ``hw`` is below the resolution limit, or None.

    Parameters
    ----------
    table : DataFrame from :func:`component_table`
    bin_width : float

    Returns
    -------
    str or None
    """
    bad = table.loc[table["hw"].isna() & (table["std"] > 0), "component"].astype(int).tolist()
    if not bad:
        return None
    shown = ", ".join(map(str, bad[:10])) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
    return (f"hw is not resolved for {len(bad)} component(s) ({shown}): their histogram peak is "
            f"narrower than {HW_MIN_BINS:g} bins of bin_width={bin_width:g} (sigma <= bin width), so "
            f"the half-width at half maximum cannot be read off the histogram; hw is left empty. "
            f"Use a smaller bin width (std is still exact).")


def dominant_components(table, n=10, by="mu"):
    """The components that dominate the distribution's position or extent.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`component_table`.
    n : int >= 1
        Number of components returned (at most z_dim).
    by : {"mu", "width", "hw", "std", "mean"}
        ``"mu"``: largest |mu| (peak off the origin); ``"mean"``: largest
        |mean|; ``"width"`` or ``"hw"``: largest half-width at half maximum;
        ``"std"``: largest standard deviation.

    Returns
    -------
    pandas.DataFrame
        The ``n`` selected rows, ranked (largest first), with a ``rank``
        column.  Ties keep the lower component index first.
    """
    n = check_int(n, "n", low=1)
    keys = {"mu": "mu", "mean": "mean", "width": "hw", "hw": "hw", "std": "std"}
    if by not in keys:
        raise ValueError(f"by must be one of {sorted(keys)}, got {by!r}")
    col = keys[by]
    score = table[col].abs() if col in ("mu", "mean") else table[col]
    order = np.argsort(-score.to_numpy(), kind="stable")[:n]
    out = table.iloc[order].copy()
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out.reset_index(drop=True)


def radius_distribution(Z, chunk_rows=CHUNK_ROWS):
    """Euclidean length of every z-point.

    Parameters
    ----------
    Z : array-like of shape (n_samples, z_dim)

    Returns
    -------
    radii : ndarray of shape (n_samples,), float64
    """
    Z = check_latents(Z)
    out = np.empty(Z.shape[0])
    for rows, block in row_blocks(Z, chunk_rows, np.float64):
        out[rows] = np.sqrt(np.einsum("ij,ij->i", block, block))
    return out


def uniform_box_shell(b, z_dim):
    """Radius of vectors with independent components uniform in [-b, b].

    With r^2 = sum of d squares, E[x^2] = b^2/3 and E[x^4] = b^4/5 give
    ``E r^2 = d b^2 / 3`` and ``Var r^2 = d (b^4/5 - b^4/9) = 4 d b^4 / 45``.
    The delta method (r = sqrt(r^2)) then gives ``mean ~ b sqrt(d/3)`` and
    ``std ~ sqrt(Var r^2) / (2 sqrt(E r^2)) = b / sqrt(15)``: the shell's
    thickness does not grow with d while its radius does (the "curse of
    high dimensionality").

    Parameters
    ----------
    b : float > 0
    z_dim : int >= 1

    Returns
    -------
    dict
        ``mean`` (b sqrt(d/3)), ``std`` (b / sqrt 15), ``mean_corrected``
        (second-order delta method, ``mean - Var r^2 / (8 (E r^2)^1.5)``),
        ``mean_sq`` (E r^2), ``var_sq`` (Var r^2), ``b``, ``z_dim``.
    """
    b = check_positive(b, "b")
    d = check_int(z_dim, "z_dim", low=1)
    mean_sq = d * b * b / 3.0
    var_sq = d * (b ** 4 / 5.0 - b ** 4 / 9.0)
    mean = float(np.sqrt(mean_sq))
    return {
        "b": b, "z_dim": d, "mean": mean, "std": float(b / np.sqrt(15.0)),
        "mean_corrected": float(mean - var_sq / (8.0 * mean_sq ** 1.5)),
        "mean_sq": mean_sq, "var_sq": var_sq,
    }


def gaussian_shell(z_dim, sigma=1.0):
    """Radius of vectors with independent N(0, sigma^2) components.

    r / sigma follows a chi distribution with d degrees of freedom: mean
    ``sigma sqrt(2) Gamma((d+1)/2) / Gamma(d/2)`` (about sigma sqrt(d - 1/2)),
    std ``sqrt(d sigma^2 - mean^2)`` (about sigma / sqrt 2), mode
    ``sigma sqrt(d - 1)``.

    Returns
    -------
    dict with ``mean``, ``std``, ``mode``, ``sigma``, ``z_dim``.
    """
    d = check_int(z_dim, "z_dim", low=1)
    sigma = check_positive(sigma, "sigma")
    dist = stats.chi(d, scale=sigma)
    return {"sigma": sigma, "z_dim": d, "mean": float(dist.mean()),
            "std": float(dist.std()), "mode": float(sigma * np.sqrt(d - 1))}


@dataclass
class LatentStatistics:
    """Everything :func:`full_statistics` computes.

    Attributes
    ----------
    table : pandas.DataFrame of shape (z_dim, 12)
        See :func:`component_table`.
    histograms : ComponentHistograms
        All components on shared edges.
    correlation : ndarray of shape (z_dim, z_dim)
        Pearson matrix.
    threshold_counts : pandas.DataFrame
        See :func:`core.stats.correlation.threshold_counts`.
    pca : core.stats.pca.LatentPCA
        Fitted on all components.
    """

    table: pd.DataFrame
    histograms: ComponentHistograms
    correlation: np.ndarray
    threshold_counts: pd.DataFrame
    pca: object


def full_statistics(Z, bin_width=0.25, normality_max_n=5000, random_state=0,
                    thresholds=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6)):
    """Component table, histograms, correlation, threshold counts and PCA.

    float32 ``Z`` (with numba): one chunked pass gives the moments, the
    histograms (compiled, ``core.stats._stats_kernel``) and the covariance (float32
    GEMM, ``core.stats.gram``) of each block while it is in cache; correlation and
    PCA share that covariance (a spectrum with many nearly dead components, like
    real latents', takes the pass in float64 instead, and a missed pilot
    estimate a second, float64 pass: every eigenvalue within 1e-6).  The pass
    runs in threads, one accumulator per row range (``_CompiledPass.fork``).
    Otherwise two NumPy passes: moments and histograms, then
    ``LatentPCA.fit``, with the correlation rebuilt from its eigenpairs.

    Parameters
    ----------
    Z : array-like of shape (n_samples, z_dim)
        A memory-mapped float32 matrix is fine; it is never copied whole.
    bin_width, normality_max_n, random_state
        As in :func:`component_table`.
    thresholds : sequence of float
        As in :func:`core.stats.correlation.threshold_counts`.

    Returns
    -------
    LatentStatistics
    """
    kernel = _stats_kernel
    Z = check_latents(Z, min_rows=2, finite=False)
    if kernel is not None and Z.dtype == np.float32 and Z.shape[0] > Z.shape[1]:
        # One pass: each block is histogrammed and summed (compiled) while
        # it is in cache for the covariance GEMM (float32 with the pilot
        # projections that keep the small eigenvalues exact, or float64:
        # core.stats.gram).
        bin_width = check_positive(bin_width, "bin_width")
        normality_max_n = check_int(normality_max_n, "normality_max_n", low=8)
        n = Z.shape[0]
        shift = float32_shift(Z)
        acc = _CompiledPass(kernel, shift, bin_width, Z.dtype)
        mean, cov, evals, evecs, _ = float32_eigh(Z, GRAM_ROWS, on_block=acc, shift=shift)
        if np.isfinite(cov).all() and np.isfinite(evals).all() and np.isfinite(acc.sums).all():
            sums = PowerSums(acc.shift, order=4)
            sums.sums, sums.n = acc.sums, n
            table, hist = _table_from_pass(Z, sums, acc.counts, acc.k_lo, bin_width,
                                           normality_max_n, random_state)
            pca = LatentPCA()._fit_eigh(mean, evals, evecs, n)
            R = correlation_from_cov(cov)
            return LatentStatistics(table=table, histograms=hist, correlation=R,
                                    threshold_counts=threshold_counts(R, thresholds), pca=pca)
    Z, bin_width, normality_max_n = _check_table_args(Z, bin_width, normality_max_n)
    passed = _moments_and_histograms(Z, bin_width, None)
    table, hist = _table_from_pass(Z, *passed, bin_width, normality_max_n, random_state)
    pca = LatentPCA().fit(Z)
    V = pca.components_
    cov = (V.T * pca.explained_variance_) @ V
    R = correlation_from_cov(cov)
    return LatentStatistics(table=table, histograms=hist, correlation=R,
                            threshold_counts=threshold_counts(R, thresholds), pca=pca)


__all__ = [
    "ComponentHistograms", "LatentStatistics", "component_histograms", "component_table",
    "dominant_components", "full_statistics", "gaussian_shell", "peak_and_half_width",
    "radius_distribution", "uniform_box_shell", "unresolved_hw_message", "HWHM_PER_SIGMA",
    "HW_MIN_BINS",
]
