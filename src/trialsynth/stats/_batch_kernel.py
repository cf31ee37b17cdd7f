"""Compiled (numba) kernel for :mod:`trialsynth.stats.batch`: one loop per meta-analysis, parallel over fits.

It performs, per row, the same arithmetic as the numpy engine (:func:`trialsynth.stats.pooling.fit_arrays`
with :func:`trialsynth.stats.estimators.tau2_estimate`). The iterative τ² (REML, ML, PM, EB) is not
repeated here: the kernel calls the compiled row solver of :mod:`trialsynth.stats.tau2`
(:func:`~trialsynth.stats.tau2.solve_row`), the very function the numpy engine runs, so τ² is the
same by construction. The closed-form estimators and the statistics are written out with every sum
added up in numpy's order (its pairwise summation, :func:`_psum`), so that a row fitted here gives
the same bits as the same studies fitted alone by the numpy engine. (A padded row of the numpy
engine sums extra zeros, which can change the grouping of its additions and so its last bits.)
Tail probabilities come from the same C functions as :mod:`scipy.special` (through
``scipy.special.cython_special``); critical values are computed by the caller with scipy and
passed in as tables indexed by the degrees of freedom.

This module imports numba; :mod:`trialsynth.stats.batch` imports it only when numba is installed.
"""

from __future__ import annotations

import math

import llvmlite.binding as llvm
import numba as nb
import numpy as np
from numba.extending import get_cython_function_address

from trialsynth.stats import tau2 as solver

# The kernel calls the row solver's functions: they must be numba's compiled ones.
solver.compile_solver()

#: Method codes of the kernel (the order is private to this module and batch.py).
CODES = {"FE": 0, "DL": 1, "HE": 2, "HS": 3, "SJ": 4, "REML": 5, "ML": 6, "PM": 7, "EB": 8}


def _special(name: str, nargs: int):
    """The double-precision C function ``name`` of scipy.special.cython_special, callable from numba.

    Its address is registered with LLVM under a symbol of ours and called by name, so that the
    compiled kernel can be cached on disk (a ctypes pointer would prevent caching).
    """
    from scipy.special import cython_special

    signature = "double (" + ", ".join(["double"] * nargs)
    for key, capsule in cython_special.__pyx_capi__.items():
        if (key == name or key.endswith("fuse_0" + name) or key.endswith("fuse_1" + name)) and (
            signature in repr(capsule)
        ):
            symbol = "trialsynth_scipy_" + name
            llvm.add_symbol(symbol, get_cython_function_address("scipy.special.cython_special", key))
            return nb.types.ExternalFunction(
                symbol, nb.types.float64(*([nb.types.float64] * nargs), nb.types.int32)
            )
    raise ImportError(f"scipy.special.cython_special has no double-precision {name}")  # pragma: no cover


_stdtr = _special("stdtr", 2)
_ndtr = _special("ndtr", 1)
_chdtrc = _special("chdtrc", 2)
#: The last argument of every cython_special function (0: no Python dispatch).
_NO_DISPATCH = 0


_BLOCK = 128  # numpy's PW_BLOCKSIZE


@nb.njit(cache=True, error_model="numpy", inline="always")
def _psum_block(a, start, n):
    """numpy's pairwise sum of a[start:start + n] for n ≤ 128 (one block: eight accumulators)."""
    if n < 8:
        res = -0.0
        for i in range(start, start + n):
            res += a[i]
        return res
    r0 = a[start]
    r1 = a[start + 1]
    r2 = a[start + 2]
    r3 = a[start + 3]
    r4 = a[start + 4]
    r5 = a[start + 5]
    r6 = a[start + 6]
    r7 = a[start + 7]
    i = 8
    while i < n - (n % 8):
        r0 += a[start + i]
        r1 += a[start + i + 1]
        r2 += a[start + i + 2]
        r3 += a[start + i + 3]
        r4 += a[start + i + 4]
        r5 += a[start + i + 5]
        r6 += a[start + i + 6]
        r7 += a[start + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[start + i]
        i += 1
    return res


@nb.njit(cache=True, error_model="numpy", inline="always")
def _psum(a, start, n):
    """Sum of a[start:start + n] in the order of numpy's pairwise summation (its float64 add.reduce).

    Above 128 terms numpy splits the range at n2 = n//2 − (n//2) mod 8 and adds the two halves'
    sums; the split is followed here with an explicit stack (numba cannot cache recursion).
    """
    if n <= _BLOCK:
        return _psum_block(a, start, n)
    depth = 128
    starts = np.empty(depth, dtype=np.int64)
    sizes = np.empty(depth, dtype=np.int64)
    expanded = np.zeros(depth, dtype=np.bool_)
    values = np.empty(depth)
    top = 0
    nvals = 0
    starts[0] = start
    sizes[0] = n
    while top >= 0:
        s0 = starts[top]
        m = sizes[top]
        if m <= _BLOCK:
            values[nvals] = _psum_block(a, s0, m)
            nvals += 1
            top -= 1
        elif expanded[top]:
            values[nvals - 2] = values[nvals - 2] + values[nvals - 1]
            nvals -= 1
            expanded[top] = False
            top -= 1
        else:
            expanded[top] = True
            n2 = m // 2
            n2 -= n2 % 8
            starts[top + 1] = s0 + n2
            sizes[top + 1] = m - n2
            expanded[top + 1] = False
            starts[top + 2] = s0
            sizes[top + 2] = n2
            expanded[top + 2] = False
            top += 2
    return values[0]


@nb.njit(cache=True, error_model="numpy", inline="always")
def _wmean(y, w, t1, k):
    """Σw / and Σwy/Σw with w already in ``w``: (sw, mu)."""
    for j in range(k):
        t1[j] = w[j] * y[j]
    sw = _psum(w, 0, k)
    return sw, _psum(t1, 0, k) / sw


@nb.njit(cache=True, error_model="numpy")
def _closed_form(code, y, v, k, w, t1):
    """DL, HE, HS or SJ τ² (estimators._dl/_he/_hs/_sj, one row)."""
    if code == 1 or code == 3:  # DL, HS
        for j in range(k):
            w[j] = 1.0 / v[j]
        sw, mu = _wmean(y, w, t1, k)
        for j in range(k):
            t1[j] = w[j] * (y[j] - mu) ** 2
        q = _psum(t1, 0, k)
        if code == 3:
            return max(0.0, (q - k) / sw)
        for j in range(k):
            t1[j] = w[j] ** 2
        return max(0.0, (q - (k - 1)) / (sw - _psum(t1, 0, k) / sw))
    ybar = _psum(y, 0, k) / k
    for j in range(k):
        t1[j] = (y[j] - ybar) ** 2
    ss = _psum(t1, 0, k)
    if code == 2:  # HE
        return max(0.0, ss / (k - 1) - _psum(v, 0, k) / k)
    tau0 = ss / k  # SJ
    for j in range(k):
        w[j] = 1.0 / (v[j] + tau0)
    sw, mu = _wmean(y, w, t1, k)
    for j in range(k):
        t1[j] = w[j] * (y[j] - mu) ** 2
    return tau0 * _psum(t1, 0, k) / (k - 1)


_inline = nb.njit(cache=True, error_model="numpy", inline="always")


@_inline
def _fixed_effect_q(y, v, k, w, t1, t2):
    """Cochran's Q with its p-value, Σw and Σw² of the fixed-effect weights 1/vᵢ (numpy's order)."""
    for j in range(k):
        w[j] = 1.0 / v[j]
    sw_fe, mu_fe = _wmean(y, w, t1, k)
    for j in range(k):
        t1[j] = w[j] * (y[j] - mu_fe) ** 2
        t2[j] = w[j] ** 2
    q = _psum(t1, 0, k) if k else np.nan
    sw2_fe = _psum(t2, 0, k)
    df = k - 1
    q_p = _chdtrc(float(df), q, _NO_DISPATCH) if df >= 1 else np.nan
    return q, q_p, sw_fe, sw2_fe


@_inline
def _row_tau2(code, y, v, X, k, w, t1, tol, maxiter, sw_, se_, mats, ev, cells, roots, pts, res):
    """τ² of one row: 0 (FE, one study), closed form (DL, HE, HS, SJ) or the one solver (REML, ML,
    PM, EB). Returns (τ², converged, iterations, number of local maxima)."""
    if code == 0 or k < 2:
        return 0.0, True, 0, 0
    if code < 5:
        return _closed_form(code, y, v, k, w, t1), True, 0, 0
    eq = solver.REML if code == 5 else (solver.ML if code == 6 else solver.QEQ)
    solver.solve_row(eq, y, v, X, k, 0, k - 1.0, tol, maxiter, sw_, se_, mats, ev, cells, roots, pts, res)
    return res[0], res[1] == 1.0, int(res[2]), int(res[3])


@_inline
def _hartung_knapp(y, w, t1, k, mu, sw, adhoc, tcrit):
    """Hartung–Knapp SE (knha, or adhoc with the floor 1), its t(k − 1) test and critical value."""
    df = k - 1
    for j in range(k):
        t1[j] = w[j] * (y[j] - mu) ** 2
    s2w = _psum(t1, 0, k) / df if df != 0 else np.nan
    if adhoc:
        s2w = max(1.0, s2w)
    tdf = float(df) if df >= 1 else np.nan
    se = math.sqrt(s2w / sw) if df >= 1 else np.nan
    stat = mu / se
    p = 2.0 * _stdtr(tdf, -abs(stat), _NO_DISPATCH)
    crit = tcrit[df] if df >= 1 else np.nan
    return se, tdf, stat, p, crit


@_inline
def _percent_weights(mask, i, kmax, w, sw, weights):
    """Row ``i`` of ``weights``: 100·wⱼ/Σw at the row's studies, NaN elsewhere."""
    jj = 0
    for j in range(kmax):
        if mask[i, j]:
            weights[i, j] = 100.0 * w[jj] / sw
            jj += 1
        else:
            weights[i, j] = np.nan


@nb.njit(cache=True, error_model="numpy", parallel=True)
def fit_rows(
    yi,
    vi,
    mask,
    code,
    hk,
    adhoc,
    zcrit,
    tcrit,
    pcrit,
    tol,
    maxiter,
    nblocks,
    out,
    conv,
    iters,
    nmax,
    weights,
):
    """Fit every row of ``yi``/``vi`` (n, kmax) over the studies where ``mask`` is True.

    ``tcrit[df]``: t critical value of the CI with df degrees of freedom (NaN at df = 0);
    ``pcrit[k]``: critical value of the prediction interval for k studies (NaN where undefined).
    ``out`` (16, n) receives k, estimate, se, statistic, df, p, ci_lower, ci_upper, tau2, i2, h2,
    q, q_df, q_p, pi_lower, pi_upper; ``conv``, ``iters``, ``nmax`` (n,) convergence, iterations
    and the number of local maxima of the likelihood (ML, REML);
    ``weights`` (n, kmax) percent weights when it has n rows (pass a (0, kmax) array to skip).
    The rows are split into ``nblocks`` blocks of consecutive rows, fitted in parallel.
    """
    n, kmax = yi.shape
    want_weights = weights.shape[0] == n
    for b in nb.prange(nblocks):
        y = np.empty(kmax)
        v = np.empty(kmax)
        w = np.empty(kmax)
        t1 = np.empty(kmax)
        t2 = np.empty(kmax)
        X = np.empty((kmax, 1))
        X3 = np.empty((1, 1, 1))
        sw_, se_, mats, ev, cells, roots, pts, res = solver.workspace(kmax, 0)
        start = b * n // nblocks
        stop = (b + 1) * n // nblocks
        for i in range(start, stop):
            k = solver.compact_row(yi, vi, mask, X3, 0, i, y, v, X)
            df = k - 1
            q, q_p, sw_fe, sw2_fe = _fixed_effect_q(y, v, k, w, t1, t2)
            tau2, converged, it, nm = _row_tau2(
                code, y, v, X, k, w, t1, tol, maxiter, sw_, se_, mats, ev, cells, roots, pts, res
            )
            for j in range(k):
                w[j] = 1.0 / (v[j] + tau2)
            sw, mu = _wmean(y, w, t1, k)
            se = math.sqrt(1.0 / sw)
            if hk and k >= 2:
                se, tdf, stat, p, crit = _hartung_knapp(y, w, t1, k, mu, sw, adhoc, tcrit)
            else:
                tdf = np.nan
                stat = mu / se
                p = 2.0 * _ndtr(-abs(stat), _NO_DISPATCH)
                crit = zcrit
            if code == 0:
                if df >= 1:
                    i2 = (max(0.0, (q - df) / q) if q > 0 else 0.0) * 100
                    h2 = q / df
                else:
                    i2 = np.nan
                    h2 = np.nan
                tau2_out = np.nan
                pi_lo = np.nan
                pi_hi = np.nan
            else:
                s2 = df * sw_fe / (sw_fe**2 - sw2_fe)
                tau2_out = tau2 if k >= 2 else np.nan
                i2 = 100.0 * tau2_out / (tau2_out + s2)
                h2 = (tau2_out + s2) / s2
                half = pcrit[k] * math.sqrt(se**2 + tau2_out)
                pi_lo = mu - half
                pi_hi = mu + half
            out[0, i] = k
            out[1, i] = mu
            out[2, i] = se
            out[3, i] = stat
            out[4, i] = tdf
            out[5, i] = p
            out[6, i] = mu - crit * se
            out[7, i] = mu + crit * se
            out[8, i] = tau2_out
            out[9, i] = i2
            out[10, i] = h2
            out[11, i] = q
            out[12, i] = df
            out[13, i] = q_p
            out[14, i] = pi_lo
            out[15, i] = pi_hi
            conv[i] = converged
            iters[i] = it
            nmax[i] = nm
            if want_weights:
                _percent_weights(mask, i, kmax, w, sw, weights)
