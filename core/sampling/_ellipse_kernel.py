"""Compiled (numba) pair loop of the PCA-ellipse sampler (docs/method.md, Samplers [F-X]).

Imported at the top of :mod:`core.sampling.samplers` inside ``try/except
ImportError`` (numba is optional: without it the NumPy implementation runs).  The
kernel gives the same output, bit for bit, as the plain per-vector loop of
the blog's method for the same random stream; see ``constrain_rows``.

Compiled once per machine: ``cache=True`` stores the machine code in
``core/__pycache__`` (or numba's user cache directory when that is not
writable), and later processes load it instead of compiling.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# All hash arithmetic in uint64 with explicit masking: numba types mixed
# uint32/int64 expressions as float64, and uint32 products would not wrap
# the way NumPy's do.  Module-level np.uint64 constants stay uint64.
_MASK32 = np.uint64(0xFFFFFFFF)
_S16 = np.uint64(16)
_S15 = np.uint64(15)
_S31 = np.uint64(31)
_S32 = np.uint64(32)
_C1 = np.uint64(0x7FEB352D)
_C2 = np.uint64(0x846CA68B)
_GOLD = np.uint64(0x9E3779B1)
_COIN = np.uint64(0x5BD1E995)
_LOW31 = np.uint64(0x7FFFFFFF)
# Margin of the "can this pair violate?" tests: far above the rounding
# error of (v / fa)^2 (~1e-16), so the tests only ever keep too many pairs.
_EPS = 1e-9
_MASK16 = np.uint64(0xFFFF)
_MAX_BITS = 12
_MAX_BUCKETS = 1 << _MAX_BITS


@njit(inline="always", nogil=True)
def _mix32(x):
    # Same "lowbias32" hash as core.sampling.samplers._mix32, on a uint64 holding 32 bits.
    x = x ^ (x >> _S16)
    x = (x * _C1) & _MASK32
    x = x ^ (x >> _S15)
    x = (x * _C2) & _MASK32
    return x ^ (x >> _S16)


@njit(inline="always", nogil=True, error_model="numpy")
def _apply(V, b, fa, w, live, m, random_fixed, thr):
    # The reference step for each pair of live[:m], in order.
    for s in range(m):
        x = live[s]
        i = np.int64((x >> _S16) & _MASK16)
        j = np.int64(x & _MASK16)
        if w[i] + w[j] <= thr:  # killed by an earlier step of this bucket
            continue
        h = _mix32((x >> _S32) ^ _COIN)
        if random_fixed and (h >> _S31) != 0:
            i, j = j, i
        t = V[b, i] / fa[i]
        c = fa[j] * np.sqrt(max(0.0, 1.0 - t * t))
        if abs(V[b, j]) > c:
            r = (np.float64(h & _LOW31) + 0.5) / 2147483648.0
            y = (2.0 * r - 1.0) * c
            V[b, j] = y
            y = y / fa[j]
            w[j] = y * y


#: Key-space edges (in units of 2^32) of the rounds of the pair loop.  The
#: pairs that nearly violate at the start (~21 % of all pairs for uniform
#: starts) are killed fast as the loop goes on: at K = 256 ~7,100 at the
#: start, ~560 after the first 1/16 of the keys, ~80 after a quarter.  Each
#: round re-enumerates only the pairs that still nearly violate, so the
#: candidates of later rounds are few; any increasing edges from 0 to 1
#: give the same output.  Two rounds, cut after the first eighth, beat the
#: three of (0, 1/16, 1/4, 1): paired on one thread, 5-6 % faster at K = 256,
#: 12-13 % at K = 128, 20 % at K = 64 (one round, or seven, were slower).
_ROUND_EDGES = np.array([0, 1 << 29, 1 << 32], np.uint64)


@njit(inline="always", nogil=True, error_model="numpy")
def _sort_components(w, g, K, wbin, bstart, ws, gs, os_):
    # Components in order of w, up to bins of width 1/K (counting sort; w is
    # in [0, 1]); bin u then holds positions bstart[u] .. bstart[u + 1] - 1.
    bstart[:] = 0
    for k in range(K):
        u = min(np.int64(w[k] * K), K - 1)
        wbin[k] = u
        bstart[u + 2] += 1
    for u in range(2, K + 2):
        bstart[u] += bstart[u - 1]
    for k in range(K):
        u = wbin[k] + 1
        a = bstart[u]
        ws[a] = w[k]
        gs[a] = g[k]
        os_[a] = np.uint64(k)
        bstart[u] += 1


@njit(inline="always", nogil=True, error_model="numpy")
def _enumerate(ws, gs, os_, bstart, K, thr, lo, hi, comb, kbuf):
    # Pairs (positions a < c) with w_a + w_c > thr and key in [lo, hi) as
    # records key << 32 | p << 16 | q, (p, q) the pair's components in
    # enumeration order (the bucket pass puts the smaller first, so that
    # integer order is the reference order: key, then i*K + j).  All pairs
    # in bins above the bin of thr - w_a qualify, in that bin each is
    # tested.  Keys of the qualifying run are hashed first (a branch-free
    # loop the compiler vectorises), then the run is compacted to the window
    # branch-free.  The run is walked through views from index 0: with a
    # start the compiler cannot prove >= 0, numba's negative-index
    # wraparound turned the hash loop into gathers and scatters (the kernel
    # took 25 us a vector instead of 16).
    n = 0
    span = hi - lo
    for a in range(K):
        x = thr - ws[a]
        if x < 0.0:
            u = 0
        else:
            u = min(np.int64(x * K), K - 1)
        gp = gs[a]
        P = os_[a] << _S16
        c0 = max(a + 1, bstart[u])
        c1 = max(c0, bstart[u + 1])
        for c in range(c0, c1):
            if ws[c] > x:
                key = _mix32((gp + gs[c]) & _MASK32)
                if key - lo < span:
                    comb[n] = (key << _S32) | P | os_[c]
                    n += 1
        m = K - c1
        gt = gs[c1:]
        ot = os_[c1:]
        kb = kbuf[:m]
        for t in range(m):
            kb[t] = _mix32((gp + gt[t]) & _MASK32)
        out = comb[n:]
        k = 0
        for t in range(m):
            key = kb[t]
            out[k] = (key << _S32) | P | ot[t]
            k += np.int64(key - lo < span)
        n += k
    return n


@njit(cache=True, nogil=True, error_model="numpy")
def constrain_rows(V, fa, seeds, random_fixed, start, stop):
    """Seed-X pair loop on rows ``start:stop`` of V, in place.

    For each vector the pairs (i < j) are visited in the order of their keys
    ``mix32(g_i + g_j)`` (ties by i*K + j), and v_j is redrawn uniformly in
    [-c, c], c = fa_j sqrt(1 - (v_i / fa_i)^2), only when |v_j| > c -- the
    rule of ``core.sampling.samplers.PCAEllipseSampler``.  A redraw only shrinks
    |v_j|, so a pair that satisfies its condition once satisfies it for
    ever.  Hence the key space is cut into a few rounds (``_ROUND_EDGES``),
    and in each round:

    1. only the pairs that (nearly) violate at the start of the round can
       act in it; they are enumerated from the components binned by
       w_k = (v_k / fa_k)^2, and those whose key lies in the round's window
       are kept (later rounds see far fewer: w only shrinks);
    2. they are bucketed by their key (a counting sort; keys are uniform
       hashes) and the buckets visited in key order;
    3. in a bucket, the pairs that no longer nearly violate are dropped
       (they cannot act later either), and the few left are sorted by
       (key, i, j) and applied with the exact test.

    Every pair left out is a no-op of the plain loop too, and the arithmetic
    of an applied step is the reference's, operation for operation (no
    fastmath, so no reassociation or fused multiply-add): the result is
    bit-identical to the per-vector loop.

    Parameters
    ----------
    V : ndarray of shape (nb, K), float64, C-contiguous, modified in place
    fa : ndarray of shape (K,), float64   f * a_k, all > 0
    seeds : ndarray of shape (nb,), uint32
    random_fixed : bool   hold a random member of each pair fixed (else the lower index)
    start, stop : int   row range processed
    """
    K = V.shape[1]
    if K < 2:
        return
    npairs = K * (K - 1) // 2
    comb = np.empty(npairs, np.uint64)
    srt = np.empty(npairs, np.uint64)
    live = np.empty(npairs, np.uint64)
    count = np.empty(_MAX_BUCKETS + 1, np.int64)
    w = np.empty(K)
    g = np.empty(K, np.uint64)
    wbin = np.empty(K, np.int64)
    bstart = np.empty(K + 2, np.int64)
    ws = np.empty(K)
    gs = np.empty(K, np.uint64)
    os_ = np.empty(K, np.uint64)
    kbuf = np.empty(K, np.uint64)
    thr = 1.0 - _EPS
    for b in range(start, stop):
        seed = np.uint64(seeds[b])
        for k in range(K):
            x = V[b, k] / fa[k]
            w[k] = x * x
            g[k] = _mix32((seed + np.uint64(k) * _GOLD) & _MASK32)
        for r in range(_ROUND_EDGES.size - 1):
            lo = _ROUND_EDGES[r]
            hi = _ROUND_EDGES[r + 1]
            _sort_components(w, g, K, wbin, bstart, ws, gs, os_)
            n = _enumerate(ws, gs, os_, bstart, K, thr, lo, hi, comb, kbuf)
            if n == 0:
                continue
            # --- buckets of the window by key, ~4 candidates each (>= 2
            # buckets: a shift by 64 would be undefined).
            span_bits = 0
            while (np.uint64(1) << np.uint64(span_bits)) < hi - lo:
                span_bits += 1
            bits = 1
            while (4 << bits) < n and bits < _MAX_BITS and bits < span_bits:
                bits += 1
            shift = np.uint64(32 + span_bits - bits)
            base = lo << _S32
            nbk = np.int64(((hi - lo - np.uint64(1)) << _S32) >> shift) + 1
            count[: nbk + 1] = 0
            for s in range(n):
                count[np.int64((comb[s] - base) >> shift) + 1] += 1
            for u in range(nbk):
                count[u + 1] += count[u]
            for s in range(n):
                u = np.int64((comb[s] - base) >> shift)
                srt[count[u]] = comb[s]
                count[u] += 1
            # --- visit the buckets in key order.  Within a bucket only the
            # pairs that still nearly violate are kept (sorted, in `live`) and
            # applied when the next bucket starts; while `live` is empty
            # nothing changes w, so testing against the current w is the same
            # as at bucket start.
            m = 0
            cb = np.uint64(0)
            for s in range(n):
                x = srt[s]
                if m > 0 and ((x - base) >> shift) != cb:
                    _apply(V, b, fa, w, live, m, random_fixed, thr)
                    m = 0
                i = (x >> _S16) & _MASK16
                j = x & _MASK16
                if w[np.int64(i)] + w[np.int64(j)] > thr:
                    if i > j:
                        x = (x >> _S32 << _S32) | (j << _S16) | i
                    cb = (x - base) >> shift
                    t = m - 1
                    while t >= 0 and live[t] > x:
                        live[t + 1] = live[t]
                        t -= 1
                    live[t + 1] = x
                    m += 1
            if m > 0:
                _apply(V, b, fa, w, live, m, random_fixed, thr)
