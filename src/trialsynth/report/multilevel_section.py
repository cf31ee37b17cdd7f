"""Report text for an outcome fitted by the multilevel model (nested effect sizes, see
:mod:`trialsynth.workflow.multilevel_outcome`): the model sentence, the variance components per
level with their profile-likelihood CIs and I² per level, and the study labels of the forest plot
(one row per effect size, grouped by study)."""

from __future__ import annotations

from dataclasses import replace

from trialsynth.report.explain import num, p_abstract

_LEVEL_NAMES = {"cluster": "cluster", "study": "study", "es_id": "effect size"}


def model_text(oa) -> str:
    """``Three-level random-effects model …`` naming the metafor call it equals."""
    ml = oa.multilevel
    n = len(ml.levels) + 1
    words = {3: "Three-level", 4: "Four-level"}.get(n, f"{n}-level")
    nested = " within ".join(_LEVEL_NAMES[v] for v in reversed(ml.levels))
    text = (
        f"{words} random-effects model ({ml.fit.method}), {nested}: "
        f"rma.mv(yi, vi, random = {ml.formula}) in metafor's terms"
    )
    if ml.robust is not None:
        text += (
            f"; cluster-robust (CR2) standard error, CI and t test with Satterthwaite df, clustered by "
            f"{_LEVEL_NAMES[ml.levels[0]]} ({ml.robust.n_clusters} clusters; clubSandwich's coef_test)"
        )
    return text


def heterogeneity_text(oa) -> str:
    """σ² per level with its profile-likelihood CI and I² per level (Cheung 2014), then Q_E."""
    fit = oa.multilevel.fit
    level = num(fit.level * 100 if fit.level <= 1 else fit.level, 0)
    parts = []
    for j, c in enumerate(fit.components, start=1):
        where = _LEVEL_NAMES[c.level.split("/")[-1]]
        parts.append(
            f"σ²{_sub(j)} ({where} level, {c.n_levels} groups) = {num(c.estimate, 4)} "
            f"({level}% profile CI {num(c.ci_lower, 4)} to {num(c.ci_upper, 4)}), I² = {num(c.i2, 0)}%"
        )
    return (
        "Heterogeneity: "
        + "; ".join(parts)
        + f"; total I² = {num(fit.i2, 0)}% (per level: Cheung 2014); "
        + f"Q_E = {num(fit.qe)}, df = {fit.qe_df}, {p_abstract(fit.qe_p_value)}"
    )


def _sub(j: int) -> str:
    return "".join("₀₁₂₃₄₅₆₇₈₉"[int(d)] for d in str(j))


def row_label(oa, i: int, labels: dict[str, str]) -> str:
    """A row's label: the study's label and, with several effect sizes per study, the es_id."""
    sid = oa.data.labels[i]
    base = labels.get(sid, sid)
    es = oa.multilevel.es_ids[i]
    return base if "es_id" not in oa.multilevel.levels or es == sid else f"{base} · {es}"


def display_result(oa, labels: dict[str, str]):
    """The primary result with one labelled row per effect size (for the forest plot)."""
    res = oa.primary
    return replace(
        res, studies=tuple(replace(s, study=row_label(oa, i, labels)) for i, s in enumerate(res.studies))
    )


#: Why a multilevel outcome has no funnel plot, trim and fill, Baujat or radial plot.
NO_FUNNEL = (
    "No funnel plot, trim and fill, Baujat or radial plot: they assume one independent effect per "
    "study, and this outcome has nested effect sizes (multilevel model)."
)
