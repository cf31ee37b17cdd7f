"""Run a review folder: every outcome of every analysis set, with its sensitivity analyses,
leave-one-out, subgroups and cumulative meta-analysis, into results and a report.

``analyse_review`` does the numerics and returns frozen objects; ``results_document``
turns them into the JSON-ready ``results.json`` (natural scale); ``run_review`` writes
``results.json``, the figures and ``report.html`` into an output folder.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from trialsynth._core.errors import InputError, NotEstimable, TrialsynthWarning
from trialsynth._core.results import MetaResult
from trialsynth.io.poolcsv import PoolInput, parse_pool_table
from trialsynth.io.review.nesting import nesting_levels
from trialsynth.stats.analyses import (
    SubgroupResult,
    cumulative,
    leave_one_out,
    pooled_mean_sd,
    pooled_proportion,
)
from trialsynth.stats.meta import pool_input

#: Where the bundled reviews live: package data (src/trialsynth/examples), so that an installed
#: wheel finds them as well as a checkout.
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DEFAULT_REVIEW = "imaging-guided-crt"


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
    #: ``((Moderator, MetaRegression), …)``: the review's ``[[moderators]]``, one model each.
    meta_regressions: tuple[tuple[Any, Any], ...] = ()
    #: Egger's regression test and Begg's rank test (and Harbord's for odds ratios from 2×2
    #: counts) with :data:`FUNNEL_MIN_TRIALS` or more pooled trials; None with fewer.
    small_study: Any = None
    #: Nested effect sizes (es_id/cluster columns): the
    #: :class:`~trialsynth.workflow.multilevel_outcome.MultilevelOutcome`; None otherwise.
    multilevel: Any = None


@dataclass(frozen=True)
class ReviewAnalysis:
    review: Any
    outcomes: tuple[OutcomeAnalysis, ...]
    baseline: tuple[dict[str, Any], ...]
    messages: tuple[str, ...]
    #: The review's network meta-analyses (:class:`trialsynth.workflow.networks.NetworkAnalysis`).
    networks: tuple[Any, ...] = ()


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
    nesting = nesting_levels(records)
    if nesting:
        from trialsynth.workflow.multilevel_outcome import analyse_multilevel

        return analyse_multilevel(review, outcome, set_id, table, nesting)
    header, rows, keywords = table.pool_arguments()
    keep = [i for i, r in enumerate(table.records) if r.has_data]
    rows = [rows[i] for i in keep]
    keywords["row_numbers"] = [keywords["row_numbers"][i] for i in keep]
    data, msgs = _collect(parse_pool_table, header, rows, measure=outcome.measure, **keywords)
    messages += msgs
    refuse_incomplete(data, records, outcome, table)
    level = review.analysis.level if outcome.level is None else outcome.level
    options = {
        "level": level * (100 if level <= 1 else 1),
        "profile": review.analysis.profile,
    }
    model = outcome.model
    try:
        primary, msgs = _collect(pool_input, data, **model.pool_options(), **options)
    except NotEstimable as exc:
        # Every trial with data is double-zero (say): the outcome is reported as not estimable,
        # by name, and the rest of the review is written.
        reason = f"not estimable: {exc.reason}"
        return replace(empty, messages=(*messages, reason))
    messages += msgs
    if model.robust:
        messages.append(
            f"robust = \"{model.robust}\" applies to nested effect sizes (es_id or cluster column of "
            "outcomes.csv); this outcome has one row per study: model-based tests"
        )
    sensitivity = []
    for spec in outcome.sensitivity:
        res, _ = _collect(pool_input, data, **spec.pool_options(), **options)
        sensitivity.append((spec, res))
    main_opts = {**model.pool_options(), **options}
    loo: list[tuple[str, MetaResult]] = []
    pooled = [s.study for s in primary.studies if s.included]
    if len(pooled) >= 3:
        # Only the trials the analysis pooled: a double-zero trial left out of a ratio measure
        # has nothing to leave out.
        loo, msgs = _collect(leave_one_out, data, only=pooled, **main_opts)
        messages += msgs
    subgroup_results = []
    row_of = {r.study: r for r in records}
    for sub in review.subgroups:
        # A filled cell of the subgroup column in outcomes.csv overrides the study's value.
        values = [row_of[s].get(sub.column).strip() or review.study(s).get(sub.column) for s in data.labels]
        levels = set(values)
        if len(levels) >= 2 and all(v.strip() for v in values):
            from trialsynth.stats.analyses import subgroups as subgroup_analysis

            try:
                res, msgs = _collect(
                    subgroup_analysis, _with_column(data, sub.column, values), sub.column, **main_opts
                )
            except NotEstimable as exc:
                messages.append(f"{sub.name}: not estimable ({exc.reason})")
                continue
            messages += msgs
            subgroup_results.append((sub, res))
    cum: list[tuple[str, MetaResult]] = []
    if review.cumulative is not None and len(data.labels) >= 2:
        by_study = {r.study: r for r in records}
        order = sorted(
            range(len(data.labels)), key=lambda i: (review.order_value(by_study[data.labels[i]]), i)
        )
        cum, msgs = _collect(cumulative, data, order, **main_opts)
        messages += msgs
    tsa_result, bayes_result, few = _few_trials(outcome, data, primary, model, options)
    regressions = []
    for mod in review.moderators:
        values = [row_of[s].get(mod.column).strip() or review.study(s).get(mod.column) for s in data.labels]
        try:
            reg, msgs = _collect(_regression, _with_column(data, mod.column, values), mod.column, main_opts)
        except InputError as exc:
            messages.append(f"meta-regression on {mod.name}: not estimable ({exc.reason})")
            continue
        messages += [f"meta-regression on {mod.name}: {m}" for m in msgs]
        regressions.append((mod, reg))
    return OutcomeAnalysis(
        meta_regressions=tuple(regressions),
        small_study=small_study_tests(primary, data),
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


def refuse_incomplete(data, records, outcome, table) -> None:
    """In a review, a row marked use = yes must be complete: a half-filled row is a mistake to
    fix, not a study to drop quietly."""
    if data.skipped:
        bad = next(r for r in records if r.study in data.skipped)
        raise InputError(
            f"study '{bad.study}' is marked use = yes for outcome '{outcome.id}' but its data are incomplete",
            file=table.source,
            row=bad.row,
        )


def _regression(data, column: str, options: dict):
    """One moderator's meta-regression with the outcome's model (inverse-variance fixed effect
    in place of Mantel–Haenszel or Peto, which have no meta-regression)."""
    from trialsynth.stats.regression import meta_regression

    opts = {k: v for k, v in options.items() if k not in ("glmm", "fixed")}
    method = inverse_variance_method(opts["method"], fixed=bool(options.get("fixed")))
    if method != opts["method"]:
        name = "fixed effect" if method == "FE" else f"{method} random effects"
        text = f"inverse-variance {name} used in place of {opts['method']}"
        warnings.warn(text, TrialsynthWarning, stacklevel=2)
        opts["method"] = method
    reg, _ = meta_regression(data, [column], **opts)
    return reg


def inverse_variance_method(method: str, *, fixed: bool) -> str:
    """The inverse-variance model that stands in for a fit on 2×2 counts in regression tests,
    trim and fill and meta-regression: fixed effect for MH, Peto and a fixed-effect GLMM
    (``fixed``), REML for a random-effects GLMM; an inverse-variance method itself."""
    if method in ("MH", "PETO"):
        return "FE"
    if method == "GLMM":
        return "FE" if fixed else "REML"
    return method


def small_study_tests(primary, data) -> dict[str, Any] | None:
    """Egger's regression test (metafor's ``regtest``, the model's τ² estimator and test;
    inverse-variance fixed effect for MH and Peto), Begg & Mazumdar's rank test, and Harbord's
    score test for odds ratios from 2×2 counts, on the pooled trials; None with fewer than
    :data:`FUNNEL_MIN_TRIALS` (Sterne et al., BMJ 2011;343:d4002: with fewer, the tests are
    too weak to tell asymmetry from chance)."""
    from trialsynth.stats.bias import egger_test, harbord_test, rank_test

    if primary is None or not primary.pooled:
        return None
    inc = [i for i, s in enumerate(primary.studies) if s.included]
    if len(inc) < FUNNEL_MIN_TRIALS:
        return None
    yi = [primary.studies[i].yi for i in inc]
    vi = [primary.studies[i].vi for i in inc]
    method = inverse_variance_method(primary.method, fixed=math.isnan(primary.tau2))
    hk = primary.test == "t"
    out: dict[str, Any] = {
        "k": len(inc),
        "method": method,
        "egger": egger_test(
            yi, vi, method=method, hk=hk, hk_variant=primary.hk_variant or "knha", level=primary.level / 100
        ),
        "begg": rank_test(yi, vi),
    }
    if primary.measure == "OR" and all(data.kinds[i] == "binary" for i in inc):
        v = data.values
        out["harbord"] = harbord_test(
            *(v[c][inc] for c in ("events_treatment", "n_treatment", "events_control", "n_control"))
        )
    return out


def _few_trials(outcome, data, primary, model, options):
    """Trial sequential analysis and Bayesian random effects, where the review asks for them.

    Returns ``(tsa result or None, bayes result or None, notes)``; an analysis that the data
    cannot support (no participant or event counts for TSA, say) gives a note saying why,
    never invented inputs.
    """
    notes: list[str] = []
    tsa_result = bayes_result = None
    if outcome.tsa is not None:
        from trialsynth.stats.tsa import tsa

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
        from trialsynth.stats.bayes import bayes_meta

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
                [n_k for k in mean_keys if (n_k := size(*k)) is not None],
                [means[k] for k in mean_keys],
                [sds[k] for k in mean_keys],
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
                n, p = pooled_proportion(
                    [n_k for k in pct_keys if (n_k := size(*k)) is not None], [percents[k] for k in pct_keys]
                )
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
    from trialsynth._core.progress import task
    from trialsynth.io.review import load_review

    review = load_review(Path(path))
    analyses = []
    with task("Analyses", len(review.analysis_sets) * len(review.outcomes)) as progress:
        for aset in review.analysis_sets:
            for outcome in review.outcomes:
                progress.advance(0, label=f"{outcome.id} ({aset.id})")
                analyses.append(_analyse_outcome(review, outcome, aset.id))
                progress.advance()
    from trialsynth.workflow.networks import analyse_networks

    return ReviewAnalysis(review, tuple(analyses), _baseline_summary(review), (), analyse_networks(review))


#: Fewest pooled trials for a funnel plot and trim and fill: with fewer, asymmetry cannot be
#: told from chance (Sterne et al., BMJ 2011;343:d4002, recommendation 1: at least 10 studies).
FUNNEL_MIN_TRIALS = 10


def trim_fill_for(oa):
    """Duval & Tweedie's trim and fill (L0, side from Egger's test, as metafor's ``trimfill``)
    on the primary analysis' pooled trials, with its τ² estimator (inverse-variance fixed effect
    for MH and Peto); ``None`` with fewer than :data:`FUNNEL_MIN_TRIALS` pooled trials."""
    from trialsynth.stats.bias import trim_and_fill

    res = oa.primary
    if res is None or not res.pooled or oa.multilevel is not None:
        return None
    used = [s for s in res.studies if s.included and math.isfinite(s.vi)]
    if len(used) < FUNNEL_MIN_TRIALS:
        return None
    method = inverse_variance_method(res.method, fixed=math.isnan(res.tau2))
    return trim_and_fill(
        [s.yi for s in used], [s.vi for s in used], method=method, hk=res.hk, level=res.level / 100
    )
