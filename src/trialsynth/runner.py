"""Run a review folder: every outcome of every analysis set, with its sensitivity analyses,
leave-one-out, subgroups and cumulative meta-analysis, into results and a report.

``analyse_review`` does the numerics and returns frozen objects; ``results_document``
turns them into the JSON-ready ``results.json`` (natural scale); ``run_review`` writes
``results.json``, the figures and ``report.html`` into an output folder.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from trialsynth.analyses import SubgroupResult, cumulative, leave_one_out, pooled_mean_sd, pooled_proportion
from trialsynth.api import pool_input
from trialsynth.errors import InputError, TrialsynthWarning
from trialsynth.io import PoolInput, parse_pool_table
from trialsynth.results import MetaResult

#: Where the bundled reviews live (inside the source tree / installed package data).
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DEFAULT_REVIEW = "imaging-guided-crt"

RESULTS_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class OutcomeAnalysis:
    """Everything computed for one outcome in one analysis set.

    ``primary`` is None when no study has usable data. Results are on the analysis scale
    (log for ratios); ``results_document`` back-transforms.
    """

    outcome: Any
    analysis_set: str
    data: PoolInput | None
    primary: MetaResult | None
    sensitivity: tuple[tuple[Any, MetaResult], ...]
    leave_one_out: tuple[tuple[str, MetaResult], ...]
    cumulative: tuple[tuple[str, MetaResult], ...]
    subgroups: tuple[tuple[Any, SubgroupResult], ...]
    reported: Any
    used_rows: tuple[Any, ...]
    studies_in_set: tuple[str, ...]
    studies_with_data: tuple[str, ...]
    messages: tuple[str, ...]
    tsa: Any = None
    bayes: Any = None
    few_trials_notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReviewAnalysis:
    review: Any
    outcomes: tuple[OutcomeAnalysis, ...]
    baseline: tuple[dict[str, Any], ...]
    messages: tuple[str, ...]


def _collect(func, *args, **kwargs):
    """Call ``func`` and return (value, warning messages) — warnings become report notes."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TrialsynthWarning)
        value = func(*args, **kwargs)
    return value, [str(w.message) for w in caught if issubclass(w.category, TrialsynthWarning)]


def _with_column(data: PoolInput, name: str, values: list[str]) -> PoolInput:
    extra = dict(data.extra_columns)
    extra[name] = tuple(values)
    return replace(data, extra_columns=extra)


def _analyse_outcome(review, outcome, set_id: str) -> OutcomeAnalysis:
    table = review.pool_table(outcome.id, set_id)
    records = [r for r in table.records if r.has_data]
    in_set = tuple(s.id for s in review.studies_in(set_id))
    messages: list[str] = []
    reported = review.reported_for(outcome.id, set_id)
    empty = OutcomeAnalysis(outcome, set_id, None, None, (), (), (), (), reported, (), in_set, (), ())
    if not records:
        return replace(empty, messages=("no included study has usable data for this outcome",))
    header, rows, keywords = table.pool_arguments()
    keep = [i for i, r in enumerate(table.records) if r.has_data]
    rows = [rows[i] for i in keep]
    keywords["row_numbers"] = [keywords["row_numbers"][i] for i in keep]
    data, msgs = _collect(parse_pool_table, header, rows, measure=outcome.measure, **keywords)
    messages += msgs
    if data.skipped:
        # In a review, a row marked use = yes must be complete: a half-filled row is a mistake
        # to fix, not a study to drop quietly.
        bad = next(r for r in records if r.study in data.skipped)
        raise InputError(
            f"study '{bad.study}' is marked use = yes for outcome '{outcome.id}' but its data are incomplete",
            file=table.source,
            row=bad.row,
        )
    level = review.analysis.level if outcome.level is None else outcome.level
    options = {
        "level": level * (100 if level <= 1 else 1),
        "profile": review.analysis.profile,
    }
    model = outcome.model
    primary, msgs = _collect(pool_input, data, method=model.method, hk=model.hk, **options)
    messages += msgs
    sensitivity = []
    for spec in outcome.sensitivity:
        res, _ = _collect(pool_input, data, method=spec.method, hk=spec.hk, **options)
        sensitivity.append((spec, res))
    main_opts = {"method": model.method, "hk": model.hk, **options}
    loo: list[tuple[str, MetaResult]] = []
    if len(data.labels) >= 3:
        loo, _ = _collect(leave_one_out, data, **main_opts)
    subgroup_results = []
    row_of = {r.study: r for r in records}
    for sub in review.subgroups:
        # A filled cell of the subgroup column in outcomes.csv overrides the study's value.
        values = [row_of[s].get(sub.column).strip() or review.study(s).get(sub.column) for s in data.labels]
        levels = set(values)
        if len(levels) >= 2 and all(v.strip() for v in values):
            from trialsynth.analyses import subgroups as subgroup_analysis

            res, _ = _collect(
                subgroup_analysis, _with_column(data, sub.column, values), sub.column, **main_opts
            )
            subgroup_results.append((sub, res))
    cum: list[tuple[str, MetaResult]] = []
    if review.cumulative is not None and len(data.labels) >= 2:
        by_study = {r.study: r for r in records}
        order = sorted(
            range(len(data.labels)), key=lambda i: (review.order_value(by_study[data.labels[i]]), i)
        )
        cum, _ = _collect(cumulative, data, order, **main_opts)
    tsa_result, bayes_result, few = _few_trials(outcome, data, primary, model, options)
    return OutcomeAnalysis(
        tsa=tsa_result,
        bayes=bayes_result,
        few_trials_notes=tuple(few),
        outcome=outcome,
        analysis_set=set_id,
        data=data,
        primary=primary,
        sensitivity=tuple(sensitivity),
        leave_one_out=tuple(loo),
        cumulative=tuple(cum),
        subgroups=tuple(subgroup_results),
        reported=reported,
        used_rows=tuple(records),
        studies_in_set=in_set,
        studies_with_data=tuple(data.labels),
        messages=tuple(dict.fromkeys(messages)),
    )


def _few_trials(outcome, data, primary, model, options):
    """Trial sequential analysis and Bayesian random effects, where the review asks for them.

    Returns ``(tsa result or None, bayes result or None, notes)``; an analysis that the data
    cannot support (no participant or event counts for TSA, say) gives a note saying why,
    never invented inputs.
    """
    notes: list[str] = []
    tsa_result = bayes_result = None
    if outcome.tsa is not None:
        from trialsynth.tsa import tsa

        s = outcome.tsa
        try:
            tsa_result, msgs = _collect(
                tsa,
                data,
                method=model.method,
                alpha=s.alpha,
                power=s.power,
                control_risk=s.control_risk,
                rrr=s.rrr,
                mean_difference=s.mean_difference,
                sd=s.sd,
                hazard_ratio=s.hazard_ratio,
                diversity_value=s.diversity,
                better=outcome.better,
                profile=options["profile"],
            )
            notes += [f"TSA: {m}" for m in msgs]
        except InputError as exc:
            notes.append(f"Trial sequential analysis not possible with the available data: {exc.reason}")
    if outcome.bayes is not None:
        from trialsynth.bayes import bayes_meta

        inc = [s for s in primary.studies if s.included]
        bayes_result, msgs = _collect(
            bayes_meta,
            [s.yi for s in inc],
            [s.vi for s in inc],
            labels=[s.study for s in inc],
            measure=outcome.measure,
            tau_prior=outcome.bayes.tau_prior,
            mu_prior=outcome.bayes.mu_prior,
        )
        notes += [f"Bayes: {m}" for m in msgs]
    return tsa_result, bayes_result, notes


def _baseline_summary(review) -> tuple[dict[str, Any], ...]:
    """Baseline characteristics pooled across the trials that report them.

    Means with SDs are combined as one group (Cochrane Handbook 6.5.2.10), percentages as
    pooled proportions weighted by the arm size; medians are listed, never turned into
    means. Group sizes are the randomised numbers of studies.csv.
    """
    by_char: dict[str, list[Any]] = {}
    for value in review.baseline:
        by_char.setdefault(value.characteristic, []).append(value)
    out = []
    for characteristic, values in by_char.items():
        entry: dict[str, Any] = {
            "characteristic": characteristic,
            "per_study": [],
            "pooled": None,
            "reported": [],
        }
        means: dict[tuple[str, str], float] = {}
        sds: dict[tuple[str, str], float] = {}
        percents: dict[tuple[str, str], float] = {}
        known = {st.id for st in review.studies}
        for v in values:
            if v.study not in known:
                # The published review's own pooled figure (study "pooled"): shown beside ours.
                entry.setdefault("reported", []).append(
                    {"statistic": v.statistic, "value": v.value, "source": v.source, "note": v.note}
                )
                continue
            entry["per_study"].append(
                {
                    "study": v.study,
                    "arm": v.arm,
                    "statistic": v.statistic,
                    "value": v.value,
                    "kind": v.kind,
                    "source": v.source,
                }
            )
            key = (v.study, v.arm)
            if v.number is None:
                continue
            if v.statistic == "mean":
                means[key] = v.number
            elif v.statistic == "sd":
                sds[key] = v.number
            elif v.statistic == "percent":
                percents[key] = v.number

        def size(study_id: str, arm: str) -> float | None:
            s = review.study(study_id)
            t, c = s.n_randomised_treatment, s.n_randomised_control
            if arm == "treatment":
                return t
            if arm == "control":
                return c
            return (t + c) if t is not None and c is not None else None

        mean_keys = [k for k in means if k in sds and size(*k) is not None]
        if len(mean_keys) >= 1:
            n, m, sd = pooled_mean_sd(
                [size(*k) for k in mean_keys], [means[k] for k in mean_keys], [sds[k] for k in mean_keys]
            )
            entry["pooled"] = {
                "statistic": "mean (SD)",
                "mean": m,
                "sd": sd,
                "n": n,
                "studies": sorted({k[0] for k in mean_keys}),
            }
        else:
            pct_keys = [k for k in percents if size(*k) is not None]
            if pct_keys:
                n, p = pooled_proportion([size(*k) for k in pct_keys], [percents[k] for k in pct_keys])
                entry["pooled"] = {
                    "statistic": "percent",
                    "percent": p,
                    "n": n,
                    "studies": sorted({k[0] for k in pct_keys}),
                }
        not_pooled = sorted(
            {v.study for v in values if v.study in known} - set((entry["pooled"] or {}).get("studies", []))
        )
        entry["not_pooled"] = not_pooled
        out.append(entry)
    return tuple(out)


def analyse_review(path: str | Path) -> ReviewAnalysis:
    """Load a review folder and analyse every outcome of every analysis set."""
    from trialsynth.review import load_review

    review = load_review(Path(path))
    analyses = []
    for aset in review.analysis_sets:
        for outcome in review.outcomes:
            analyses.append(_analyse_outcome(review, outcome, aset.id))
    return ReviewAnalysis(review, tuple(analyses), _baseline_summary(review), ())


# --------------------------------------------------------------------------- results.json


def _num(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _nat(result: MetaResult, x: float) -> float | None:
    x = _num(x)
    if x is None:
        return None
    return math.exp(x) if result.ratio else x


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


def _bayes_entry(b) -> dict[str, Any]:
    """Posterior summaries on the natural scale (ratios exponentiated; τ on the analysis scale)."""
    tr = math.exp if b.ratio else (lambda x: x)

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
            entry["sensitivity"] = [
                {"method": spec.method, "hk": spec.hk, **_result_entry(r, labels)}
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
        entry["trim_and_fill"] = _trim_fill_entry(oa)
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
    return {
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


#: Fewest pooled trials for a funnel plot and trim and fill: with fewer, asymmetry cannot be
#: told from chance (Sterne et al., BMJ 2011;343:d4002, recommendation 1: at least 10 studies).
FUNNEL_MIN_TRIALS = 10


def trim_fill_for(oa):
    """Duval & Tweedie's trim and fill (L0, side from Egger's test, as metafor's ``trimfill``)
    on the primary analysis' pooled trials, with its τ² estimator (inverse-variance fixed effect
    for MH and Peto); ``None`` with fewer than :data:`FUNNEL_MIN_TRIALS` pooled trials."""
    from trialsynth.bias import trim_and_fill
    from trialsynth.diagnostics import FIXED_METHODS

    res = oa.primary
    if res is None or not res.pooled:
        return None
    used = [s for s in res.studies if s.included and math.isfinite(s.vi)]
    if len(used) < FUNNEL_MIN_TRIALS:
        return None
    method = "FE" if res.method in FIXED_METHODS else res.method
    return trim_and_fill(
        [s.yi for s in used], [s.vi for s in used], method=method, hk=res.hk, level=res.level / 100
    )


def _trim_fill_entry(oa) -> dict[str, Any] | None:
    """Trim and fill for results.json: natural-scale estimate and CI beside the analysis-scale fit."""
    tf = trim_fill_for(oa)
    if tf is None:
        return None
    back = math.exp if oa.primary.ratio else (lambda x: x)
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
    from trialsynth.prisma import check_prisma

    return {**counts.to_json_dict(), "problems": check_prisma(counts)}


def run_review(path: str | Path | None = None, out_dir: str | Path | None = None) -> Path:
    """Analyse a review folder and write ``results.json``, figures and ``report.html``.

    Without ``path`` the bundled imaging-guided CRT review is run into
    ``out/imaging-guided-crt``. Returns the path of the report.
    """
    path = Path(path) if path is not None else EXAMPLES / DEFAULT_REVIEW
    if not path.is_dir():
        raise InputError(f"{path}: not a review folder (no such directory)")
    out = Path(out_dir) if out_dir is not None else Path("out") / path.name
    out.mkdir(parents=True, exist_ok=True)
    analysis = analyse_review(path)
    doc = results_document(analysis)
    (out / "results.json").write_text(
        json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8"
    )
    from trialsynth.report.html import write_report

    if (path / "revman_stored.csv").exists():  # a RevMan import: compare with RevMan's own results
        from trialsynth.revman.compare import write_comparison

        write_comparison(analysis, path, out)
    return write_report(analysis, doc, out)
