"""Coordinates of the Baujat and Galbraith (radial) plots.

Both are pure numerics on (yᵢ, vᵢ) arrays and fitted models; ``trialsynth.plots.diagnostics``
draws them.

**Baujat plot** (Baujat, Mahé, Pignon & Hill, Stat Med 2002;21:2641–52), in metafor's form
for ``rma`` fits (``?baujat``): for study i with the full fit's pooled estimate (or fitted value)
θ̂ᵢ = xᵢ'β̂ and τ̂²,

* x: its contribution to the heterogeneity statistic, (yᵢ − θ̂ᵢ)²/(vᵢ + τ̂²) (τ̂² = 0 for
  fixed-effect models, where the x values sum to Q);
* y: its influence on the pooled result, (xᵢ'β̂₍₋ᵢ₎ − xᵢ'β̂)² / xᵢ'Var(β̂₍₋ᵢ₎)xᵢ, the squared
  change of the fitted value when the study is left out (τ² re-estimated), standardised by the
  variance of the fit without it (Hartung–Knapp-scaled under ``hk``).

**Galbraith (radial) plot** (Galbraith, Technometrics 1988;30:271–81; Stat Med 1988;7:889–94),
as metafor's ``radial()``: each study at x = 1/√(vᵢ + τ̂²), z = yᵢ/√(vᵢ + τ̂²) (τ̂² = 0 for
fixed-effect models). A line from the origin through a point has slope yᵢ; the line of slope
θ̂ is the pooled estimate, and the band z = θ̂x ± z₁₋α/₂ (±1.96 at 95%, Galbraith's ±2) holds
the studies consistent with it. Effect values are read off an arc on the right: the line of
slope θ meets it at the effect θ.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from trialsynth._core.dist import norm_quantile
from trialsynth._core.errors import TrialsynthWarning
from trialsynth._core.results import MetaResult
from trialsynth._core.serialize import JsonResult
from trialsynth.stats.regression import FIXED, fit_mods

#: Pooling methods whose τ² is zero by definition.
FIXED_METHODS = frozenset({"FE", "MH", "PETO"})


@dataclass(frozen=True)
class Baujat(JsonResult):
    """Per study (in ``studies`` order): ``x`` its contribution to Q, ``y`` its influence."""

    studies: tuple[str, ...]
    x: tuple[float, ...]
    y: tuple[float, ...]

    def __json__(self) -> list[dict]:
        """JSON form: one ``{"study", "x", "y"}`` object per study (a list, not an object)."""
        return [{"study": s, "x": x, "y": y} for s, x, y in zip(self.studies, self.x, self.y, strict=True)]


@dataclass(frozen=True)
class Radial(JsonResult):
    """Galbraith-plot coordinates (see the module docstring), analysis scale.

    ``x``/``z`` per study; ``estimate`` is the slope of the pooled line, ``ci_lower``/
    ``ci_upper`` the pooled CI (drawn on the arc), ``z_crit`` the half-width of the band,
    ``tau2`` the τ̂² added to each variance (0 for fixed-effect models).
    """

    studies: tuple[str, ...]
    x: tuple[float, ...]
    z: tuple[float, ...]
    yi: tuple[float, ...]
    estimate: float
    ci_lower: float
    ci_upper: float
    tau2: float
    z_crit: float
    level: float

    __json_fields__ = ("tau2", "estimate", "ci_lower", "ci_upper", "z_crit", ("points", "_json_points"))

    @property
    def _json_points(self) -> list[dict]:
        return [{"study": s, "x": x, "y": z} for s, x, z in zip(self.studies, self.x, self.z, strict=True)]


def baujat(
    yi,
    vi,
    X=None,
    *,
    labels=None,
    method: str = "REML",
    hk: bool = False,
    hk_variant: str = "knha",
) -> Baujat:
    """Baujat coordinates of an inverse-variance model (FE or a τ² estimator; ``X`` for a
    meta-regression, default intercept only). All k leave-one-out fits are one stack.

    A study whose deleted model cannot be fitted (k − 1 < p) gets y = NaN.
    """
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    k = len(yi)
    X = np.ones((k, 1)) if X is None else np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    p = X.shape[1]
    labels = [str(i + 1) for i in range(k)] if labels is None else [str(s) for s in labels]
    method = method.upper()
    opts: dict[str, Any] = {"method": method, "hk": hk, "hk_variant": hk_variant}
    full = fit_mods(yi, vi, X, **opts)
    tau2 = 0.0 if method == FIXED else float(full["tau2"])
    fitted = X @ full["beta"]
    x = (yi - fitted) ** 2 / (vi + tau2)
    mask = ~np.eye(k, dtype=bool)
    dele = fit_mods(
        np.broadcast_to(yi, (k, k)), np.broadcast_to(vi, (k, k)), np.broadcast_to(X, (k, k, p)), mask, **opts
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        pred_d = np.einsum("ij,ij->i", X, dele["beta"])
        var_d = np.einsum("ij,ijk,ik->i", X, dele["vb"], X)
        y = (pred_d - fitted) ** 2 / var_d
    y = np.where(dele["k"] >= p, y, np.nan)
    return Baujat(tuple(labels), tuple(float(v) for v in x), tuple(float(v) for v in y))


def baujat_from_fits(result: MetaResult, leave_one_out) -> Baujat:
    """Baujat coordinates of an intercept-only model of any method (also Mantel–Haenszel and
    Peto, as metafor's ``baujat`` of ``rma.mh``/``rma.peto``) from its fit and its leave-one-out
    fits ``[(omitted study, result), …]`` (:func:`trialsynth.stats.analyses.leave_one_out`).

    Studies not pooled (double zeros, say) are left out of the plot.
    """
    loo = {str(s): r for s, r in leave_one_out}
    tau2 = 0.0 if result.method in FIXED_METHODS or math.isnan(result.tau2) else result.tau2
    studies, xs, ys = [], [], []
    for s in result.studies:
        if not s.included:
            continue
        studies.append(s.study)
        xs.append((s.yi - result.estimate) ** 2 / (s.vi + tau2))
        r = loo.get(s.study)
        if r is None or not (math.isfinite(r.estimate) and math.isfinite(r.se) and r.se > 0):
            ys.append(math.nan)
        else:
            ys.append((r.estimate - result.estimate) ** 2 / r.se**2)
    return Baujat(tuple(studies), tuple(xs), tuple(ys))


def radial(
    yi,
    vi,
    *,
    estimate: float,
    ci_lower: float,
    ci_upper: float,
    tau2: float = 0.0,
    level: float = 0.95,
    labels=None,
) -> Radial:
    """Galbraith (radial) coordinates of studies (yᵢ, vᵢ) around a pooled ``estimate``.

    ``tau2`` is the model's τ̂² (0 for a fixed-effect model); ``level`` a fraction (0.95) or a
    percentage (95).
    """
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    if level > 1:
        level = level / 100.0
    tau2 = 0.0 if tau2 is None or math.isnan(tau2) else float(tau2)
    labels = [str(i + 1) for i in range(len(yi))] if labels is None else [str(s) for s in labels]
    sd = np.sqrt(vi + tau2)
    z_crit = float(norm_quantile(1.0 - (1.0 - level) / 2.0))
    return Radial(
        studies=tuple(labels),
        x=tuple(float(v) for v in 1.0 / sd),
        z=tuple(float(v) for v in yi / sd),
        yi=tuple(float(v) for v in yi),
        estimate=float(estimate),
        ci_lower=float(ci_lower),
        ci_upper=float(ci_upper),
        tau2=tau2,
        z_crit=z_crit,
        level=level,
    )


def radial_of(result: MetaResult) -> Radial:
    """Galbraith coordinates of a fitted model's pooled studies (its τ̂², estimate and CI)."""
    inc = [s for s in result.studies if s.included]
    if not inc:
        raise ValueError("no pooled study to plot")
    if result.method not in FIXED_METHODS and math.isnan(result.tau2):
        warnings.warn(
            "the model has no τ² estimate; the radial plot uses τ² = 0", TrialsynthWarning, stacklevel=2
        )
    return radial(
        [s.yi for s in inc],
        [s.vi for s in inc],
        estimate=result.estimate,
        ci_lower=result.ci_lower,
        ci_upper=result.ci_upper,
        tau2=0.0 if result.method in FIXED_METHODS else result.tau2,
        level=result.level,
        labels=[s.study for s in inc],
    )
