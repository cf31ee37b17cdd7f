"""Leave-one-out and influence diagnostics (metafor's ``leave1out`` and ``influence.rma.uni``).

For study i, let the model refitted without it (τ² re-estimated with the same estimator) give
β̂₍₋ᵢ₎, Var(β̂₍₋ᵢ₎) = Σ₍₋ᵢ₎ (Hartung–Knapp-scaled under ``hk``), τ̂²₍₋ᵢ₎ and QE₍₋ᵢ₎. With the
full fit's β̂, Σ = Var(β̂), weights wᵢ = 1/(vᵢ + τ̂²) and hat values hᵢ = [X(X'WX)⁻¹X'W]ᵢᵢ,
the diagnostics are (Viechtbauer & Cheung, Res Synth Methods 2010; Viechtbauer, in *Handbook
of Meta-Analysis*, 2021; metafor's ?influence.rma.uni and ?rstudent.rma.uni):

* externally standardised residual: (yᵢ − xᵢ'β̂₍₋ᵢ₎)/√(s²₍₋ᵢ₎(vᵢ + τ̂²₍₋ᵢ₎ + xᵢ'A₍₋ᵢ₎xᵢ)) with
  A₍₋ᵢ₎ = (X₍₋ᵢ₎'W₍₋ᵢ₎X₍₋ᵢ₎)⁻¹ and s²₍₋ᵢ₎ the deleted fit's Hartung–Knapp factor (1 without HK);
* DFFITS: (ŷᵢ − ŷᵢ₍₋ᵢ₎)/√(s²₍₋ᵢ₎hᵢ(τ̂²₍₋ᵢ₎ + vᵢ)), ŷ = xᵢ'β̂;
* Cook's distance: (β̂ − β̂₍₋ᵢ₎)'Σ⁻¹(β̂ − β̂₍₋ᵢ₎);
* covariance ratio: det Σ₍₋ᵢ₎ / det Σ;
* DFBETAS: (β̂ⱼ − β̂₍₋ᵢ₎ⱼ)/√(s²₍₋ᵢ₎[(X'W̃X)⁻¹]ⱼⱼ), W̃ = diag(1/(vⱼ + τ̂²₍₋ᵢ₎)) over all k studies;
* τ̂²₍₋ᵢ₎ (0 for a fixed-effect model) and QE₍₋ᵢ₎, hᵢ and the weight 100·wᵢ/Σw.

A study is flagged as influential (metafor's rule) when |DFFITS| > 3√(p/(k − p)), or the
lower tail of χ²ₚ at Cook's distance exceeds 0.5, or hᵢ > 3p/k, or any |DFBETAS| > 1.

All k leave-one-out fits are done at once, as one stack (``regression.fit_mods``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from trialsynth._core.dist import chi2_sf
from trialsynth._core.serialize import JsonResult
from trialsynth.stats.regression import FIXED, fit_mods


@dataclass(frozen=True)
class StudyInfluence(JsonResult):
    """Influence diagnostics of one study (see the module docstring)."""

    study: str
    rstudent: float
    dffits: float
    cooks_distance: float
    cov_ratio: float
    tau2_deleted: float
    q_deleted: float
    hat: float
    weight: float
    dfbetas: tuple[float, ...]
    influential: bool


def _warn_boundary(full, dele, method: str) -> None:
    """One warning naming the full and leave-one-out fits whose τ² stopped at a boundary."""
    n_boundary = int(dele["tau2_boundary"].sum())
    if bool(full["tau2_boundary"]) or n_boundary:
        import warnings

        from trialsynth._core.errors import TrialsynthWarning
        from trialsynth.stats.regression import BOUNDARY_WARNING

        fits = ["the full model"] if bool(full["tau2_boundary"]) else []
        if n_boundary:
            fits.append(f"{n_boundary} leave-one-out fit{'s' if n_boundary != 1 else ''}")
        message = f"{' and '.join(fits)}: " + BOUNDARY_WARNING.format(method=method)
        warnings.warn(message, TrialsynthWarning, stacklevel=3)


def _inverse_or_nan(m: np.ndarray) -> np.ndarray:
    """``m``⁻¹, or NaN where it has none (Hartung–Knapp on identical effects scales the
    covariance to 0: Cook's distance is then not defined)."""
    try:
        return np.linalg.inv(m)
    except np.linalg.LinAlgError:
        return np.full_like(m, np.nan)


def influence_diagnostics(
    yi,
    vi,
    X=None,
    *,
    labels=None,
    method: str = "REML",
    hk: bool = False,
    hk_variant: str = "knha",
    level: float = 0.95,
) -> list[StudyInfluence]:
    """Influence diagnostics of each study of an (intercept-only or meta-regression) model.

    ``X`` defaults to the intercept-only model. Values that cannot be computed because the
    model cannot be fitted without a study (k − 1 ≤ p) are NaN.
    """
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    k = len(yi)
    X = np.ones((k, 1)) if X is None else np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    p = X.shape[1]
    labels = [str(i + 1) for i in range(k)] if labels is None else list(labels)
    method = method.upper()
    opts: dict[str, Any] = {"method": method, "hk": hk, "hk_variant": hk_variant, "level": level}
    full = fit_mods(yi, vi, X, **opts)
    mask = ~np.eye(k, dtype=bool)
    dele = fit_mods(
        np.broadcast_to(yi, (k, k)), np.broadcast_to(vi, (k, k)), np.broadcast_to(X, (k, k, p)), mask, **opts
    )
    _warn_boundary(full, dele, method)
    beta, vb = full["beta"], full["vb"]
    bd, vbd = dele["beta"], dele["vb"]
    tau2_d = np.zeros(k) if method == FIXED else dele["tau2"]
    s2_d = dele["s2"]
    with np.errstate(divide="ignore", invalid="ignore"):
        pred_d = np.einsum("ij,ij->i", X, bd)
        resid_d = yi - pred_d
        a_d = vbd / s2_d[:, None, None]  # (X'W₍₋ᵢ₎X)⁻¹ of the deleted fit, unscaled
        var_d = s2_d * (vi + tau2_d + np.einsum("ij,ijk,ik->i", X, a_d, X))
        rstudent = resid_d / np.sqrt(var_d)
        pred = X @ beta
        hat = full["hat"]
        dffits = (pred - pred_d) / np.sqrt(s2_d * hat * (tau2_d + vi))
        diff = beta[None, :] - bd
        cook = np.einsum("ij,jk,ik->i", diff, _inverse_or_nan(vb), diff)
        cov_r = np.linalg.det(vbd) / np.linalg.det(vb)
        # DFBETAS: scaled by the SEs of the full data weighted with the deleted fit's τ².
        w_all = 1.0 / (vi[None, :] + tau2_d[:, None])
        m_all = np.linalg.inv(np.einsum("ki,jk,kl->jil", X, w_all, X))
        dfbetas = diff / np.sqrt(s2_d[:, None] * np.diagonal(m_all, axis1=-2, axis2=-1))
    weight = full["weights"]
    ok = dele["k"] > p
    out = []
    for i in range(k):
        if not ok[i]:
            vals = dict.fromkeys(("rstudent", "dffits", "cook", "covr", "t2", "q"), math.nan)
            dfb = (math.nan,) * p
            infl = False
        else:
            vals = {
                "rstudent": float(rstudent[i]),
                "dffits": float(dffits[i]),
                "cook": float(cook[i]),
                "covr": float(cov_r[i]),
                "t2": float(tau2_d[i]),
                "q": float(dele["qe"][i]),
            }
            dfb = tuple(float(x) for x in dfbetas[i])
            infl = bool(
                abs(vals["dffits"]) > 3.0 * math.sqrt(p / (k - p))
                or (1.0 - float(chi2_sf(vals["cook"], p))) > 0.5
                or float(hat[i]) > 3.0 * p / k
                or any(abs(x) > 1.0 for x in dfb)
            )
        out.append(
            StudyInfluence(
                study=labels[i],
                rstudent=vals["rstudent"],
                dffits=vals["dffits"],
                cooks_distance=vals["cook"],
                cov_ratio=vals["covr"],
                tau2_deleted=vals["t2"],
                q_deleted=vals["q"],
                hat=float(hat[i]),
                weight=float(weight[i]),
                dfbetas=dfb,
                influential=infl,
            )
        )
    return out


def _loo_entry(study: str, r) -> dict:
    return {
        "study": study,
        "k": r.k,
        "estimate": r.estimate,
        "se": r.se,
        "statistic": r.statistic,
        "p_value": r.p_value,
        "ci_lower": r.ci_lower,
        "ci_upper": r.ci_upper,
        "tau2": r.tau2 if r.method not in ("FE", "MH", "PETO") else math.nan,
        "i2": r.i2,
        "h2": r.h2,
        "q": r.q,
        "q_p_value": r.q_p_value,
    }




def _fmt(x, spec=".4f"):
    return "" if x is None else format(x, spec)


def _format_sensitivity(out: dict) -> str:
    lines = []
    if out.get("leave_one_out"):
        lines.append("Leave-one-out (analysis scale):")
        lines.append(
            f"  {'omitted':<28} {'estimate':>10} {'CI lower':>10} {'CI upper':>10} {'τ²':>9} {'I²':>6}"
        )
        for r in out["leave_one_out"]:
            lines.append(
                f"  {r['study'][:28]:<28} {_fmt(r['estimate']):>10} {_fmt(r['ci_lower']):>10} "
                f"{_fmt(r['ci_upper']):>10} {_fmt(r['tau2']):>9} {_fmt(r['i2'], '.1f'):>6}"
            )
    if out.get("influence"):
        if lines:
            lines.append("")
        lines.append("Influence diagnostics (* influential, metafor's rule):")
        lines.append(
            f"  {'study':<28} {'rstudent':>9} {'dffits':>8} {'cook.d':>8} {'cov.r':>7} {'τ²(-i)':>9} "
            f"{'Q(-i)':>9} {'hat':>6} {'weight':>7}"
        )
        for r in out["influence"]:
            lines.append(
                f"  {r['study'][:28]:<28} {_fmt(r['rstudent'], '.3f'):>9} {_fmt(r['dffits'], '.3f'):>8} "
                f"{_fmt(r['cooks_distance'], '.3f'):>8} {_fmt(r['cov_ratio'], '.3f'):>7} "
                f"{_fmt(r['tau2_deleted']):>9} {_fmt(r['q_deleted'], '.2f'):>9} {_fmt(r['hat'], '.3f'):>6} "
                f"{_fmt(r['weight'], '.1f'):>6}%" + (" *" if r["influential"] else "")
            )
    if out.get("baujat"):
        lines.append("")
        lines.append("Baujat plot coordinates (x: contribution to Q; y: influence on the pooled result):")
        for r in out["baujat"]:
            lines.append(f"  {r['study'][:28]:<28} {_fmt(r['x'], '.4f'):>10} {_fmt(r['y'], '.4f'):>10}")
    if out.get("cumulative"):
        lines.append("")
        by = f" by '{out['cumulative_by']}'" if out["cumulative_by"] else ""
        lines.append(f"Cumulative meta-analysis{by}:")
        for r in out["cumulative"]:
            lines.append(
                f"  + {r['study'][:26]:<26} k = {r['k']:<3} {_fmt(r['estimate']):>10} "
                f"({_fmt(r['ci_lower'])} to {_fmt(r['ci_upper'])})"
            )
    return "\n".join(lines)
