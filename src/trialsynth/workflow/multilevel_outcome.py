"""An outcome of a review folder with nested effect sizes (outcomes.csv's ``es_id`` and/or
``cluster`` columns, :mod:`trialsynth.io.review.nesting`): the multilevel model
``~ 1 | cluster/study/es_id`` (the levels given) in place of the one-row-per-study analysis.

The primary result is the multilevel model's pooled estimate (or its CR2 cluster-robust
inference with Satterthwaite df when the outcome's model asks ``robust = "CR2"``) in the
shape of a :class:`~trialsynth._core.results.MetaResult`, with one row per effect size grouped
by study and weights as metafor's ``weights.rma.mv`` (the diagonal of the inverse marginal
covariance, in percent). Leave-one-out, cumulative, subgroup, sensitivity, moderator and
small-study analyses assume one independent row per study and are not run; the report says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

#: Estimators the multilevel model has; any other outcome method is replaced by REML (noted).
MULTILEVEL_METHODS = ("REML", "ML")


@dataclass(frozen=True)
class MultilevelOutcome:
    """The multilevel fit of one outcome: the model, CR2 tests (or None), the level names
    (outer first: ``cluster``, ``study``, ``es_id`` as given) and each used row's es_id."""

    fit: Any
    robust: Any
    levels: tuple[str, ...]
    es_ids: tuple[str, ...]

    @property
    def formula(self) -> str:
        return "~ 1 | " + "/".join(self.levels)


def _grouped(records) -> list[int]:
    """Row indices grouped by study (studies in order of first appearance, rows in file order)."""
    first: dict[str, int] = {}
    for i, r in enumerate(records):
        first.setdefault(r.study, i)
    return sorted(range(len(records)), key=lambda i: (first[records[i].study], i))


def analyse_multilevel(review, outcome, set_id: str, table, nesting: tuple[str, ...]):
    """The :class:`~trialsynth.workflow.runner.OutcomeAnalysis` of an outcome with nested rows."""
    from trialsynth.io.poolcsv import parse_pool_table
    from trialsynth.stats.multilevel import multilevel_input
    from trialsynth.workflow.runner import OutcomeAnalysis, _collect, refuse_incomplete

    keep = [i for i, r in enumerate(table.records) if r.has_data]
    order = [keep[j] for j in _grouped([table.records[i] for i in keep])]
    records = [table.records[i] for i in order]
    header, rows, keywords = table.pool_arguments()
    data, messages = _collect(
        parse_pool_table,
        header,
        [rows[i] for i in order],
        measure=outcome.measure,
        source=keywords["source"],
        row_numbers=[keywords["row_numbers"][i] for i in order],
        repeated=True,
    )
    refuse_incomplete(data, records, outcome, table)
    model = outcome.model
    method = model.method if model.method in MULTILEVEL_METHODS else "REML"
    levels = (("cluster",) if "cluster" in nesting else ()) + ("study",)
    if "es_id" in nesting or "cluster" not in nesting:
        levels += ("es_id",)
    formula = MultilevelOutcome(None, None, levels, ()).formula
    notes = [
        f"nested effect sizes ({', '.join(nesting)} column): multilevel model {formula} ({method}) in "
        "place of the one-row-per-study model"
    ]
    if method != model.method:
        notes.append(
            f"the multilevel model is fitted by REML: method {model.method} has no multilevel version"
        )
    level = review.analysis.level if outcome.level is None else outcome.level
    level = level * (100 if level <= 1 else 1)
    (pooled, used, fit), msgs = _collect(
        multilevel_input,
        data,
        method=method,
        level=level,
        cluster="cluster" in nesting,
        profile=review.analysis.profile,
    )
    messages += msgs
    if not fit.converged:
        messages.append("the multilevel model did not converge")
    rob = None
    if model.robust:
        from trialsynth.stats.robust import robust

        rob = robust(fit)
    es_ids = tuple(r.get("es_id").strip() or r.study for r in records)
    primary = _as_meta_result(pooled, used, fit, rob, method, formula)
    notes.append(
        "not run for nested effect sizes (they assume one independent row per study): leave-one-out, "
        "cumulative, subgroup, sensitivity, moderator and small-study analyses"
    )
    return OutcomeAnalysis(
        outcome=outcome,
        analysis_set=set_id,
        data=data,
        primary=primary,
        sensitivity=(),
        leave_one_out=(),
        cumulative=(),
        subgroups=(),
        reported=review.reported_for(outcome.id, set_id),
        used_rows=tuple(records),
        studies_in_set=tuple(s.id for s in review.studies_in(set_id)),
        studies_with_data=tuple(dict.fromkeys(data.labels)),
        messages=tuple(dict.fromkeys([*notes, *messages])),
        multilevel=MultilevelOutcome(fit, rob, levels, es_ids),
    )


def _as_meta_result(pooled, used, fit, rob, method: str, formula: str):
    """The multilevel fit in the shape of the one-row-per-study result: the intercept (CR2 when
    ``rob``) as the pooled estimate, Q_E, total I²; τ², H² and the prediction interval NaN (the
    variance components are in ``extra['sigma2']``)."""
    W = np.linalg.inv(fit.marginal)
    w = np.diag(W)
    pct = 100.0 * w / w.sum()
    weight = dict(zip((int(i) for i in used), pct, strict=True))
    studies = tuple(
        replace(s, weight=float(weight.get(i, math.nan)), included=i in weight)
        for i, s in enumerate(pooled.studies)
    )
    coef = (rob.coefficients if rob is not None else fit.coefficients)[0]
    nan = math.nan
    extra = {"sigma2": list(fit.sigma2), "multilevel": {"formula": formula, **fit.to_json_dict()}}
    if rob is not None:
        extra["robust"] = rob.to_json_dict()
    return replace(
        pooled,
        method=method,
        hk=False,
        k=fit.k,
        estimate=coef.estimate,
        se=coef.se,
        ci_lower=coef.ci_lower,
        ci_upper=coef.ci_upper,
        statistic=coef.statistic,
        p_value=coef.p_value,
        df=float(rob.df[0]) if rob is not None else nan,
        test="t" if rob is not None else fit.test,
        tau2=nan,
        tau2_ci_lower=nan,
        tau2_ci_upper=nan,
        i2=fit.i2,
        h2=nan,
        q=fit.qe,
        q_df=fit.qe_df,
        q_p_value=fit.qe_p_value,
        pi_lower=nan,
        pi_upper=nan,
        converged=fit.converged,
        iterations=fit.iterations,
        studies=studies,
        extra=extra,
    )
