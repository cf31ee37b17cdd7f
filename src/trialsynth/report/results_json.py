"""``results.json``: a review's analyses as one JSON-ready document (natural scale: ratios as
ratios), deterministic in content and order. Keys and scales: docs/results-json.md."""

from __future__ import annotations

import math
from typing import Any

from trialsynth._core.bounds import natural_scale
from trialsynth._core.results import MetaResult
from trialsynth._core.serialize import to_jsonable
from trialsynth.report.moderators import meta_regression_entries, small_study_entry
from trialsynth.report.rob2_section import rob2_json
from trialsynth.report.text import prediction_note
from trialsynth.workflow.runner import ReviewAnalysis, trim_fill_for

#: Bumped when a key of results.json changes meaning or is removed.
RESULTS_SCHEMA_VERSION = 1


def _num(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _nat(result: MetaResult, x: float) -> float | None:
    x = _num(x)
    if x is None:
        return None
    return natural_scale(x, result.ratio)


def _result_entry(result: MetaResult, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "k": result.k,
        "pooled": result.pooled,
        "method": result.method,
        "hk": result.hk,
        "profile": result.profile,
        "test": result.test,
        "estimate": _nat(result, result.estimate),
        "ci_lower": _nat(result, result.ci_lower),
        "ci_upper": _nat(result, result.ci_upper),
        "p_value": _num(result.p_value),
        "log_estimate": _num(result.estimate) if result.ratio else None,
        "log_se": _num(result.se) if result.ratio else None,
        "se": None if result.ratio else _num(result.se),
        "tau2": _num(result.tau2),
        "tau2_ci_lower": _num(result.tau2_ci_lower),
        "tau2_ci_upper": _num(result.tau2_ci_upper),
        "i2": _num(result.i2),
        "h2": _num(result.h2),
        "q": _num(result.q),
        "q_df": result.q_df,
        "q_p_value": _num(result.q_p_value),
        "pi_lower": _nat(result, result.pi_lower),
        "pi_upper": _nat(result, result.pi_upper),
        "pi_note": prediction_note(result),
        "converged": result.converged,
        "corrections": list(result.corrections),
        "notes": list(result.notes),
        "studies": [
            {
                "study": s.study,
                "label": labels.get(s.study, s.study),
                "estimate": _nat(result, s.yi),
                "ci_lower": _nat(result, s.ci_lower),
                "ci_upper": _nat(result, s.ci_upper),
                "weight": _num(s.weight),
                "included": s.included,
                "note": s.note,
            }
            for s in result.studies
        ],
    }


def _network_entry(network) -> dict[str, Any]:
    """A network meta-analysis as ``trialsynth nma --json`` prints it (analysis scale), with its id."""
    spec = network.spec
    return {
        "id": spec.id,
        "name": spec.name,
        "file": str(spec.file),
        "description": spec.description,
        **network.result.to_json_dict(),
    }


def _glmm_keys(spec) -> dict[str, Any]:
    """The binomial–normal model of a ``method = "GLMM"`` spec (nothing for other methods)."""
    return {"glmm": spec.glmm, "fixed": spec.fixed} if spec.method == "GLMM" else {}


def _bayes_entry(b) -> dict[str, Any]:
    """Posterior summaries on the natural scale (ratios exponentiated; τ on the analysis scale)."""
    tr = lambda x: natural_scale(x, b.ratio)  # noqa: E731

    def summ(s):
        return {"median": tr(s.median), "ci_lower": tr(s.ci_lower), "ci_upper": tr(s.ci_upper)}

    return {
        "mu_prior": b.mu_prior,
        "tau_prior": b.tau_prior,
        "interval": b.interval,
        "level": b.level * 100,
        "mu": summ(b.mu),
        "tau": {"median": b.tau.median, "ci_lower": b.tau.ci_lower, "ci_upper": b.tau.ci_upper},
        "predictive": summ(b.predictive),
        "p_below_null": _num(b.p_below_null),
        "bf01_tau0": _num(b.bf01_tau0),
        "bf01_mu0": _num(b.bf01_mu0),
        "notes": list(b.notes),
    }


def _reported_entry(rep) -> dict[str, Any] | None:
    if rep is None:
        return None
    return {
        "estimate": rep.estimate,
        "ci_lower": rep.ci_lower,
        "ci_upper": rep.ci_upper,
        "p_value": rep.p_value,
        "p_value_text": rep.p_value_text,
        "p_bound": rep.p_bound or None,
        "k": rep.k,
        "n": rep.n,
        "source": rep.source,
        "note": rep.note,
    }


def results_document(analysis: ReviewAnalysis) -> dict[str, Any]:
    """The JSON-ready results (natural scale: ratios as ratios), deterministic in content and order."""
    from trialsynth import __version__
    from trialsynth.report.explain import explain_difference, reporter_name

    review = analysis.review
    labels = {s.id: s.label for s in review.studies}
    outcomes = []
    for oa in analysis.outcomes:
        o = oa.outcome
        entry: dict[str, Any] = {
            "analysis_set": oa.analysis_set,
            "outcome": o.id,
            "name": o.name,
            "measure": o.measure,
            "scale": "natural",
            "unit": o.unit,
            "better": o.better,
            "model": {
                "method": o.model.method,
                "hk": o.model.hk,
                "assumption": o.model.assumption,
                "origin": o.model.origin,
                **_glmm_keys(o.model),
            },
            "k": 0 if oa.primary is None else oa.primary.k,
            "estimate": None,
            "ci_lower": None,
            "ci_upper": None,
            "p_value": None,
            "pooled": False,
            "studies_in_set": list(oa.studies_in_set),
            "studies_with_data": list(oa.studies_with_data),
            "studies_without_data": [s for s in oa.studies_in_set if s not in oa.studies_with_data],
            "reported": _reported_entry(oa.reported),
            "messages": list(oa.messages),
        }
        if oa.primary is not None:
            res = _result_entry(oa.primary, labels)
            entry.update({key: res[key] for key in ("estimate", "ci_lower", "ci_upper", "p_value", "pooled")})
            entry["result"] = res
            entry["heterogeneity"] = {key: res[key] for key in ("tau2", "i2", "h2", "q", "q_df", "q_p_value")}
            if oa.multilevel is not None:
                # As `pool --multilevel --json`: sigma2 outer level first, the model, CR2 tests.
                entry.update({k: to_jsonable(v) for k, v in oa.primary.extra.items()})
                entry["heterogeneity"]["sigma2"] = entry["sigma2"]
            entry["sensitivity"] = [
                {"method": spec.method, "hk": spec.hk, **_glmm_keys(spec), **_result_entry(r, labels)}
                for spec, r in oa.sensitivity
            ]
            entry["leave_one_out"] = [{"omitted": s, **_result_entry(r, labels)} for s, r in oa.leave_one_out]
            entry["cumulative"] = [{"added": s, **_result_entry(r, labels)} for s, r in oa.cumulative]
            entry["subgroups"] = [
                {
                    "column": sub.column,
                    "name": sub.name,
                    "groups": [{"level": lvl, **_result_entry(r, labels)} for lvl, r in res_.groups],
                    "q_between": res_.q_between,
                    "q_between_df": res_.q_between_df,
                    "q_between_p_value": res_.q_between_p_value,
                }
                for sub, res_ in oa.subgroups
            ]
            if oa.tsa is not None:
                entry["tsa"] = {"scale": "analysis (log for ratios)", **oa.tsa.to_json_dict()}
            if oa.bayes is not None:
                entry["bayes"] = _bayes_entry(oa.bayes)
            entry["few_trials_notes"] = list(oa.few_trials_notes)
            entry["rows"] = [
                {
                    "study": r.study,
                    "row": r.row,
                    "kind": r.kind,
                    "source": r.source,
                    "note": r.note,
                    "denominator": r.denominator,
                    "definition": r.definition,
                }
                for r in oa.used_rows
            ]
        entry["risk_of_bias"] = _rob_entry(review, oa, labels)
        entry["rob2_signalling"] = rob2_json(review, o.id)
        entry["trim_and_fill"] = _trim_fill_entry(oa)
        entry["small_study_tests"] = small_study_entry(oa)
        entry["meta_regression"] = meta_regression_entries(oa)
        gaps = {g.study: g.note for g in review.data_gaps(oa.analysis_set) if g.outcome == o.id}
        entry["explanation"] = explain_difference(oa, labels, gaps, reporter_name(review))
        outcomes.append(entry)
    gaps = [
        {
            "study": g.study,
            "label": labels.get(g.study, g.study),
            "outcome": g.outcome,
            "analysis_sets": list(g.analysis_sets),
            "note": g.note,
        }
        for g in review.data_gaps()
    ]
    doc = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "generator": f"trialsynth {__version__}",
        "scale": "natural (ratios exponentiated; log_estimate/log_se give the log scale)",
        "title": review.title,
        "reproduces": review.reproduces,
        "profile": review.analysis.profile,
        "analysis_sets": [
            {"id": s.id, "name": s.name, "description": s.description} for s in review.analysis_sets
        ],
        "outcomes": outcomes,
        "baseline": list(analysis.baseline),
        "lead_position": [
            {
                "study": lp.study,
                "label": labels.get(lp.study, lp.study),
                "arm": lp.arm,
                "position": lp.position,
                "percent": lp.percent,
                "kind": lp.kind,
                "source": lp.source,
            }
            for lp in review.lead_positions
        ],
        "data_gaps": gaps,
        "prisma": _prisma_entry(review.prisma),
    }
    if analysis.networks:
        doc["networks"] = [_network_entry(n) for n in analysis.networks]
    return _without_folder_paths(doc, review.path)


def _without_folder_paths(value: Any, folder) -> Any:
    """``value`` with the review folder's location left out of every string (messages name files
    relative to the folder), so that results.json is the same wherever the folder lies."""
    import os

    prefixes = sorted({str(folder) + os.sep, str(folder.resolve()) + os.sep, str(folder.absolute()) + os.sep},
                      key=len, reverse=True)
    if isinstance(value, str):
        for prefix in prefixes:
            value = value.replace(prefix, "")
        return value
    if isinstance(value, dict):
        return {k: _without_folder_paths(v, folder) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_folder_paths(v, folder) for v in value]
    return value


def _trim_fill_entry(oa) -> dict[str, Any] | None:
    """Trim and fill for results.json: natural-scale estimate and CI beside the analysis-scale fit."""
    tf = trim_fill_for(oa)
    if tf is None:
        return None
    back = lambda x: natural_scale(x, oa.primary.ratio)  # noqa: E731
    return {
        "scale": "analysis (log for ratios); estimate_natural etc. on the natural scale",
        **tf.to_json_dict(),
        "estimate_natural": back(tf.estimate),
        "ci_lower_natural": back(tf.ci_lower),
        "ci_upper_natural": back(tf.ci_upper),
    }


def _rob_entry(review, oa, labels: dict[str, str]) -> dict[str, Any] | None:
    """The outcome's RoB 2 judgements as entered and, per domain, the share of the primary
    analysis' weight at each judgement (the weighted summary plot's bars); ``None`` without
    assessments."""
    from trialsynth.plots.rob import COLUMNS, summary_fractions

    rob = review.risk_of_bias_for(oa.outcome.id)
    if not rob:
        return None
    weights = None
    if oa.primary is not None:
        weights = {s.study: s.weight for s in oa.primary.studies if s.included and s.weight == s.weight}
    shares = summary_fractions(rob, weights) if weights else None
    return {
        "tool": "RoB 2",
        "sources": sorted({r.source for r in rob}),
        "studies": [
            {"study": r.study, "label": labels.get(r.study, r.study), **r.as_dict(), "source": r.source}
            for r in rob
        ],
        "weighted_shares": None
        if shares is None
        else {c: {j.replace(" ", "_"): v for j, v in shares[c].items()} for c in COLUMNS},
    }


def _prisma_entry(counts) -> dict[str, Any] | None:
    """The PRISMA 2020 flow counts as entered, with the places where they do not add up."""
    if counts is None:
        return None
    from trialsynth.stats.prisma import check_prisma

    return {**counts.to_json_dict(), "problems": check_prisma(counts)}

