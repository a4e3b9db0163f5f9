"""Binned FFT kernel density estimate of a 2-D point cloud, and HDR levels.

Method: the points are spread onto a regular grid by *linear binning* (each
point's unit mass goes to the four surrounding nodes with bilinear weights),
then the grid is convolved (``scipy.signal.fftconvolve``) with a Gaussian
kernel that has a FULL 2x2 covariance.  The bandwidth follows
``scipy.stats.gaussian_kde``'s default (Scott's rule): kernel covariance =
``factor**2 * cov(points)`` with ``factor = n ** (-1/6)`` (d = 2) and the
data covariance with ddof = 1, so both estimates are directly comparable.
A full-covariance kernel matters: an axis-aligned bandwidth is far off on
strongly correlated pairs.

Cost is O(n) for the binning plus one small FFT, independent of n: 200,000
points on 128 x 128 take a few milliseconds, against about a minute for
``gaussian_kde`` evaluated on the same grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import signal

from core.validation import check_float, check_int, check_latents, check_positive

#: Kernel truncated at this many (marginal) kernel standard deviations.
TRUNCATE = 5.0
#: Automatic oversampling: bin on a grid fine enough that the kernel's
#: narrowest sigma spans at least this many fine cells ...
MIN_SIGMA_CELLS = 3.0
#: ... but never more than this many fine cells per output cell.
MAX_OVERSAMPLE = 4


@dataclass
class KDEResult:
    """A density on a regular grid.

    Attributes
    ----------
    xgrid : ndarray of shape (gx,)
    ygrid : ndarray of shape (gy,)
    density : ndarray of shape (gy, gx)
        ``density[iy, ix]`` is the density at ``(xgrid[ix], ygrid[iy])``
        (the layout ``ax.contour(xgrid, ygrid, density)`` expects).  It is
        normalised over the whole plane: the mass on the grid,
        ``mass_on_grid``, is below 1 by whatever lies outside the window.
    cell_area : float
        dx * dy, for Riemann sums.
    bandwidth : ndarray of shape (2, 2)
        Kernel covariance used.
    factor : float
        Bandwidth factor (Scott's n^(-1/6) unless overridden).
    n_samples : int
    """

    xgrid: np.ndarray
    ygrid: np.ndarray
    density: np.ndarray
    cell_area: float
    bandwidth: np.ndarray
    factor: float
    n_samples: int

    @property
    def mass_on_grid(self):
        """Probability mass inside the grid window (Riemann sum)."""
        return float(self.density.sum() * self.cell_area)

    def levels_for_masses(self, masses):
        """Highest-density levels for the given masses (see :func:`hdr_levels`)."""
        return hdr_levels(self.density, masses, self.cell_area)


def _check_lim(lim, name):
    if lim is None:
        return None
    try:
        lo, hi = lim
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high), got {lim!r}") from None
    lo, hi = check_float(lo, name), check_float(hi, name)
    if not hi > lo:
        raise ValueError(f"{name} must have low < high, got {lim!r}")
    return lo, hi


def _linear_binning(x, y, x0, dx, nx, y0, dy, ny):
    """Bilinear spreading of unit masses onto an (ny, nx) grid of nodes."""
    fx = (x - x0) * (1.0 / dx)
    fy = (y - y0) * (1.0 / dy)
    inside = (fx >= 0) & (fx <= nx - 1) & (fy >= 0) & (fy <= ny - 1)
    if not inside.all():  # only when zoomed: points outside are dropped
        fx, fy = fx[inside], fy[inside]
    ix = np.minimum(fx.astype(np.intp), nx - 2)  # fx >= 0: truncation = floor
    iy = np.minimum(fy.astype(np.intp), ny - 2)
    wx = fx - ix
    wy = fy - iy
    base = iy * nx + ix
    size = nx * ny
    w11 = wx * wy
    w01 = wy - w11          # (1 - wx) wy
    w10 = wx - w11          # wx (1 - wy)
    w00 = 1.0 - wx - w01    # (1 - wx)(1 - wy)
    grid = np.bincount(base, w00, minlength=size)
    grid += np.bincount(base + 1, w10, minlength=size)
    grid += np.bincount(base + nx, w01, minlength=size)
    grid += np.bincount(base + (nx + 1), w11, minlength=size)
    return grid.reshape(ny, nx)


def kde2d(points, gridsize=128, bw_factor=None, xlim=None, ylim=None, pad=3.0,
          oversample=None):
    """Gaussian KDE of 2-D points on a regular grid (binned, FFT).

    Parameters
    ----------
    points : array-like of shape (n_samples, 2)
        At least 3 points with a non-singular covariance.
    gridsize : int or (int, int)
        Number of grid nodes along x and y (>= 8 each).
    bw_factor : float > 0 or None
        Bandwidth factor; None uses Scott's rule ``n ** (-1/6)``, the
        default of ``scipy.stats.gaussian_kde`` (a scalar ``bw_method`` there
        is the same factor).  Kernel covariance = factor^2 * cov(points).
    xlim, ylim : (float, float) or None
        Grid window (to zoom).  Default: the data range padded by ``pad``
        kernel standard deviations on each side.  Points outside the window
        still contribute their kernel tails inside it (they are binned on an
        extended grid of width ``TRUNCATE`` kernel sigmas around the window,
        at most twice the grid size on each side).
    pad : float >= 0
        Padding of the default window, in kernel standard deviations.
    oversample : int >= 1 or None
        Bin and convolve on a grid this many times finer, then keep every
        ``oversample``-th node.  None chooses it so that the kernel's
        narrowest standard deviation spans at least ``MIN_SIGMA_CELLS`` fine cells (at most
        ``MAX_OVERSAMPLE``): linear binning then stays well inside 0.5 % of
        the peak of the exact KDE.

    Returns
    -------
    KDEResult
    """
    points = check_latents(points, name="points", min_rows=3)
    if points.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2), got {points.shape}")
    points = np.asarray(points, dtype=np.float64)
    if np.ndim(gridsize) == 0:
        gx = gy = check_int(gridsize, "gridsize", low=8, high=4096)
    else:
        gx, gy = (check_int(g, "gridsize", low=8, high=4096) for g in gridsize)
    pad = check_float(pad, "pad", low=0.0)
    xlim, ylim = _check_lim(xlim, "xlim"), _check_lim(ylim, "ylim")
    n = points.shape[0]
    x, y = points[:, 0], points[:, 1]
    cov = np.cov(points, rowvar=False)
    det = float(np.linalg.det(cov))
    if not det > 1e-12 * max(cov[0, 0] * cov[1, 1], 1e-300):
        raise ValueError("points have a singular covariance (they lie on a line or a point); "
                         "a 2-D KDE needs a 2-D spread")
    factor = n ** (-1.0 / 6.0) if bw_factor is None else check_positive(bw_factor, "bw_factor")
    H = cov * factor ** 2
    sx, sy = math.sqrt(H[0, 0]), math.sqrt(H[1, 1])
    if xlim is None:
        xlim = (float(x.min()) - pad * sx, float(x.max()) + pad * sx)
    if ylim is None:
        ylim = (float(y.min()) - pad * sy, float(y.max()) + pad * sy)
    xgrid = np.linspace(xlim[0], xlim[1], gx)
    ygrid = np.linspace(ylim[0], ylim[1], gy)
    dx, dy = xgrid[1] - xgrid[0], ygrid[1] - ygrid[0]
    if oversample is None:
        # Linear binning errs by ~ (cell / kernel sigma)^2 / 8 of a kernel's
        # peak; bin on a finer grid until the kernel spans >= MIN_SIGMA_CELLS.
        # Narrowest kernel direction, measured in cells (anisotropic cells).
        h_cells = H / np.outer([dx, dy], [dx, dy])
        need = MIN_SIGMA_CELLS / math.sqrt(max(np.linalg.eigvalsh(h_cells)[0], 1e-300))
        oversample = int(min(max(math.ceil(need), 1), MAX_OVERSAMPLE))
    else:
        oversample = check_int(oversample, "oversample", low=1, high=16)
    fdx, fdy = dx / oversample, dy / oversample
    fgx, fgy = (gx - 1) * oversample + 1, (gy - 1) * oversample + 1
    # Kernel half-sizes in fine cells; also the margin of the extended grid.
    lx = min(int(math.ceil(TRUNCATE * sx / fdx)), 2 * fgx)
    ly = min(int(math.ceil(TRUNCATE * sy / fdy)), 2 * fgy)
    binned = _linear_binning(x, y, xlim[0] - lx * fdx, fdx, fgx + 2 * lx,
                             ylim[0] - ly * fdy, fdy, fgy + 2 * ly)
    ox = np.arange(-lx, lx + 1) * fdx
    oy = np.arange(-ly, ly + 1) * fdy
    Hinv = np.linalg.inv(H)
    OX, OY = np.meshgrid(ox, oy)
    q = Hinv[0, 0] * OX * OX + 2.0 * Hinv[0, 1] * OX * OY + Hinv[1, 1] * OY * OY
    kernel = np.exp(-0.5 * q) / (2.0 * math.pi * math.sqrt(np.linalg.det(H)))
    density = signal.fftconvolve(binned, kernel, mode="valid")[::oversample, ::oversample] / n
    density = np.ascontiguousarray(density)
    np.clip(density, 0.0, None, out=density)  # FFT round-off can dip below 0
    return KDEResult(xgrid=xgrid, ygrid=ygrid, density=density, cell_area=float(dx * dy),
                     bandwidth=H, factor=float(factor), n_samples=int(n))


def hdr_levels(density, masses, cell_area):
    """Density thresholds of the highest-density regions holding given masses.

    For each mass m the level L is such that the grid cells with density
    >= L carry probability m (cells sorted by density, cumulative Riemann
    sum, linear interpolation between cells).  Drawing contours at these
    levels next to ellipses of sigma n with ``m = 1 - exp(-n^2/2)`` compares
    like with like: for a bivariate normal both curves coincide.

    Parameters
    ----------
    density : ndarray of shape (gy, gx)
    masses : float or sequence of float in (0, 1)
    cell_area : float > 0

    Returns
    -------
    levels : ndarray of shape (n_masses,)
        In the order of ``masses`` (larger mass -> lower level).  NaN where
        the grid holds less than the requested mass (widen the window).
    """
    cell_area = check_positive(cell_area, "cell_area")
    masses = np.atleast_1d(np.asarray(masses, dtype=np.float64))
    for m in masses.tolist():
        check_float(m, "masses", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    vals = np.sort(np.asarray(density, dtype=np.float64).ravel())[::-1]
    cum = np.cumsum(vals) * cell_area
    levels = np.full(masses.shape, np.nan)
    for k, m in enumerate(masses):
        idx = int(np.searchsorted(cum, m, side="left"))
        if idx >= cum.size:
            continue
        if idx == 0:
            levels[k] = vals[0]
            continue
        # Interpolate the level between the two cells that straddle mass m.
        frac = (m - cum[idx - 1]) / (cum[idx] - cum[idx - 1])
        levels[k] = vals[idx - 1] + frac * (vals[idx] - vals[idx - 1])
    return levels


__all__ = ["KDEResult", "hdr_levels", "kde2d", "TRUNCATE"]
