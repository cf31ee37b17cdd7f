"""Batch engine: fit many inverse-variance meta-analyses at once, for simulation studies.

:func:`fit_batch` takes ``yi`` and ``vi`` of shape ``(..., k)`` (any measure, on its analysis
scale) with a boolean ``mask`` for unequal numbers of studies (False = padding), and returns a
:class:`BatchFit` of arrays of the batch shape ``(...)``: every field that the single fit
(:func:`trialsynth.stats.meta.meta_analysis`) reports, including convergence and iterations of the τ²
estimator. Every τ² estimator (FE, DL, REML, ML, PM, EB, HE, SJ, HS) with or without
Hartung–Knapp (``hk_variant`` "knha" or "adhoc"), at any level and prediction-interval type.

Engines:

* ``"compiled"`` (the default when numba is installed, ``pip install 'trialsynth[fast]'``): a
  numba kernel, parallel over fits, that covers every estimator and option above. It repeats the
  numpy engine's arithmetic row by row (same estimating equations, same safeguarded Newton
  iteration, bracket, start and stopping rule; the same scipy C functions for tail areas and
  quantiles), so it agrees with a one-at-a-time fit to a few units in the last place; only the
  order of additions inside a sum differs.
* ``"numpy"``: :func:`trialsynth.stats.pooling.fit_arrays` over the whole stack (what the single fit
  uses). The fallback without numba, and the engine for the Q-profile τ² interval
  (``tau2_ci=True``), which the compiled kernel does not compute.

Formulas and conventions are those of :mod:`trialsynth.stats.pooling` and :mod:`trialsynth.stats.estimators`
(metafor's). As in the single fit, a meta-analysis of one study reports that study's estimate
with a z interval (no Hartung–Knapp), and NaN for everything that needs two studies (τ², I²,
H², the Q p-value, the prediction interval); a row with no study gets NaN throughout.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from trialsynth._core.dist import crit_value
from trialsynth._core.errors import InputError
from trialsynth.stats.estimators import MAXITER, TOL
from trialsynth.stats.meta import _check_options
from trialsynth.stats.pooling import IV_METHODS, fit_arrays, one_study_convention

ENGINES = ("auto", "compiled", "numpy")

#: Meta-analyses per chunk when ``fit_batch`` reports progress (``progress=True``).
CHUNK_SIZE = 100_000
#: The smallest ``chunk_size`` (see ``_fit_in_chunks``).
MIN_CHUNK_SIZE = 1_000

#: numba's default threading layer (workqueue) must not be entered from two threads at once
#: (e.g. a Dask worker running two tasks): calls of the compiled kernel take turns.
_KERNEL_LOCK = threading.Lock()

#: The scalar fields of a fit, in the order the compiled kernel writes them.
_KERNEL_FIELDS = (
    "k",
    "estimate",
    "se",
    "statistic",
    "df",
    "p_value",
    "ci_lower",
    "ci_upper",
    "tau2",
    "i2",
    "h2",
    "q",
    "q_df",
    "q_p_value",
    "pi_lower",
    "pi_upper",
)


def compiled_available() -> bool:
    """Whether numba is installed, so that the compiled engine can run."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class BatchFit:
    """Arrays of the batch shape, one element per meta-analysis (never rounded).

    ``k`` studies pooled; ``estimate``, ``se``, ``statistic`` (z, or t under Hartung–Knapp) with
    ``df`` (NaN for z), ``p_value``, ``ci_lower``, ``ci_upper``; ``tau2`` (NaN for FE), ``i2``
    (percent), ``h2``; Cochran's ``q`` with ``q_df`` and ``q_p_value``; ``pi_lower``, ``pi_upper``
    (prediction interval, NaN for FE); ``converged`` and ``iterations`` of the τ² estimator;
    ``n_local_maxima``: local maxima of the ML/REML likelihood over τ² ≥ 0 (0 for the others);
    ``weights`` (percent, shape ``(..., k)``, NaN at padding) when asked for;
    ``tau2_ci_lower``, ``tau2_ci_upper`` (Q-profile) when asked for. ``engine`` is the engine
    that ran.
    """

    method: str
    hk: bool
    hk_variant: str
    level: float
    pi_type: str
    engine: str
    k: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    df: np.ndarray
    p_value: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    tau2: np.ndarray
    i2: np.ndarray
    h2: np.ndarray
    q: np.ndarray
    q_df: np.ndarray
    q_p_value: np.ndarray
    pi_lower: np.ndarray
    pi_upper: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    n_local_maxima: np.ndarray
    weights: np.ndarray | None = None
    tau2_ci_lower: np.ndarray | None = None
    tau2_ci_upper: np.ndarray | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        """The array fields by name (those computed; options are left out)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                out[f.name] = value
        return out


def _check(yi, vi, mask, method, hk_variant, level, pi_type, engine):
    if method not in IV_METHODS:
        raise InputError(f"unknown method '{method}'; choose one of {', '.join(IV_METHODS)}")
    _check_options("MD", method, hk_variant, level, pi_type, "metafor")
    if engine not in ENGINES:
        raise InputError(f"unknown engine '{engine}'; choose one of {', '.join(ENGINES)}")
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    if yi.ndim < 1 or yi.shape != vi.shape:
        raise InputError(f"yi and vi must have the same shape (..., k); got {yi.shape} and {vi.shape}")
    if mask is None:
        mask = np.isfinite(yi) & np.isfinite(vi)
    else:
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != yi.shape:
            raise InputError(f"mask must be a boolean array of shape {yi.shape}")
        bad = mask & ~(np.isfinite(yi) & np.isfinite(vi))
        if bad.any():
            where = tuple(int(i[0]) for i in np.nonzero(bad))
            raise InputError(f"yi or vi is not finite where the mask includes a study (index {where})")
    if (mask & ~(vi > 0)).any():
        where = tuple(int(i[0]) for i in np.nonzero(mask & ~(vi > 0)))
        raise InputError(f"every included sampling variance must be positive (index {where})")
    return yi, vi, mask


def fit_batch(
    yi,
    vi,
    mask=None,
    *,
    method: str = "REML",
    hk: bool = False,
    hk_variant: str = "knha",
    level: float = 95.0,
    pi_type: str = "default",
    weights: bool = False,
    tau2_ci: bool = False,
    engine: str = "auto",
    progress: bool = False,
    chunk_size: int = CHUNK_SIZE,
) -> BatchFit:
    """Fit one meta-analysis per row of ``yi``, ``vi`` (shape ``(..., k)``); see the module docstring.

    ``mask`` (boolean, same shape) marks the studies taking part (default: where yi and vi are
    finite). ``level`` in percent (95) or as a fraction (0.95). ``weights=True`` adds the per-study
    weights; ``tau2_ci=True`` adds the Q-profile τ² interval (and its convergence is folded into
    ``converged``, as in the single fit). ``engine``: "auto" (compiled when numba is installed),
    "compiled" or "numpy".

    ``progress=True`` fits the meta-analyses in chunks of ``chunk_size`` and reports each finished
    chunk (its number of fits) as a step of the task "Fits" of :mod:`trialsynth._core.progress`,
    drawn as a progress bar on a terminal by the command line (or :func:`trialsynth.fit_batch`).
    Every row is fitted on its own, so the chunks give the numbers of one call over the whole stack.
    """
    method = method.upper()
    level = level / 100.0 if level > 1 else level
    yi, vi, mask = _check(yi, vi, mask, method, hk_variant, level, pi_type, engine)
    if engine == "auto":
        engine = "compiled" if compiled_available() else "numpy"
    if engine == "compiled" and not compiled_available():
        raise InputError("the compiled engine needs numba: pip install 'trialsynth[fast]'")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < MIN_CHUNK_SIZE:
        raise InputError(
            f"chunk_size must be a whole number of at least {MIN_CHUNK_SIZE:,}; got {chunk_size!r}"
        )
    options = (method, hk, hk_variant, level, pi_type, weights, tau2_ci, engine)
    if not progress:
        return _fit(yi, vi, mask, *options)
    return _fit_in_chunks(yi, vi, mask, options, chunk_size)


def _fit_in_chunks(yi, vi, mask, options, chunk_size: int) -> BatchFit:
    """:func:`_fit` over chunks of at most ``chunk_size`` rows, each reported to the task "Fits";
    the arrays of the chunks are joined and given the batch shape.

    The chunks are of nearly equal size, so none holds fewer than ``chunk_size // 2`` rows (500 or
    more) when there are several: every chunk takes the same tail-area path of
    :mod:`trialsynth._core.dist` as the whole stack (plain Python only for up to ``SMALL`` values),
    and the numbers are those of a single call, to the bit."""
    from trialsynth._core.progress import task

    shape, kmax = yi.shape[:-1], yi.shape[-1]
    y2, v2, m2 = (a.reshape(-1, kmax) for a in (yi, vi, mask))
    n = y2.shape[0]
    parts: list[BatchFit] = []
    with task("Fits", n) as step:
        count = -(-n // chunk_size)
        for i in range(count):
            start, stop = n * i // count, n * (i + 1) // count
            parts.append(_fit(y2[start:stop], v2[start:stop], m2[start:stop], *options))
            step.advance(stop - start, label=f"{stop:,} of {n:,}")
    if not parts:
        return _fit(yi, vi, mask, *options)
    joined: dict[str, Any] = {}
    for f in fields(BatchFit):
        first = getattr(parts[0], f.name)
        if isinstance(first, np.ndarray):
            whole = np.concatenate([getattr(p, f.name) for p in parts], axis=0)
            joined[f.name] = whole.reshape(shape + whole.shape[1:])
        else:
            joined[f.name] = first
    return BatchFit(**joined)


def _fit(yi, vi, mask, method, hk, hk_variant, level, pi_type, weights, tau2_ci, engine) -> BatchFit:
    """The fits of checked arrays by ``engine`` ("numpy" or "compiled")."""
    options: dict[str, Any] = {
        "method": method,
        "hk": bool(hk),
        "hk_variant": hk_variant,
        "level": level,
        "pi_type": pi_type,
    }
    if engine == "numpy":
        res = fit_arrays(yi, vi, mask, tau2_ci=tau2_ci, **options)
        single = mask.sum(axis=-1) < 2
        if hk and single.any():
            # As the single fit: a lone study is shown with its own z interval, not Hartung–Knapp.
            alone = fit_arrays(
                yi[single], vi[single], mask[single], tau2_ci=tau2_ci, **{**options, "hk": False}
            )
            for key, value in alone.items():
                res[key] = np.array(res[key], dtype=value.dtype if key != "df" else float)
                res[key][single] = value
        one_study_convention(res, mask.sum(axis=-1) == 1, method)
        if not weights:
            res.pop("weights")
        fit_kw: dict[str, Any] = {**options, **res}
        return BatchFit(engine="numpy", **fit_kw)

    shape = yi.shape[:-1]
    kmax = yi.shape[-1]
    y2 = np.ascontiguousarray(yi.reshape(-1, kmax))
    v2 = np.ascontiguousarray(vi.reshape(-1, kmax))
    m2 = np.ascontiguousarray(mask.reshape(-1, kmax))
    n = y2.shape[0]
    out, conv, iters, nmax, w = _run_kernel(y2, v2, m2, method, bool(hk), hk_variant, level, pi_type, weights)
    res = {name: out[i].reshape(shape) for i, name in enumerate(_KERNEL_FIELDS)}
    res["k"] = out[0].astype(np.int64).reshape(shape)
    res["q_df"] = out[12].astype(np.int64).reshape(shape)
    res["converged"] = conv.reshape(shape)
    res["iterations"] = iters.reshape(shape)
    res["n_local_maxima"] = nmax.reshape(shape)
    if weights:
        res["weights"] = w.reshape(yi.shape)
    if tau2_ci:
        res.update(_tau2_ci(y2, v2, m2, method, level, res["k"].reshape(n), shape))
        res["converged"] = res["converged"] & res.pop("_ci_converged")
    one_study_convention(res, res["k"] == 1, method)
    fit_kw = {**options, **res}
    return BatchFit(engine="compiled", **fit_kw)


def _tau2_ci(y2, v2, m2, method, level, k, shape):
    from trialsynth.stats.estimators import tau2_qprofile_ci

    if method == "FE":
        nan = np.full(shape, np.nan)
        return {
            "tau2_ci_lower": nan,
            "tau2_ci_upper": nan.copy(),
            "_ci_converged": np.ones(shape, bool),
        }
    lo, hi, ok = tau2_qprofile_ci(np.where(m2, y2, 0.0), np.where(m2, v2, 1.0), m2, level=level)
    ok = np.where(k >= 2, ok, True)
    return {
        "tau2_ci_lower": lo.reshape(shape),
        "tau2_ci_upper": hi.reshape(shape),
        "_ci_converged": ok.reshape(shape),
    }


def _run_kernel(y2, v2, m2, method, hk, hk_variant, level, pi_type, weights):
    import numba

    from trialsynth.stats import _batch_kernel as kern

    n, kmax = y2.shape
    dfs = np.arange(kmax + 1, dtype=float)
    tcrit = np.where(dfs >= 1, crit_value(level, np.where(dfs >= 1, dfs, np.nan)), np.nan)
    ks = np.arange(kmax + 1)
    if pi_type == "z" or (pi_type == "default" and not hk):
        pcrit = np.full(kmax + 1, float(crit_value(level)))
    elif pi_type == "higgins":
        pcrit = crit_value(level, np.where(ks >= 3, ks - 2, np.nan).astype(float))
    else:
        pcrit = crit_value(level, np.where(ks >= 2, ks - 1, np.nan).astype(float))
    out = np.empty((len(_KERNEL_FIELDS), n))
    conv = np.empty(n, dtype=bool)
    iters = np.empty(n, dtype=np.int64)
    nmax = np.empty(n, dtype=np.int64)
    w = np.empty((n if weights else 0, kmax))
    if n:
        with _KERNEL_LOCK:
            kern.fit_rows(
                y2,
                v2,
                m2,
                kern.CODES[method],
                hk,
                hk_variant == "adhoc",
                float(crit_value(level)),
                np.ascontiguousarray(tcrit, dtype=float),
                np.ascontiguousarray(pcrit, dtype=float),
                TOL,
                MAXITER,
                min(n, 64 * numba.get_num_threads()),
                out,
                conv,
                iters,
                nmax,
                w,
            )
    return out, conv, iters, nmax, w
