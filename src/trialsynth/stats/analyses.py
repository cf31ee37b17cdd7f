"""Analyses built from repeated fits: leave-one-out, cumulative, subgroups; baseline pooling.

Each takes a :class:`trialsynth.io.poolcsv.PoolInput` and the pooling options of
:func:`trialsynth.stats.meta.pool_input`, so Mantel–Haenszel and Peto fits work as well as
inverse-variance ones.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from trialsynth._core.dist import chi2_sf
from trialsynth._core.errors import InputError, NotEstimable, TrialsynthWarning
from trialsynth._core.results import MetaResult
from trialsynth._core.serialize import JsonResult, json_key
from trialsynth.stats.meta import pool_input


def subset_input(data, index: Sequence[int]):
    """The rows ``index`` (in that order) of a PoolInput, as a new PoolInput."""
    idx = np.asarray(index, dtype=int)
    pick = lambda seq: tuple(seq[i] for i in idx)  # noqa: E731
    return replace(
        data,
        labels=pick(data.labels),
        kinds=pick(data.kinds),
        rows=pick(data.rows),
        values={key: np.asarray(val)[idx] for key, val in data.values.items()},
        direction=pick(data.direction),
        p_bound=np.asarray(data.p_bound)[idx],
        extra_columns={key: pick(val) for key, val in data.extra_columns.items()},
    )


def _quiet_pool(data, options) -> MetaResult:
    """Pool without repeating the warnings the main fit already gave."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        return pool_input(data, **options)


def _not_estimable(data, what: str) -> None:
    warnings.warn(
        f"{data.source}: {what} is not estimable (no trial in it has a usable effect estimate)",
        TrialsynthWarning,
        stacklevel=3,
    )


def leave_one_out(data, *, only: Sequence[str] | None = None, **options) -> list[tuple[str, MetaResult]]:
    """The model refitted with each study left out in turn: ``[(omitted study, result), …]``.

    ``only``: the labels of the studies to leave out in turn (the trials the analysis pooled;
    a double-zero trial that was never pooled has nothing to leave out); all by default. A
    refit with no usable trial left is reported as not estimable (a warning) and omitted.
    """
    n = len(data.labels)
    if n < 2:
        raise InputError("leave-one-out needs at least two studies")
    keep = set(data.labels if only is None else only)
    out = []
    for i in range(n):
        if data.labels[i] not in keep:
            continue
        try:
            out.append(
                (data.labels[i], _quiet_pool(subset_input(data, [j for j in range(n) if j != i]), options))
            )
        except NotEstimable:
            _not_estimable(data, f"leave-one-out without '{data.labels[i]}'")
    return out


def cumulative(data, order: Sequence[int] | None = None, **options) -> list[tuple[str, MetaResult]]:
    """Cumulative meta-analysis: the model refitted as studies are added in ``order``.

    ``[(study added, result after adding it), …]``; the first step is one study. A step in
    which no trial yet has a usable estimate (say, only double-zero trials so far) is not
    estimable: it is named in a warning and left out of the list.
    """
    order = list(range(len(data.labels))) if order is None else list(order)
    out = []
    for i in range(len(order)):
        try:
            out.append((data.labels[order[i]], _quiet_pool(subset_input(data, order[: i + 1]), options)))
        except NotEstimable:
            _not_estimable(data, f"cumulative step adding '{data.labels[order[i]]}'")
    return out


@dataclass(frozen=True)
class SubgroupResult:
    """Per-subgroup fits and the test for subgroup differences.

    The test is the fixed-effect Q across the subgroup estimates (Borenstein et al.,
    Introduction to Meta-Analysis, 2009, ch. 19, separate τ² per subgroup; as RevMan and
    meta do): Q_between = Σ w_g(θ_g − θ̄)², w_g = 1/SE_g², df = G − 1.
    """

    groups: tuple[tuple[str, MetaResult], ...]
    overall: MetaResult
    q_between: float
    q_between_df: int
    q_between_p_value: float
    #: Levels in which no trial has a usable estimate (left out of ``groups`` and of the test).
    not_estimable: tuple[str, ...] = ()

    def _repr_html_(self) -> str:
        """Jupyter display: per-subgroup table (escaped), the test and the subgroup forest plot."""
        from trialsynth._core.display import html_for

        return html_for(self)


def _q_between(estimates: Sequence[float], ses: Sequence[float]) -> float:
    """Cochran's Q across subgroup estimates, weights 1/SE²: Σwᵢ(θᵢ − θ̄)², θ̄ = Σwᵢθᵢ/Σwᵢ.

    NaN when a subgroup's SE is 0 (e.g. Hartung–Knapp on identical effects: infinite weight).
    """
    est = np.asarray(estimates, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = 1.0 / np.asarray(ses, dtype=float) ** 2
        mean = (w * est).sum() / w.sum()
        return float((w * (est - mean) ** 2).sum())


def subgroups(data, column: str, **options) -> SubgroupResult:
    """Pool within each level of ``column`` (levels in order of first appearance)."""
    if column not in data.extra_columns:
        raise InputError(f"no column named '{column}' for subgroups", file=data.source, column=column)
    values = data.extra_columns[column]
    levels = list(dict.fromkeys(values))
    if len(levels) < 2:
        raise InputError(
            f"column '{column}' has the same value for every study; subgroups need two or more",
            file=data.source,
            column=column,
        )
    groups = []
    missing = []
    for level in levels:
        idx = [i for i, v in enumerate(values) if v == level]
        try:
            groups.append((level, _quiet_pool(subset_input(data, idx), options)))
        except NotEstimable:
            _not_estimable(data, f"subgroup '{level}' of '{column}'")
            missing.append(level)
    if len(groups) < 2:
        raise NotEstimable(
            f"subgroups by '{column}': fewer than two levels have a trial with a usable estimate",
            file=data.source,
            column=column,
        )
    overall = _quiet_pool(data, options)
    q = _q_between([g.estimate for _, g in groups], [g.se for _, g in groups])
    df = len(groups) - 1
    return SubgroupResult(tuple(groups), overall, q, df, float(chi2_sf(q, df)), tuple(missing))


# ---------------------------------------------------------------------------------------
# Baseline characteristics across trials.


def pooled_mean_sd(
    n: Sequence[float], mean: Sequence[float], sd: Sequence[float]
) -> tuple[float, float, float]:
    """Combine group means and SDs into one group (Cochrane Handbook, section 6.5.2.10).

    Returns ``(N, mean, SD)`` with mean = Σnᵢmᵢ/N and
    SD² = (Σ(nᵢ − 1)sᵢ² + Σnᵢ(mᵢ − mean)²)/(N − 1).
    """
    n_, m_, s_ = (np.asarray(x, dtype=float) for x in (n, mean, sd))
    total = n_.sum()
    m = float((n_ * m_).sum() / total)
    var = ((n_ - 1) * s_**2 + n_ * (m_ - m) ** 2).sum() / (total - 1)
    return float(total), m, math.sqrt(var)


def pooled_proportion(n: Sequence[float], percent: Sequence[float]) -> tuple[float, float]:
    """Combine group percentages: (N, Σ nᵢpᵢ / N) in percent."""
    n_, p_ = (np.asarray(x, dtype=float) for x in (n, percent))
    total = n_.sum()
    return float(total), float((n_ * p_).sum() / total)


# ---------------------------------------------------------------------------------------
# Subgroup analysis with metafor's conventions (separate or common τ²).


@dataclass(frozen=True)
class SubgroupEstimate:
    """The pooled estimate within one subgroup (analysis scale).

    ``tau2`` is the subgroup's own τ² (separate τ²) or the common τ²; NaN for fixed-effect,
    Mantel–Haenszel and Peto fits. ``result`` is the subgroup's own fit (separate τ² only).
    """

    name: str
    k: int
    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    p_value: float
    tau2: float
    result: MetaResult | None = field(default=None, metadata=json_key(None))


@dataclass(frozen=True)
class SubgroupAnalysis(JsonResult):
    """Subgroup estimates and the test for subgroup differences (metafor's definitions).

    ``tau2_model="separate"``: each subgroup is pooled on its own (its own τ², as
    ``rma(yi, vi, subset = g == level)``) and the test is Cochran's Q across the subgroup
    estimates with weights 1/SE², i.e. the omnibus test of the fixed-effects model
    ``rma(estimate, sei = se, mods = ~ factor(group), method = "FE")``: χ² with G − 1 df
    (Borenstein et al., *Introduction to Meta-Analysis*, 2009, ch. 19).

    ``tau2_model="common"``: one mixed-effects model with the subgroup as a factor,
    ``rma(yi, vi, mods = ~ factor(group))``; the subgroup estimates are the coefficients of
    ``mods = ~ factor(group) - 1`` and the test is the omnibus QM (χ² with G − 1 df, or F
    with G − 1 and k − G df under Hartung–Knapp, ``q_between_df2``).
    """

    column: str
    tau2_model: str
    groups: tuple[SubgroupEstimate, ...]
    overall: MetaResult
    q_between: float
    q_between_df: int
    q_between_p_value: float
    q_between_test: str = "chi2"
    q_between_df2: float = math.nan
    tau2: float = math.nan
    dropped: tuple[str, ...] = ()

    #: The keys ``trialsynth pool --subgroup --json`` adds (NaN as null), in this order.
    __json_fields__ = (
        ("subgroup_column", "column"), ("subgroup_tau2", "tau2_model"), ("subgroups", "groups"),
        "q_between", "q_between_df", "q_between_df2", "q_between_test", "q_between_p_value",
    )


def _find_column(data, column: str, what: str) -> str:
    lookup = {name.strip().lower(): name for name in data.extra_columns}
    key = column.strip().lower()
    if key not in lookup:
        raise InputError(f"no such column for the {what}", file=data.source, column=column.strip())
    return lookup[key]


def _separate_tau2(data, name, values, present, levels, overall, dropped, random, options):
    """Each subgroup pooled on its own; Cochran's Q across the subgroup estimates."""
    groups = []
    for lv in levels:
        idx = [i for i in present if values[i] == lv]
        try:
            res = _quiet_pool(subset_input(data, idx), options)
        except InputError:
            warnings.warn(
                f"{data.source}: subgroup '{lv}' has no study with a usable estimate and is left out",
                TrialsynthWarning,
                stacklevel=3,
            )
            continue
        t2 = (res.tau2 if res.k > 1 else 0.0) if random else math.nan
        groups.append(
            SubgroupEstimate(
                lv, res.k, res.estimate, res.se, res.ci_lower, res.ci_upper, res.p_value, t2, res
            )
        )
    if len(groups) < 2:
        raise InputError("fewer than two subgroups have usable studies", file=data.source, column=name)
    q = _q_between([g.estimate for g in groups], [g.se for g in groups])
    df = len(groups) - 1
    return SubgroupAnalysis(
        name, "separate", tuple(groups), overall, q, df, float(chi2_sf(q, df)), dropped=dropped
    )


def _common_tau2(data, name, values, present, levels, overall, dropped, method, hk, level, options):
    """One mixed-effects model with the subgroup factor (a common τ²); its omnibus test."""
    from trialsynth.stats.regression import fit_mods

    if method in ("MH", "PETO"):
        raise InputError(f"a common τ² across subgroups needs an inverse-variance model, not {method}")
    yi = np.array([s.yi for s in overall.studies])
    vi = np.array([s.vi for s in overall.studies])
    use = [i for i in present if overall.studies[i].included]
    g_of = [values[i] for i in use]
    levels = [lv for lv in levels if lv in set(g_of)]
    if len(levels) < 2:
        raise InputError("fewer than two subgroups have usable studies", file=data.source, column=name)
    D = np.array([[1.0 if g == lv else 0.0 for lv in levels] for g in g_of])
    hk_variant = options.get("hk_variant", "knha")
    fit_opts = {"method": method, "hk": hk, "hk_variant": hk_variant, "level": level}
    cell = fit_mods(yi[use], vi[use], D, intercept=False, **fit_opts)
    X = np.column_stack([np.ones(len(use)), D[:, 1:]])
    omni = fit_mods(yi[use], vi[use], X, **fit_opts)
    groups = tuple(
        SubgroupEstimate(
            lv,
            int(D[:, j].sum()),
            float(cell["beta"][j]),
            float(cell["se"][j]),
            float(cell["ci_lower"][j]),
            float(cell["ci_upper"][j]),
            float(cell["p_value"][j]),
            float(cell["tau2"]),
        )
        for j, lv in enumerate(levels)
    )
    return SubgroupAnalysis(
        name,
        "common",
        groups,
        overall,
        float(omni["qm"]),
        int(omni["qm_df"]),
        float(omni["qm_p_value"]),
        q_between_test="F" if hk else "chi2",
        q_between_df2=float(omni["qm_df2"]),
        tau2=float(omni["tau2"]),
        dropped=dropped,
    )


def subgroup_analysis(data, column: str, *, tau2: str = "separate", **options) -> SubgroupAnalysis:
    """Subgroup analysis on ``column`` with separate (default) or common τ² (see SubgroupAnalysis).

    Subgroups are listed in R's factor-level order (sorted, as metafor). Studies with a blank
    (or ``NA``) subgroup value are left out of the subgroup analysis with a warning; a
    missing column, or one with a single value, is an :class:`InputError`. ``options`` are
    those of :func:`trialsynth.stats.meta.pool_input`.
    """
    from trialsynth.stats.regression import MISSING, r_sorted_levels

    if tau2 not in ("separate", "common"):
        raise InputError("the subgroup τ² must be 'separate' or 'common'")
    name = _find_column(data, column, "subgroups")
    values = [str(v).strip() for v in data.extra_columns[name]]
    overall = pool_input(data, **options)
    present = [i for i, v in enumerate(values) if v not in MISSING]
    dropped = tuple(data.labels[i] for i, v in enumerate(values) if v in MISSING)
    if dropped:
        warnings.warn(
            f"{data.source}: left out of the subgroup analysis (no value in column '{name}'): "
            + ", ".join(dropped),
            TrialsynthWarning,
            stacklevel=2,
        )
    levels = r_sorted_levels([values[i] for i in present])
    if len(levels) < 2:
        raise InputError(
            "the column has the same value for every study; subgroups need two or more",
            file=data.source,
            column=name,
        )
    method = str(options.get("method", "REML")).upper()
    hk = bool(options.get("hk", False))
    level_opt = options.get("level", 95.0)
    level = level_opt / 100.0 if level_opt > 1 else level_opt
    random = method not in ("FE", "MH", "PETO")

    if tau2 == "separate":
        return _separate_tau2(data, name, values, present, levels, overall, dropped, random, options)
    return _common_tau2(
        data, name, values, present, levels, overall, dropped, method, hk, level, options
    )


def cumulative_by(data, column: str | None = None, *, descending: bool = False, **options):
    """Cumulative meta-analysis with studies added in the order of ``column`` (as metafor's
    ``cumul(res, order = column)``): numerically when every value is a number, otherwise in R's
    string order; ties keep the file order (also when ``descending``); blank values go last.
    Without ``column``, file order.
    """
    from trialsynth.stats.regression import MISSING, is_number, r_sort_key

    n = len(data.labels)
    if column is None:
        return cumulative(data, list(range(n)), **options)
    name = _find_column(data, column, "cumulative order")
    values = [str(v).strip() for v in data.extra_columns[name]]
    present = [i for i in range(n) if values[i] not in MISSING]
    if all(is_number(values[i]) for i in present):
        keyed = sorted(present, key=lambda i: float(values[i]), reverse=descending)
    else:
        keyed = sorted(present, key=lambda i: r_sort_key(values[i]), reverse=descending)
    order = keyed + [i for i in range(n) if values[i] in MISSING]
    return cumulative(data, order, **options)


def format_subgroups(res: SubgroupAnalysis) -> str:
    """A plain-text table of a subgroup analysis (analysis scale)."""
    lines = [f"Subgroups by '{res.column}' ({res.tau2_model} τ²):"]
    lines.append(
        f"  {'subgroup':<24} {'k':>4} {'estimate':>10} {'SE':>9} {'CI lower':>10} {'CI upper':>10} {'τ²':>9}"
    )
    for g in res.groups:
        t2 = "" if math.isnan(g.tau2) else f"{g.tau2:9.4f}"
        lines.append(
            f"  {g.name[:24]:<24} {g.k:>4} {g.estimate:10.4f} {g.se:9.4f} {g.ci_lower:10.4f} "
            f"{g.ci_upper:10.4f} {t2:>9}"
        )
    df = f"{res.q_between_df}" + ("" if res.q_between_test == "chi2" else f", {res.q_between_df2:g}")
    stat = "Q_between" if res.q_between_test == "chi2" else "F_between"
    lines.append(
        f"Test for subgroup differences: {stat} = {res.q_between:.4f} (df = {df}), "
        f"p = {res.q_between_p_value:.4g}"
    )
    return "\n".join(lines)
