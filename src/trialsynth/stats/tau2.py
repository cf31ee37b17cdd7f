"""The τ² solver: the global maximum of the (restricted) likelihood, and the roots of Q-type equations.

One algorithm, written once per row and run over stacked arrays ``(N, k)`` with a mask (a single
fit is N = 1), for every caller: the single fit (:mod:`trialsynth.stats.estimators`), the batch
engine (:mod:`trialsynth.stats.batch` and its compiled kernel) and meta-regression with moderators
(:mod:`trialsynth.stats.regression`, ``X`` given). When numba is installed the same Python functions
are compiled (``numba.njit``) and the rows run in parallel; without it they run as plain Python
(set ``TRIALSYNTH_NO_NUMBA=1`` to force that). There is no second copy.

Model: yᵢ = xᵢ'β + uᵢ + εᵢ, uᵢ ~ N(0, τ²), εᵢ ~ N(0, vᵢ); W = diag(1/(vᵢ + τ²)),
P = W − WX(X'WX)⁻¹X'W (X a column of ones without moderators). With dP/dτ² = −P² (Viechtbauer,
J Educ Behav Stat 2005; Harville 1977):

* ML score (×2):   S(τ²) = y'P²y − tr(W),  S' = −2y'P³y + tr(W²);
* REML score (×2): S(τ²) = y'P²y − tr(P),  S' = −2y'P³y + tr(P²);
* log-likelihood up to a constant: ML −½[Σlog(vᵢ + τ²) + y'Py], REML adds −½ log det(X'WX).

**Why no maximum can be missed.** P is positive semi-definite, so every one of A = y'P²y,
B = tr(W) or tr(P), C = tr(W²) or tr(P²) and D = 2y'P³y is non-increasing in τ²
(dA = −2y'P³y, dtr(P) = −tr(P²), dC = −2tr(W³) or −2tr(P³), dD = −6y'P⁴y, all ≤ 0). Hence on
any interval [c, d]:

    A(d) − B(c) ≤ S(τ²) ≤ A(c) − B(d)   and   S'(τ²) ≤ C(c) − D(d).

A cell is *resolved* when S < 0 throughout, S > 0 throughout, or S' < 0 throughout (S decreasing:
at most one root, a maximum exactly when S(c) > 0 ≥ S(d)). Beyond the bound ``τ²_max`` (see
:func:`_upper`) the score is provably negative. [0, τ²_max] is split (first at the
DerSimonian–Laird estimate, then geometrically) until every cell is resolved; each cell that holds
a maximum is solved by safeguarded Newton (bisection whenever a step leaves the cell). τ² = 0 is a
local maximum when S(0) ≤ 0. The local maxima so found are *all* of them (up to the depth limit
:data:`MAXDEPTH`, reached only where the score touches zero without crossing it), the global one
is the one with the highest (restricted) log-likelihood (the smallest τ² on a tie), and
``n_local_maxima`` says how many there were. The tests' margins (:data:`CERT_MARGIN`) keep a
rounding error from resolving a cell that is not.

Q-type equations (Paule–Mandel/empirical Bayes Q(τ²) = k − p, the Q-profile bounds
Q(τ²) = χ²-quantile): Q(τ²) = y'Py is decreasing and convex, so the root is unique; it is 0 when
Q(0) ≤ target, else bracketed in (0, Q-bound] and found by the same safeguarded Newton.
"""

from __future__ import annotations

import math
import os
import types
from typing import Any

import numpy as np

#: Equation codes.
ML, REML, QEQ = 0, 1, 2
#: Relative tolerance of the Newton solve (as estimators.TOL).
TOL = 1e-13
MAXITER = 200
#: Deepest subdivision of a cell before it is accepted as is (2⁻⁶⁰ of the range).
MAXDEPTH = 60
#: Most cells split per row; a row that needs more is reported as not converged.
MAXSPLITS = 500
#: Relative margin of the certificate tests against rounding.
CERT_MARGIN = 1e-12
#: The first cells around the maximum r found first: r ± DELTA·(r + v_min), or the start when it
#: lies within NEAR·(r + v_min) of r.
DELTA = 0.2
NEAR = 0.5
#: Relative distance within which a root found in a cell is the maximum found first.
SAME = 1e-9
#: Most local maxima kept per row (a k-study likelihood has far fewer in practice).
MAXROOTS = 16

prange: Any  # numba.prange, or range without numba
try:  # pragma: no cover - depends on the environment
    if os.environ.get("TRIALSYNTH_NO_NUMBA") == "1":
        raise ImportError
    import numba as _nb

    def _jit(f):
        return _nb.njit(cache=True, error_model="numpy")(f)

    def _jit_parallel(f):
        return _nb.njit(cache=True, error_model="numpy", parallel=True)(f)

    prange = _nb.prange
    COMPILED = True
except ImportError:  # pragma: no cover

    def _jit(f):
        return f

    _jit_parallel = _jit
    prange = range
    COMPILED = False


# ---------------------------------------------------------------------------------------
# One evaluation at τ² = t.  ev: [t, S, A, B, C, D, Q, trP, Σw]

#: Length of an evaluation record.
NEV = 9


@_jit
def _chol_inverse(M, p, L, Ainv):
    """Inverse of the symmetric positive definite p×p ``M`` into ``Ainv`` (Cholesky); returns log det M."""
    logdet = 0.0
    for i in range(p):
        for j in range(i + 1):
            s = M[i, j]
            for m in range(j):
                s -= L[i, m] * L[j, m]
            if i == j:
                d = math.sqrt(s) if s > 0 else math.nan
                L[i, i] = d
                logdet += 2.0 * math.log(d) if s > 0 else math.nan
            else:
                L[i, j] = s / L[j, j]
    # inverse of L (lower), then Ainv = L⁻ᵀ L⁻¹
    for j in range(p):
        for i in range(p):
            Ainv[i, j] = 0.0
    for j in range(p):
        # solve L z = e_j, store z in column j of Ainv (temporarily as L⁻¹)
        for i in range(p):
            s = 1.0 if i == j else 0.0
            for m in range(i):
                s -= L[i, m] * Ainv[m, j]
            Ainv[i, j] = s / L[i, i]
    # Ainv currently holds L⁻¹; form (L⁻¹)ᵀ L⁻¹ in L (lower part free now) then copy
    for i in range(p):
        for j in range(p):
            s = 0.0
            for m in range(max(i, j), p):
                s += Ainv[m, i] * Ainv[m, j]
            L[i, j] = s
    for i in range(p):
        for j in range(p):
            Ainv[i, j] = L[i, j]
    return logdet


@_jit
def _evaluate(eq, y, v, X, k, p, t, target, ev, w, e, mats):
    """Fill ``ev`` with [t, S, A, B, C, D, Q, tr P, Σw] at τ² = t; returns log det(X'WX) (log Σw without X).

    ``p == 0``: no moderators (X is a column of ones, sums written out). ``mats`` (8, p, p) and
    (further rows) vectors are scratch for the moderator case.
    """
    if p == 0:
        sw = 0.0
        sw2 = 0.0
        sw3 = 0.0
        swy = 0.0
        for j in range(k):
            wj = 1.0 / (v[j] + t)
            w[j] = wj
            sw += wj
            swy += wj * y[j]
            w2 = wj * wj
            sw2 += w2
            sw3 += w2 * wj
        mu = swy / sw
        q = 0.0
        a = 0.0
        s_w2r = 0.0
        s_w3r2 = 0.0
        for j in range(k):
            r = y[j] - mu
            wr = w[j] * r
            q += wr * r
            s_w2r += w[j] * wr
            wr2 = wr * wr
            a += wr2
            s_w3r2 += w[j] * wr2
        yppp = s_w3r2 - s_w2r * s_w2r / sw
        ratio = sw2 / sw
        trp = sw - ratio
        trpp = sw2 - 2.0 * sw3 / sw + ratio * ratio
        logdet = math.log(sw)
    else:
        M = mats[0]
        L = mats[1]
        Ainv = mats[2]
        B2 = mats[3]
        B3 = mats[4]
        vec = mats[5]
        sw = 0.0
        sw2 = 0.0
        for j in range(k):
            wj = 1.0 / (v[j] + t)
            w[j] = wj
            sw += wj
            sw2 += wj * wj
        for i in range(p):
            for m in range(i + 1):
                s1 = 0.0
                s2 = 0.0
                s3 = 0.0
                for j in range(k):
                    xx = X[j, i] * X[j, m]
                    wj = w[j]
                    s1 += wj * xx
                    s2 += wj * wj * xx
                    s3 += wj * wj * wj * xx
                M[i, m] = s1
                M[m, i] = s1
                B2[i, m] = s2
                B2[m, i] = s2
                B3[i, m] = s3
                B3[m, i] = s3
        logdet = _chol_inverse(M, p, L, Ainv)
        # β = Ainv X'Wy (vec[0] = X'Wy, vec[1] = β, vec[2] = X'W²e)
        for i in range(p):
            s = 0.0
            for j in range(k):
                s += X[j, i] * w[j] * y[j]
            vec[0, i] = s
        for i in range(p):
            s = 0.0
            for m in range(p):
                s += Ainv[i, m] * vec[0, m]
            vec[1, i] = s
        q = 0.0
        a = 0.0
        s_w3e2 = 0.0
        for j in range(k):
            f = 0.0
            for i in range(p):
                f += X[j, i] * vec[1, i]
            r = y[j] - f
            e[j] = r
            wr = w[j] * r
            q += wr * r
            wr2 = wr * wr
            a += wr2
            s_w3e2 += w[j] * wr2
        for i in range(p):
            s = 0.0
            for j in range(k):
                s += X[j, i] * w[j] * w[j] * e[j]
            vec[2, i] = s
        gag = 0.0
        for i in range(p):
            for m in range(p):
                gag += vec[2, i] * Ainv[i, m] * vec[2, m]
        yppp = s_w3e2 - gag
        tr_ab2 = 0.0
        tr_ab3 = 0.0
        for i in range(p):
            for m in range(p):
                tr_ab2 += Ainv[i, m] * B2[m, i]
                tr_ab3 += Ainv[i, m] * B3[m, i]
        # AB2 into L
        for i in range(p):
            for m in range(p):
                s = 0.0
                for n in range(p):
                    s += Ainv[i, n] * B2[n, m]
                L[i, m] = s
        tr_ab2ab2 = 0.0
        for i in range(p):
            for m in range(p):
                tr_ab2ab2 += L[i, m] * L[m, i]
        trp = sw - tr_ab2
        trpp = sw2 - 2.0 * tr_ab3 + tr_ab2ab2
    ev[0] = t
    ev[2] = a
    ev[5] = 2.0 * yppp
    ev[6] = q
    ev[7] = trp
    ev[8] = sw
    if eq == ML:
        ev[3] = sw
        ev[4] = sw2
        ev[1] = a - sw
    elif eq == REML:
        ev[3] = trp
        ev[4] = trpp
        ev[1] = a - trp
    else:
        ev[3] = 0.0
        ev[4] = 0.0
        ev[1] = q - target
    return logdet


@_jit
def _slope(eq, ev):
    """Derivative of the equation at the evaluated point: S' = C − D, or −y'P²y for Q − target."""
    if eq == QEQ:
        return -ev[2]
    return ev[4] - ev[5]


@_jit
def _loglik(eq, y, v, X, k, p, t, w, e, mats, ev):
    """(Restricted) log-likelihood at τ² = t up to a constant (module docstring)."""
    logdet = _evaluate(eq, y, v, X, k, p, t, 0.0, ev, w, e, mats)
    s = 0.0
    for j in range(k):
        s += math.log(v[j] + t)
    out = s + ev[6]
    if eq == REML:
        out += logdet
    return -0.5 * out


# ---------------------------------------------------------------------------------------
# Newton in a bracket


@_jit
def _newton(eq, y, v, X, k, p, target, lo, hi, t, f, d, tol, maxiter, w, e, mats, ev, out):
    """Root of a function positive at ``lo`` and not positive at ``hi``, from t ∈ [lo, hi] with value f and
    slope d: safeguarded Newton (the midpoint whenever a step leaves the bracket), until a Newton step
    is below ``tol`` relative to τ² or the bracket is that narrow. out[0] root, out[1] converged
    (1/0), out[2] iterations (steps taken)."""
    it = 0
    for _ in range(maxiter):
        newton = t - f / d if d != 0.0 else math.nan
        bad = not math.isfinite(newton) or newton <= lo or newton >= hi
        new = 0.5 * (lo + hi) if bad else newton
        step = abs(new - t)
        it += 1
        if (not bad and step <= tol * max(t, 1e-300)) or step <= 1e-300:
            # the Newton step is below the tolerance: its end is the root to within tol², taken
            # without another evaluation
            out[0] = new
            out[1] = 1.0
            out[2] = it
            return
        t = new
        _evaluate(eq, y, v, X, k, p, t, target, ev, w, e, mats)
        f = ev[1]
        d = _slope(eq, ev)
        if f > 0:
            lo = t
        if f < 0:
            hi = t
        if f == 0 or hi - lo <= tol * max(t, 1e-300):
            out[0] = t
            out[1] = 1.0
            out[2] = it
            return
    out[0] = t
    out[1] = 0.0
    out[2] = it


# ---------------------------------------------------------------------------------------
# Bounds


@_jit
def _spread(y, v, k, p, e):
    """(D², v_min, v_max): D² = max eᵢ² over the residuals of a fixed fit (the half-range of y
    squared without moderators; the ordinary least squares residuals ``e`` with them)."""
    vmin = v[0]
    vmax = v[0]
    for j in range(1, k):
        vmin = min(vmin, v[j])
        vmax = max(vmax, v[j])
    if p == 0:
        ymin = y[0]
        ymax = y[0]
        for j in range(1, k):
            ymin = min(ymin, y[j])
            ymax = max(ymax, y[j])
        half = 0.5 * (ymax - ymin)
        return half * half, vmin, vmax
    d2 = 0.0
    for j in range(k):
        d2 = max(d2, e[j] * e[j])
    return d2, vmin, vmax


@_jit
def _upper(y, v, k, p, e):
    """τ²_max beyond which the (RE)ML score is negative.

    y'Py = min_β Σw(y − Xβ)² ≤ D²·Σw (D from :func:`_spread`); P ≼ W so y'P²y ≤ y'Py/(v_min + τ²)
    and tr(X'WX)⁻¹X'W²X ≤ p/(v_min + τ²), i.e. tr(P) ≥ Σw − p/(v_min + τ²); with
    Σw ≥ k/(v_max + τ²) the REML score is negative once τ²(k − p) > p·v_max + k(D² − v_min), the
    ML score once τ² > D² − v_min (p = 1 without moderators).
    """
    d2, vmin, vmax = _spread(y, v, k, p, e)
    pp = float(max(p, 1))
    a = d2 - vmin
    b = (pp * vmax + k * a) / (k - pp)
    return max(a, b, 0.0)


@_jit
def _ols_residuals(y, X, k, p, e, w, mats):
    """Ordinary least squares residuals into ``e`` (moderator case), for the bound of :func:`_upper`."""
    for j in range(k):
        w[j] = 1.0
    M = mats[0]
    for i in range(p):
        for m in range(i + 1):
            s = 0.0
            for j in range(k):
                s += X[j, i] * X[j, m]
            M[i, m] = s
            M[m, i] = s
    _chol_inverse(M, p, mats[1], mats[2])
    Ainv = mats[2]
    for i in range(p):
        s = 0.0
        for j in range(k):
            s += X[j, i] * y[j]
        mats[5, 0, i] = s
    for i in range(p):
        s = 0.0
        for m in range(p):
            s += Ainv[i, m] * mats[5, 0, m]
        mats[5, 1, i] = s
    for j in range(k):
        f = 0.0
        for i in range(p):
            f += X[j, i] * mats[5, 1, i]
        e[j] = y[j] - f


# ---------------------------------------------------------------------------------------
# One row


@_jit
def _resolved(c, d, margin):
    """What the bounds of the module docstring prove about the cell [c, d] (c, d: ev arrays).

    0: nothing; 1: no maximum inside (S of one sign, or S increasing); 2: S strictly decreasing.
    A and B are convex and decreasing, with slopes −D and −C, so between the chord (above) and
    the larger tangent (below) of each: S ≤ chord_A − tangent_B and S ≥ tangent_A − chord_B, two
    piecewise-linear bounds whose extremes lie at c, d or where the two tangents cross.
    """
    t0 = c[0]
    t1 = d[0]
    width = t1 - t0
    scale = margin * (c[2] + c[3])
    # upper bound of S at the crossing of B's tangents
    u = _crossing(c[3], c[4], t0, d[3], d[4], t1)
    chord = c[2] + (d[2] - c[2]) * ((u - t0) / width)
    tang = max(c[3] - c[4] * (u - t0), d[3] - d[4] * (u - t1))
    upper = max(c[1], d[1], chord - tang)
    if upper < -scale:
        return 1
    u = _crossing(c[2], c[5], t0, d[2], d[5], t1)
    chord = c[3] + (d[3] - c[3]) * ((u - t0) / width)
    tang = max(c[2] - c[5] * (u - t0), d[2] - d[5] * (u - t1))
    lower = min(c[1], d[1], tang - chord)
    if lower > scale:
        return 1
    slope = c[4] - d[5]  # C(c) − D(d) ≥ S'
    if slope < -margin * (c[4] + d[5]):
        return 2
    slope = d[4] - c[5]  # C(d) − D(c) ≤ S': S increasing, at most one root, a minimum
    if slope > margin * (d[4] + c[5]):
        return 1
    return 0


@_jit
def _crossing(f0, g0, t0, f1, g1, t1):
    """Where the tangents f0 − g0(u − t0) and f1 − g1(u − t1) of a convex decreasing function cross,
    kept inside [t0, t1]."""
    den = g0 - g1
    if den > 0:
        u = (f0 - f1 + g0 * t0 - g1 * t1) / den
        if t0 <= u <= t1:
            return u
    return 0.5 * (t0 + t1)


@_jit
def _solve_q(y, v, X, k, p, target, tol, maxiter, w, e, mats, ev, out):
    """Root of Q(τ²) = target (0 when Q(0) ≤ target): out = [τ², converged, iterations, 0]."""
    _evaluate(QEQ, y, v, X, k, p, 0.0, target, ev, w, e, mats)
    out[3] = 0.0
    if not ev[1] > 0:
        out[0] = 0.0
        out[1] = 1.0
        out[2] = 0.0
        return
    f0 = ev[1]
    d0 = _slope(QEQ, ev)
    # Q(τ²) ≤ D²Σw ≤ D²k/(v_min + τ²) < target beyond hi (D from _spread).
    if p > 0:
        _ols_residuals(y, X, k, p, e, w, mats)
    d2, vmin, _ = _spread(y, v, k, p, e)
    hi = max(d2 * k / target - vmin, 0.0) * (1.0 + 1e-9) + 1e-300
    _newton(QEQ, y, v, X, k, p, target, 0.0, hi, 0.0, f0, d0, tol, maxiter, w, e, mats, ev, out)


@_jit
def _tail_clear(eq, c, vmin, p):
    """Whether the score is negative at every τ² > c (c: an ev array): y'P²y ≤ y'Py/(v_min + τ²) ≤
    Q(c)/(v_min + τ²) and tr(P) ≥ Σw − p/(v_min + τ²), so S < 0 on (c, ∞) when
    Q(c) + p < (v_min + τ²)Σw(τ²) for all τ² ≥ c (ML: without p); the right side increases with τ²
    (each (v_min + τ²)/(vᵢ + τ²) does), so τ² = c decides."""
    extra = float(max(p, 1)) if eq == REML else 0.0
    return c[6] + extra < (vmin + c[0]) * c[8] * (1.0 - CERT_MARGIN)


@_jit
def _tail(eq, y, v, X, k, p, c, vmin, top, w, e, mats, pts, cells, n):
    """Push cells from c outwards (each 2.5 times as far from 0, the first to 2·v_min when c = 0)
    until the tail beyond the last point is clear (:func:`_tail_clear`) or τ²_max is reached."""
    slot = 5  # pts[5] and pts[6] in turn (a pushed cell is a copy)
    while not _tail_clear(eq, c, vmin, p) and c[0] < top:
        nxt = min(2.5 * c[0] if c[0] > 0 else 2.0 * vmin, top)
        if nxt <= c[0]:
            break
        _evaluate(eq, y, v, X, k, p, nxt, 0.0, pts[slot], w, e, mats)
        n = _push(cells, n, c, pts[slot], 0.0)
        c = pts[slot]
        slot = 11 - slot
    return n


@_jit
def _push(cells, n, c, d, depth):
    for m in range(NEV):
        cells[n, m] = c[m]
        cells[n, NEV + m] = d[m]
    cells[n, 2 * NEV] = depth
    return n + 1


@_jit
def _solve_likelihood(eq, y, v, X, k, p, tol, maxiter, w, e, mats, ev, cells, roots, pts, out):
    """Global maximiser of the (restricted) likelihood over τ² ≥ 0 (module docstring).

    out = [τ², converged, iterations (Newton steps of the chosen maximum), number of local maxima].
    First a safeguarded Newton solve from the DerSimonian–Laird estimate (when S(0) > 0) finds one
    maximum r; then [0, τ²_max] is certified cell by cell, starting from the cells
    [0, r − δ], [r − δ, r + δ], [r + δ, τ²_max] (δ = (r + v_min)/10).
    ``cells`` (MAXDEPTH + 4, 2·NEV + 1): stack of cells [ev(c), ev(d), depth];
    ``roots`` (MAXROOTS, 3): maxima found [τ², converged, iterations]; ``pts`` (8, NEV): evaluations.
    """
    if p > 0:
        _ols_residuals(y, X, k, p, e, w, mats)
    top = _upper(y, v, k, p, e)
    top = top * (1.0 + 1e-9) + 1e-300
    _, vmin, _ = _spread(y, v, k, p, e)
    p0 = pts[0]
    ptop = pts[1]
    _evaluate(eq, y, v, X, k, p, 0.0, 0.0, p0, w, e, mats)
    # DerSimonian–Laird (with moderators, the method of moments): the start and first split.
    dl = (p0[6] - (k - max(p, 1))) / p0[7]
    boundary = not p0[1] > 0
    nroots = 0
    known = -1.0
    n = 0
    if not boundary:
        lo = 0.0
        hi = top
        t = 0.0
        f = p0[1]
        dd = _slope(eq, p0)
        pdl = pts[4]
        if 0.0 < dl < top:
            _evaluate(eq, y, v, X, k, p, dl, 0.0, pdl, w, e, mats)
            t = dl
            f = pdl[1]
            dd = _slope(eq, pdl)
            if f > 0:
                lo = dl
            else:
                hi = dl
        if f == 0:
            out[0] = t
            out[1] = 1.0
            out[2] = 1.0
        else:
            _newton(eq, y, v, X, k, p, 0.0, lo, hi, t, f, dd, tol, maxiter, w, e, mats, ev, out)
        known = out[0]
        roots[0, 0] = out[0]
        roots[0, 1] = out[1]
        roots[0, 2] = out[2]
        # cells [0, r − δ], [r − δ, r + δ], [r + δ, τ²_max]; the start (DL) replaces r ∓ δ when near
        near = NEAR * (known + vmin)
        delta = DELTA * (known + vmin)
        left = p0
        if 0.0 < dl < known and known - dl <= near:
            left = pdl
        elif known - delta > 0:
            _evaluate(eq, y, v, X, k, p, known - delta, 0.0, pts[2], w, e, mats)
            left = pts[2]
        if left[0] > 0:
            n = _push(cells, n, p0, left, 0.0)
        right = ptop
        if known < dl < top and dl - known <= near:
            right = pdl
        elif known + delta < top:
            _evaluate(eq, y, v, X, k, p, known + delta, 0.0, pts[3], w, e, mats)
            right = pts[3]
        else:
            _evaluate(eq, y, v, X, k, p, top, 0.0, ptop, w, e, mats)
        n = _push(cells, n, left, right, 0.0)
        n = _tail(eq, y, v, X, k, p, right, vmin, top, w, e, mats, pts, cells, n)
    else:
        n = _tail(eq, y, v, X, k, p, p0, vmin, top, w, e, mats, pts, cells, n)
    first = boundary
    accepted = True
    splits = 0
    while n > 0:
        n -= 1
        c = cells[n, 0:NEV]
        d = cells[n, NEV : 2 * NEV]
        depth = cells[n, 2 * NEV]
        state = _resolved(c, d, CERT_MARGIN)
        if state == 0 and (depth >= MAXDEPTH or splits >= MAXSPLITS):
            accepted = False
            state = 2
        if state == 1:
            continue
        if state == 2:
            if c[1] > 0 and not d[1] > 0:
                if c[0] * (1.0 - SAME) <= known <= d[0] * (1.0 + SAME):
                    # the maximum found first is the only one in this cell (its Newton solve
                    # stopped within TOL of the root, so it may sit a hair outside the cell)
                    continue
                if nroots + 1 >= MAXROOTS:
                    accepted = False
                    continue
                if d[1] == 0:
                    out[0] = d[0]
                    out[1] = 1.0
                    out[2] = 0.0
                else:
                    sc = _slope(eq, c)
                    sd = _slope(eq, d)
                    stc = abs(c[1] / sc) if sc != 0 else math.inf
                    std = abs(d[1] / sd) if sd != 0 else math.inf
                    if std < stc:
                        _newton(
                            eq,
                            y,
                            v,
                            X,
                            k,
                            p,
                            0.0,
                            c[0],
                            d[0],
                            d[0],
                            d[1],
                            sd,
                            tol,
                            maxiter,
                            w,
                            e,
                            mats,
                            ev,
                            out,
                        )
                    else:
                        _newton(
                            eq,
                            y,
                            v,
                            X,
                            k,
                            p,
                            0.0,
                            c[0],
                            d[0],
                            c[0],
                            c[1],
                            sc,
                            tol,
                            maxiter,
                            w,
                            e,
                            mats,
                            ev,
                            out,
                        )
                nroots += 1
                roots[nroots, 0] = out[0]
                roots[nroots, 1] = out[1]
                roots[nroots, 2] = out[2]
            continue
        # split
        a = c[0]
        b = d[0]
        if first and a < dl < b:
            mid = dl
        elif a == 0.0:
            mid = b * (0.4 if 0.0 < known and b <= known else 0.125)
        elif b > 4.0 * a:
            mid = math.sqrt(a * b)
            # next to the maximum found first the bounds need short cells: split near it
            if known > 0.0 and b <= known:
                mid = max(mid, 0.4 * b)
            elif 0.0 < known <= a:
                mid = min(mid, 2.5 * a)
        else:
            mid = 0.5 * (a + b)
        first = False
        splits += 1
        if not (a < mid < b):
            mid = 0.5 * (a + b)
            if not (a < mid < b):  # a cell no wider than the rounding of its ends
                accepted = False
                continue
        _evaluate(eq, y, v, X, k, p, mid, 0.0, ev, w, e, mats)
        # [mid, b] into slot n + 1 first (it reads d, a view of slot n), then [a, mid] into slot n
        for m in range(NEV):
            cells[n + 1, m] = ev[m]
            cells[n + 1, NEV + m] = d[m]
        for m in range(NEV):
            cells[n, NEV + m] = ev[m]
        cells[n, 2 * NEV] = depth + 1
        cells[n + 1, 2 * NEV] = depth + 1
        n += 2
    # roots[0] holds the first maximum (if S(0) > 0), roots[1:nroots + 1] the others
    first_root = 0 if known >= 0 else 1
    last = nroots + 1
    out[3] = (last - first_root) + (1 if boundary else 0)
    best = -math.inf
    besti = -1
    if out[3] == 1:
        besti = first_root if first_root < last else -1
    else:
        if boundary:
            best = _loglik(eq, y, v, X, k, p, 0.0, w, e, mats, ev)
        for i in range(first_root, last):
            ll = _loglik(eq, y, v, X, k, p, roots[i, 0], w, e, mats, ev)
            if ll > best:
                best = ll
                besti = i
    if besti < 0:
        out[0] = 0.0
        out[1] = 1.0
        out[2] = 0.0
    else:
        out[0] = roots[besti, 0]
        out[1] = roots[besti, 1]
        out[2] = roots[besti, 2]
    if not accepted:
        out[1] = 0.0


# ---------------------------------------------------------------------------------------
# Rows and stacks


@_jit
def workspace(kmax, p):
    """Scratch arrays for :func:`solve_row`: (w, e, mats, ev, cells, roots, pts, out)."""
    size = max(p, 3)
    return (
        np.empty(kmax),
        np.empty(kmax),
        np.empty((6, size, size)),
        np.empty(NEV),
        np.empty((MAXDEPTH + 4, 2 * NEV + 1)),
        np.empty((MAXROOTS, 3)),
        np.empty((8, NEV)),
        np.empty(4),
    )


@_jit
def solve_row(eq, y, v, X, k, p, target, tol, maxiter, w, e, mats, ev, cells, roots, pts, out):
    """τ² of one row (its k studies first in ``y``, ``v``, ``X``): ``out`` = [τ², converged (1/0),
    iterations, n_local_maxima]. ``eq``: ML, REML or QEQ (Q(τ²) = ``target``); ``p == 0``: no
    moderators. The other arrays are scratch from :func:`workspace`."""
    if eq == QEQ:
        _solve_q(y, v, X, k, p, target, tol, maxiter, w, e, mats, ev, out)
    else:
        _solve_likelihood(eq, y, v, X, k, p, tol, maxiter, w, e, mats, ev, cells, roots, pts, out)


@_jit
def compact_row(yi, vi, mask, Xi, p, i, y, v, X):
    """Copy row i's studies (where ``mask`` is True) to the front of ``y``, ``v`` (and ``X`` when
    p > 0); returns their number k."""
    k = 0
    for j in range(yi.shape[1]):
        if mask[i, j]:
            y[k] = yi[i, j]
            v[k] = vi[i, j]
            for m in range(p):
                X[k, m] = Xi[i, j, m]
            k += 1
    return k


def _stack(eq, yi, vi, mask, Xi, p, targets, tol, maxiter, nblocks, result):
    """Every row of ``yi``/``vi`` (n, kmax) over the studies where ``mask`` is True, into ``result``
    (n, 4); rows with fewer than p + 2 studies (2 without moderators) are left NaN."""
    n, kmax = yi.shape
    for b in prange(nblocks):
        y = np.empty(kmax)
        v = np.empty(kmax)
        X = np.empty((kmax, max(p, 1)))
        w, e, mats, ev, cells, roots, pts, out = workspace(kmax, p)
        start = b * n // nblocks
        stop = (b + 1) * n // nblocks
        for i in range(start, stop):
            k = compact_row(yi, vi, mask, Xi, p, i, y, v, X)
            if k < max(p, 1) + 1:
                for m in range(4):
                    result[i, m] = math.nan
                continue
            solve_row(eq, y, v, X, k, p, targets[i], tol, maxiter, w, e, mats, ev, cells, roots, pts, out)
            for m in range(4):
                result[i, m] = out[m]


def _named(f, name):
    """``f`` under another name (the same code): numba caches compiled code by function name."""
    g = types.FunctionType(f.__code__, f.__globals__, name, f.__defaults__, f.__closure__)
    g.__qualname__ = name
    return g


#: The same function compiled twice: in parallel over blocks of rows (large stacks), and serially
#: (a few rows, where starting threads costs more than it saves). Plain Python without numba.
_solve_stack_parallel = _jit_parallel(_stack)
_solve_stack_serial = _jit(_named(_stack, "_stack_serial"))
#: Rows from which the parallel version is used.
PARALLEL_ROWS = 2048


def solve(yi, vi, mask, *, method: str, X=None, target=None, tol: float = TOL, maxiter: int = MAXITER):
    """τ² for each row of a stack: ``(tau2, converged, iterations, n_local_maxima)`` of the batch shape.

    ``yi``, ``vi``, ``mask``: ``(..., k)`` (padding: mask False); ``X``: ``(..., k, p)`` moderators
    (None: intercept only); ``method``: "ML", "REML" (global maximum of the likelihood) or "Q"
    (root of Q(τ²) = ``target``, an array of the batch shape). Rows with too few studies
    (k ≤ p, k < 2) give NaN τ² (converged, 0 iterations, 0 maxima).
    """
    yi = np.asarray(yi, dtype=float)
    shape = yi.shape[:-1]
    kmax = yi.shape[-1]
    eq = {"ML": ML, "REML": REML, "Q": QEQ}[method]
    y2 = np.ascontiguousarray(np.where(mask, yi, 0.0).reshape(-1, kmax))
    v2 = np.ascontiguousarray(np.where(mask, np.asarray(vi, dtype=float), 1.0).reshape(-1, kmax))
    m2 = np.ascontiguousarray(np.asarray(mask, dtype=bool).reshape(-1, kmax))
    n = y2.shape[0]
    if X is None:
        p = 0
        X3 = np.zeros((1, 1, 1))
    else:
        X = np.asarray(X, dtype=float)
        p = X.shape[-1]
        X3 = np.ascontiguousarray(np.broadcast_to(X, (*shape, kmax, p)).reshape(n, kmax, p))
    t = np.zeros(n) if target is None else np.broadcast_to(np.asarray(target, dtype=float), shape).reshape(n)
    result = np.empty((n, 4))
    if n:
        t = np.ascontiguousarray(t)
        if COMPILED and n >= PARALLEL_ROWS:
            nblocks = min(n, 64 * _nb.get_num_threads())
            _solve_stack_parallel(eq, y2, v2, m2, X3, p, t, tol, maxiter, nblocks, result)
        else:
            _solve_stack_serial(eq, y2, v2, m2, X3, p, t, tol, maxiter, 1, result)
    tau2 = result[:, 0].reshape(shape)
    short = np.isnan(result[:, 1]).reshape(shape)
    conv = np.where(short, True, result[:, 1] == 1.0).reshape(shape)
    iters = np.where(short, 0, result[:, 2]).astype(np.int64).reshape(shape)
    nmax = np.where(short, 0, result[:, 3]).astype(np.int64).reshape(shape)
    return tau2, conv, iters, nmax
