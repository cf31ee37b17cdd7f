"""Analyses of a pool CSV (see :mod:`trialsynth.io.poolcsv` for its columns): read the file,
then run the numerics of :mod:`trialsynth.stats`. These are the functions behind
``trialsynth pool``, ``tsa``, ``influence`` and ``bias``."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth._core.results import MetaResult
from trialsynth._core.serialize import to_jsonable

if TYPE_CHECKING:  # the analyses are imported by the functions that run them (a fast `pool`)
    from trialsynth.stats.bayes import BayesResult
    from trialsynth.stats.tsa import TSAResult


def bayes_file(
    path,
    *,
    measure: str,
    tau_prior: str | None = None,
    mu_prior: str | None = None,
    level: float = 95.0,
    interval: str = "central",
    **effect_options,
) -> BayesResult:
    """Read a CSV of trials (see :mod:`trialsynth.io.poolcsv`) and run :func:`bayes_meta` on its effects.

    The per-study effects and variances are those of :func:`trialsynth.workflow.pool_files.pool_file`
    (continuity corrections and other ``effect_options`` as there). Without ``tau_prior``,
    half-normal(0.5) is used for OR, RR, HR and SMD; MD and RD need an explicit prior.
    """
    from trialsynth.stats.bayes import (
        DEFAULT_TAU_PRIOR,
        bayes_meta,
        parse_mu_prior,
        parse_tau_prior,
    )

    measure = measure.upper()
    if tau_prior is None:
        if measure not in DEFAULT_TAU_PRIOR:
            raise InputError(
                f"give a τ prior for {measure} (e.g. --tau-prior halfnormal:S with S in the outcome's units)"
            )
        tau_prior = DEFAULT_TAU_PRIOR[measure]
    tp, mp = parse_tau_prior(tau_prior), parse_mu_prior(mu_prior)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="only one study", category=TrialsynthWarning)
        fit = pool_file(path, measure=measure, method="FE", level=level, **effect_options)
    rows = [s for s in fit.studies if s.included]
    return bayes_meta(
        [s.yi for s in rows],
        [s.vi for s in rows],
        labels=[s.study for s in rows],
        measure=measure,
        tau_prior=tp,
        mu_prior=mp,
        level=level,
        interval=interval,
    )


def tsa_file(path, *, measure: str, **options) -> TSAResult:
    """Read a CSV of trials (see :mod:`trialsynth.io.poolcsv`) and run :func:`tsa` on it in row order."""
    from trialsynth.io.poolcsv import read_pool_csv
    from trialsynth.stats.tsa import tsa

    data = read_pool_csv(path, measure=measure.upper())
    return tsa(data, **options)


def sensitivity_file(
    path,
    *,
    measure: str,
    moderators: str | None = None,
    cumulative_by: str | None = None,
    cumulative: bool = False,
    **options,
) -> tuple[dict, str]:
    """Leave-one-out, influence diagnostics, Baujat and Galbraith coordinates (and optionally a
    cumulative analysis) of a CSV.

    For ``trialsynth influence``: returns the JSON object and a plain-text summary. The
    leave-one-out fits use the full pooling options (also Mantel–Haenszel and Peto, as
    metafor's ``leave1out``); influence diagnostics need an inverse-variance model
    (``influence.rma.uni``) and are null otherwise. With ``moderators`` the diagnostics are
    those of the meta-regression and there is no leave-one-out list (as metafor).
    ``baujat`` and ``radial`` are the coordinates of :mod:`trialsynth.stats.diagnostics` (no radial
    plot of a meta-regression; no Baujat plot of a Mantel–Haenszel or Peto meta-regression).
    """
    import warnings

    from trialsynth._core.errors import InputError, TrialsynthWarning
    from trialsynth.io.poolcsv import read_pool_csv
    from trialsynth.stats.analyses import cumulative_by as cumulative_by_column
    from trialsynth.stats.analyses import leave_one_out
    from trialsynth.stats.diagnostics import baujat, baujat_from_fits, radial_of
    from trialsynth.stats.influence import _format_sensitivity, _loo_entry, influence_diagnostics
    from trialsynth.stats.meta import pool_input

    data = read_pool_csv(path, measure=measure.upper())
    method = str(options.get("method", "REML")).upper()
    pooled = pool_input(data, **options)
    out: dict = {
        "k": pooled.k,
        "measure": pooled.measure,
        "method": pooled.method,
        "hk": pooled.hk,
        "test": pooled.test,
        "scale": "log" if pooled.ratio else "identity",
    }
    inc = [i for i, s in enumerate(pooled.studies) if s.included]
    yi = np.array([pooled.studies[i].yi for i in inc])
    vi = np.array([pooled.studies[i].vi for i in inc])
    labels = [pooled.studies[i].study for i in inc]
    level = pooled.level / 100.0
    X = None
    if moderators:
        from trialsynth.stats.regression import design_matrix

        mods = [m.strip() for m in moderators.split(",")]
        usable = np.array([s.included for s in pooled.studies], dtype=bool)
        design = design_matrix(
            data.extra_columns, mods, source=data.source, usable=usable, labels=data.labels
        )
        keep = {int(r) for r in design.rows}
        pos = [j for j, i in enumerate(inc) if i in keep]
        yi, vi, labels = yi[pos], vi[pos], [labels[j] for j in pos]
        X = design.X
        out["coefficient_names"] = list(design.names)
        out["leave_one_out"] = None
        out["radial"] = None  # a Galbraith plot has no meaning for a meta-regression (as metafor)
        iv_model: dict[str, Any] = {"labels": labels, "method": method, "hk": bool(options.get("hk", False))}
        iv_model["hk_variant"] = options.get("hk_variant", "knha")
        out["baujat"] = None if method in ("MH", "PETO") else baujat(yi, vi, X, **iv_model).to_json_dict()
    else:
        if len(data.labels) < 2:
            raise InputError("leave-one-out needs at least two studies", file=data.source)
        loo = leave_one_out(data, **options)
        # Only the studies that were pooled are left out in turn (as metafor's leave1out): a
        # row that was not pooled (a double-zero table for OR/RR) has no leave-one-out fit.
        pooled_labels = set(labels)
        out["leave_one_out"] = [
            _loo_entry(study, r) for study, r in loo if r is not None and study in pooled_labels
        ]
        out["baujat"] = baujat_from_fits(pooled, loo).to_json_dict()
        out["radial"] = radial_of(pooled).to_json_dict()
    if method in ("MH", "PETO"):
        warnings.warn(
            f"influence diagnostics need an inverse-variance model (FE or a τ² estimator), not {method}",
            TrialsynthWarning,
            stacklevel=2,
        )
        out["influence"] = None
    else:
        if len(yi) < 3:
            warnings.warn(
                "influence diagnostics with fewer than three studies are mostly undefined",
                TrialsynthWarning,
                stacklevel=2,
            )
        diags = influence_diagnostics(
            yi,
            vi,
            X,
            labels=labels,
            method=method,
            hk=bool(options.get("hk", False)),
            hk_variant=options.get("hk_variant", "knha"),
            level=level,
        )
        out["influence"] = [d.to_json_dict() for d in diags]
    if cumulative or cumulative_by:
        steps = cumulative_by_column(data, cumulative_by, **options)
        out["cumulative_by"] = cumulative_by
        out["cumulative"] = [_loo_entry(study, r) for study, r in steps]
    return to_jsonable(out), _format_sensitivity(out)


def bias_file(
    path,
    *,
    measure: str,
    trimfill_estimator: str = "L0",
    side: str | None = None,
    orwin_target: float | None = None,
    fsn_alpha: float = 0.05,
    steps="0.025",
    alternative: str = "greater",
    **options,
) -> tuple[dict, str]:
    """Every small-study / publication-bias analysis of a CSV, for ``trialsynth bias``.

    ``options`` are those of :func:`trialsynth.stats.meta.pool_input`. The regression tests, trim and
    fill and the selection model use the pooled model's τ² estimator and test; for
    Mantel–Haenszel and Peto fits the inverse-variance fixed-effect model is used instead (a
    warning says so). Peters' test needs sample sizes (2×2 counts or means/SDs), Harbord's
    2×2 counts with the odds ratio. Returns the JSON object and a plain-text summary.
    """
    from trialsynth.io.poolcsv import read_pool_csv

    data = read_pool_csv(path, measure=measure.upper())
    return bias_input(
        data,
        trimfill_estimator=trimfill_estimator,
        side=side,
        orwin_target=orwin_target,
        fsn_alpha=fsn_alpha,
        steps=steps,
        alternative=alternative,
        **options,
    )


def bias_input(
    data,
    *,
    trimfill_estimator: str = "L0",
    side: str | None = None,
    orwin_target: float | None = None,
    fsn_alpha: float = 0.05,
    steps="0.025",
    alternative: str = "greater",
    **options,
) -> tuple[dict, str]:
    """:func:`bias_file` on a :class:`trialsynth.io.poolcsv.PoolInput` already read."""
    from trialsynth.stats.bias import (
        _check_k,
        _format_bias,
        _parse_steps,
        _warn,
        egger_test,
        fail_safe_n,
        harbord_test,
        rank_test,
        selection_model,
        trim_and_fill,
    )
    from trialsynth.stats.meta import pool_input
    from trialsynth.stats.regression import FIXED

    pooled = pool_input(data, **options)
    method = pooled.method
    hk = pooled.hk if pooled.test == "t" else False
    hk_variant = pooled.hk_variant or "knha"
    level = pooled.level / 100.0
    if method in ("MH", "PETO"):
        _warn(f"regression tests and trim and fill use the inverse-variance fixed-effect model, not {method}")
        method = FIXED
    inc = [i for i, s in enumerate(pooled.studies) if s.included]
    yi = np.array([pooled.studies[i].yi for i in inc])
    vi = np.array([pooled.studies[i].vi for i in inc])
    k = len(yi)
    if k < 3:
        raise InputError("tests for small-study effects need at least three studies", file=data.source)
    _check_k(k, "a test for funnel-plot asymmetry")
    opts: dict[str, Any] = {"method": method, "hk": hk, "hk_variant": hk_variant, "level": level}
    out: dict = {
        "k": k,
        "measure": pooled.measure,
        "method": pooled.method,
        "hk": hk,
        "scale": "log" if pooled.ratio else "identity",
        "estimate": pooled.estimate,
    }
    out["egger"] = egger_test(yi, vi, **opts).to_json_dict()
    out["egger_lm"] = egger_test(yi, vi, model="lm", level=level).to_json_dict()
    out["begg"] = rank_test(yi, vi).to_json_dict()
    out["trimfill"] = trim_and_fill(yi, vi, estimator=trimfill_estimator, side=side, **opts).to_json_dict()
    out["failsafe"] = fail_safe_n(yi, vi, alpha=fsn_alpha, target=orwin_target).to_json_dict()

    kinds = [data.kinds[i] for i in inc]
    val = data.values
    if all(kd in ("binary", "continuous") for kd in kinds):
        ni = np.array([val["n_treatment"][i] + val["n_control"][i] for i in inc])
        out["peters"] = egger_test(yi, vi, predictor="ninv", ni=ni, **opts).to_json_dict()
    else:
        out["peters"] = None
    if pooled.measure == "OR" and all(kd == "binary" for kd in kinds):
        cols = ("events_treatment", "n_treatment", "events_control", "n_control")
        a, n1, c, n2 = (np.array([val[col][i] for i in inc]) for col in cols)
        try:
            out["harbord"] = harbord_test(a, n1, c, n2).to_json_dict()
        except InputError as exc:
            _warn(f"Harbord's test not computed: {exc}")
            out["harbord"] = None
    else:
        out["harbord"] = None
    try:
        sel = selection_model(
            yi,
            vi,
            steps=_parse_steps(steps),
            alternative=alternative,
            fixed_effect=method == FIXED,
            level=level,
        )
        out["selmodel"] = sel.to_json_dict()
    except InputError:
        raise
    except (ValueError, np.linalg.LinAlgError) as exc:  # pragma: no cover - numerical failure
        _warn(f"the selection model could not be fitted: {exc}")
        out["selmodel"] = None
    out = to_jsonable(out)
    return out, _format_bias(out)


def pool_extras(
    path,
    *,
    measure: str,
    subgroup: str | None = None,
    subgroup_tau2: str = "separate",
    moderators: str | Sequence[str] | None = None,
    permutations: int | None = None,
    seed: int | None = None,
    **options,
) -> tuple[dict, str]:
    """Subgroup analysis or meta-regression of a CSV for ``trialsynth pool``.

    Returns the keys to add to (or replace in) the ``pool --json`` object and a short text
    block. With moderators, ``tau2``, ``tau``, ``i2`` and ``h2`` become the residual ones and
    the intercept-only τ² interval and prediction interval are dropped (null).
    """
    from trialsynth.io.poolcsv import read_pool_csv
    from trialsynth.stats.analyses import format_subgroups, subgroup_analysis

    if subgroup and moderators:
        raise InputError("use either --subgroup or --moderators, not both", file=str(path))
    data = read_pool_csv(path, measure=measure.upper())
    if subgroup:
        res = subgroup_analysis(data, subgroup, tau2=subgroup_tau2, **options)
        return res.to_json_dict(), format_subgroups(res)
    from trialsynth.stats.regression import meta_regression

    if moderators is None:
        raise InputError("give a subgroup column or moderators", file=str(path))
    mods = [m.strip() for m in moderators.split(",")] if isinstance(moderators, str) else list(moderators)
    reg, _ = meta_regression(data, mods, permutations=permutations, seed=seed, **options)
    out = reg.to_json_dict()
    tau2 = out.get("tau2")
    out["tau"] = math.sqrt(tau2) if tau2 is not None else None
    out["k"] = reg.k
    for key in ("tau2_ci_lower", "tau2_ci_upper", "pi_lower", "pi_upper"):
        out[key] = None
    return out, reg.format_text()


def pool_file(path, *, measure: str, method: str = "REML", **options) -> MetaResult:
    """Read a CSV of trials (see :mod:`trialsynth.io.poolcsv`) and pool it; options as :func:`pool_input`."""
    from trialsynth.io.poolcsv import read_pool_csv
    from trialsynth.stats.meta import _check_options, _level_fraction, pool_input

    try:
        _check_options(
            measure.upper(),
            method.upper(),
            options.get("hk_variant", "knha"),
            _level_fraction(options.get("level", 95.0)),
            options.get("pi_type", "default"),
            options.get("profile", "metafor"),
        )
    except InputError as exc:
        raise InputError(exc.reason, file=str(path)) from None
    data = read_pool_csv(path, measure=measure.upper())
    return pool_input(data, method=method, **options)
