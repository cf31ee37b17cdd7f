"""The self-contained HTML report of a review: figures inlined as SVG, no network, every piece
of user text escaped (Jinja2 autoescaping)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from trialsynth.report import multilevel_section as ml_section
from trialsynth.report.explain import (
    ci_digits,
    num,
    p_abstract,
    reported_sentence,
    reporter_name,
    summary_sentence,
)
from trialsynth.report.moderators import meta_regression_sections, small_study_sentence
from trialsynth.report.rob2_section import rob2_rows
from trialsynth.report.sections import _inline_svg as _svg_inline
from trialsynth.report.text import METHOD_NAMES, natural

MEASURE_NAMES = {
    "OR": "odds ratio",
    "RR": "risk ratio",
    "RD": "risk difference",
    "MD": "mean difference",
    "SMD": "standardised mean difference (Hedges' g)",
    "HR": "hazard ratio",
}


#: The conventions a review follows, as the report's header names them.
PROFILE_NAMES = {
    "metafor": "those of R's metafor package (in random-effects models I² from τ²)",
    "revman": "those of RevMan 5 (I² from Q)",
}


def _slug(*parts: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")


def _model_name(method: str, hk: bool, spec=None) -> str:
    if method == "GLMM" and spec is not None and spec.glmm:
        from trialsynth.stats.glmm_result import MODEL_NAMES

        effects = "fixed effect" if spec.fixed else "random effects"
        return f"binomial–normal GLMM {spec.glmm} ({MODEL_NAMES[spec.glmm]}), {effects}"
    return METHOD_NAMES.get(method, method) + (" with Hartung–Knapp" if hk else "")


def _ci_text(result, est, lo, hi) -> str:
    a, b = natural(result, lo), natural(result, hi)
    d = ci_digits(a, b)
    return f"{num(natural(result, est), d)} ({num(a, d)} to {num(b, d)})"


def _row_estimate(result) -> str:
    return _ci_text(result, result.estimate, result.ci_lower, result.ci_upper)


def _heterogeneity_line(result) -> str:
    if result.q_df < 1:
        return ""
    parts = []
    if result.tau2 == result.tau2:  # not NaN
        parts.append(f"τ² = {num(result.tau2, 4)}")
    parts.append(f"Q = {num(result.q)}, df = {result.q_df}, {p_abstract(result.q_p_value)}")
    i2_def = "from Q" if result.i2_from == "Q" else "from τ²"
    parts.append(f"I² = {num(result.i2, 0)}% ({i2_def})")
    return "Heterogeneity: " + "; ".join(parts)


def _arm_data(data, i: int) -> dict[str, str] | None:
    kind = data.kinds[i]
    v = data.values
    if kind == "binary":
        return {
            "treatment": f"{v['events_treatment'][i]:.0f}/{v['n_treatment'][i]:.0f}",
            "control": f"{v['events_control'][i]:.0f}/{v['n_control'][i]:.0f}",
        }
    if kind == "continuous":
        return {
            "treatment": f"{v['mean_treatment'][i]:g} ({v['sd_treatment'][i]:g}) {v['n_treatment'][i]:.0f}",
            "control": f"{v['mean_control'][i]:g} ({v['sd_control'][i]:g}) {v['n_control'][i]:.0f}",
        }
    return None


def _data_text(data, i: int) -> str:
    kind = data.kinds[i]
    arms = _arm_data(data, i)
    if arms:
        return f"{arms['treatment']} vs {arms['control']}"
    v = data.values
    if kind == "generic_ci":
        return f"{v['estimate'][i]:g} ({v['ci_lower'][i]:g} to {v['ci_upper'][i]:g})"
    if kind == "generic_log_se":
        return f"log {v['log_estimate'][i]:g}, SE {v['se'][i]:g}"
    if kind == "generic_se":
        return f"{v['estimate'][i]:g}, SE {v['se'][i]:g}"
    if kind == "hr_ome":
        return f"O−E {v['o_minus_e'][i]:g}, V {v['v'][i]:g}"
    return f"p {v['p_value'][i]:g}, {v['events'][i]:.0f} events"


def forest_figure(oa, labels: dict[str, str], review):
    """The forest plot of an outcome's primary analysis, as the report draws it (also used
    live by the browser), with what the other figures reuse: ``(figure, relabelled result,
    arm data per study, arm headers, side labels)``."""
    from trialsynth.plots import forest_plot

    display = _relabel(oa.primary, labels) if oa.multilevel is None else ml_section.display_result(oa, labels)
    arm = [_arm_data(oa.data, i) for i in range(len(oa.data.labels))]
    arm_data = arm if all(a is not None for a in arm) else None
    o = oa.outcome
    # Left of the null line is "lower": it favours the intervention when lower is better.
    sides = (
        (o.label_treatment, o.label_control) if o.better == "lower" else (o.label_control, o.label_treatment)
    )
    kind = oa.data.kinds[0] if arm_data else ""
    sub = {"binary": "n/N", "continuous": "Mean (SD) n"}.get(kind, "")
    heads = {"treatment": f"Treatment\n{sub}", "control": f"Control\n{sub}"} if sub else None
    rob = review.risk_of_bias_for(o.id)
    rob_columns = None
    if rob:
        from trialsynth.plots.rob import rob_by_label

        rob_columns = rob_by_label(rob, labels)
    fig = forest_plot(
        display, arm_data=arm_data, arm_headers=heads, labels=sides, title=o.name, risk_of_bias=rob_columns
    )
    return fig, display, arm, heads, sides


def _figures(oa, labels: dict[str, str], out: Path, stem: str, review) -> dict[str, Any]:
    """Draw the forest (and cumulative) plots of an outcome, save SVG/PNG/PDF, return inline SVG."""
    from trialsynth.plots import cumulative_plot, forest_plot, leave_one_out_plot, save_figure

    figs: dict[str, Any] = {}
    if oa.primary is None:
        return figs
    fig, display, arm, heads, sides = forest_figure(oa, labels, review)
    o = oa.outcome
    paths = save_figure(fig, out / "figures" / f"forest-{stem}")
    svg = next(p for p in paths if str(p).endswith(".svg"))
    figs["forest"] = _svg_inline(svg)
    figs["forest_files"] = [str(p.relative_to(out)) for p in paths]
    complete = all(a is not None for a in arm)
    by_label = {labels.get(sid, sid): arm[i] for i, sid in enumerate(oa.data.labels)} if complete else None
    figs["subgroup_plots"] = []
    for sub, sres in oa.subgroups:
        fig = forest_plot(
            _relabel(sres.overall, labels),
            subgroups=[(lvl, _relabel(r, labels)) for lvl, r in sres.groups],
            subgroup_test={"q": sres.q_between, "df": sres.q_between_df, "p": sres.q_between_p_value},
            arm_data=by_label,
            arm_headers=heads,
            labels=sides,
            title=f"{o.name}: by {sub.name.lower()}",
        )
        paths = save_figure(fig, out / "figures" / f"forest-{stem}-by-{_slug(sub.column)}")
        figs["subgroup_plots"].append(
            {
                "svg": _svg_inline(next(p for p in paths if str(p).endswith(".svg"))),
                "files": [str(p.relative_to(out)) for p in paths],
            }
        )
    if len(oa.cumulative) >= 2:
        steps = [(labels.get(s, s), _relabel(r, labels)) for s, r in oa.cumulative]
        fig = cumulative_plot(steps, labels=sides, title=f"{o.name}: cumulative")
        paths = save_figure(fig, out / "figures" / f"cumulative-{stem}")
        svg = next(p for p in paths if str(p).endswith(".svg"))
        figs["cumulative_plot"] = _svg_inline(svg)
        figs["cumulative_files"] = [str(p.relative_to(out)) for p in paths]
    if len(oa.leave_one_out) >= 3:
        steps = [(labels.get(s, s), _relabel(r, labels)) for s, r in oa.leave_one_out]
        fig = leave_one_out_plot(steps, overall=display, labels=sides, title=f"{o.name}: leave-one-out")
        paths = save_figure(fig, out / "figures" / f"leave-one-out-{stem}")
        figs["loo_plot"] = _svg_inline(next(p for p in paths if str(p).endswith(".svg")))
        figs["loo_files"] = [str(p.relative_to(out)) for p in paths]
    if oa.multilevel is not None:
        figs["funnel_note"] = ml_section.NO_FUNNEL
    else:
        figs.update(_funnel_figure(oa, display, out, stem))
        figs.update(_diagnostic_figures(oa, labels, out, stem))
    figs.update(_rob_figures(oa, review, labels, out, stem))
    figs["rob2_rows"] = rob2_rows(review, o.id, labels)
    if oa.tsa is not None:
        from trialsynth.plots.tsa import tsa_plot

        fig = tsa_plot(_relabel_tsa(oa.tsa, labels), title=f"{o.name}: trial sequential analysis")
        paths = save_figure(fig, out / "figures" / f"tsa-{stem}")
        svg = next(p for p in paths if str(p).endswith(".svg"))
        figs["tsa_plot"] = _svg_inline(svg)
        figs["tsa_files"] = [str(p.relative_to(out)) for p in paths]
    return figs


def _funnel_figure(oa, display, out: Path, stem: str) -> dict[str, Any]:
    """Contour-enhanced funnel plot with the trials trim and fill imputes, and what it found;
    with fewer than ten pooled trials, why there is none."""
    from trialsynth.plots import funnel_plot, save_figure
    from trialsynth.workflow.runner import FUNNEL_MIN_TRIALS, trim_fill_for

    res = oa.primary
    if not res.pooled:
        return {}
    tf = trim_fill_for(oa)
    if tf is None:
        return {
            "funnel_note": f"No funnel plot or trim and fill: with fewer than {FUNNEL_MIN_TRIALS} pooled "
            "trials, funnel-plot asymmetry cannot be told from chance (Sterne et al., BMJ 2011;343:d4002)."
        }
    filled = {"yi": tf.filled_yi, "vi": tf.filled_vi}
    fig = funnel_plot(display, contours=True, trimfill=filled, title=f"{oa.outcome.name}: funnel plot")
    paths = save_figure(fig, out / "figures" / f"funnel-{stem}")
    from trialsynth.stats.diagnostics import FIXED_METHODS

    fixed = res.method in FIXED_METHODS  # trim and fill refits MH and Peto by inverse variance
    model = "inverse-variance fixed effect" if fixed else _model_name(res.method, res.hk and tf.test == "t")
    if res.hk and not fixed and tf.test != "t":
        # With imputed trials the refit uses a z test and interval (as metafor's trimfill),
        # not the Hartung–Knapp t of the primary analysis: say so rather than name HK.
        model += ", refitted with a z test and interval (no Hartung–Knapp adjustment)"
    if tf.k0 == 0:
        found = "no trial was imputed, so the estimate is unchanged"
    else:
        trials = "trial was" if tf.k0 == 1 else "trials were"
        found = (
            f"{tf.k0} {trials} imputed on the {tf.side} side; adjusted {res.measure} "
            f"{_ci_text(res, tf.estimate, tf.ci_lower, tf.ci_upper)}, {p_abstract(tf.p_value)}"
        )
    return {
        "funnel_plot": _svg_inline(next(p for p in paths if str(p).endswith(".svg"))),
        "funnel_files": [str(p.relative_to(out)) for p in paths],
        "funnel_note": f"Trim and fill (Duval & Tweedie 2000; L0 estimator; model: {model}): {found}. "
        "Imputed trials show what asymmetry would be removed, not trials known to exist.",
    }


def _diagnostic_figures(oa, labels: dict[str, str], out: Path, stem: str) -> dict[str, Any]:
    """Baujat and Galbraith (radial) plots of a pooled outcome with three or more trials."""
    from trialsynth.plots import baujat_plot, radial_plot, save_figure
    from trialsynth.stats.diagnostics import baujat_from_fits

    res = oa.primary
    if not res.pooled:
        return {}
    if sum(s.included for s in res.studies) < 3 or len(oa.leave_one_out) < 3:
        return {"diagnostics_note": "No Baujat or Galbraith plot: they need at least three pooled trials."}
    display = _relabel(res, labels)
    loo = [(labels.get(s, s), r) for s, r in oa.leave_one_out]
    name = oa.outcome.name
    figs: dict[str, Any] = {}
    for key, fig in (
        ("baujat", baujat_plot(baujat_from_fits(display, loo), title=f"{name}: Baujat plot")),
        ("radial", radial_plot(display, title=f"{name}: Galbraith (radial) plot")),
    ):
        paths = save_figure(fig, out / "figures" / f"{key}-{stem}")
        figs[f"{key}_plot"] = _svg_inline(next(p for p in paths if str(p).endswith(".svg")))
        figs[f"{key}_files"] = [str(p.relative_to(out)) for p in paths]
    return figs


def _rob_figures(oa, review, labels: dict[str, str], out: Path, stem: str) -> dict[str, Any]:
    """RoB 2 traffic-light and weighted summary plots of an outcome, or why there are none."""
    from trialsynth.plots import save_figure
    from trialsynth.plots.rob import rob_summary_plot, traffic_light_plot

    rob = review.risk_of_bias_for(oa.outcome.id)
    if not rob:
        why = (
            "the review folder has no risk_of_bias.csv"
            if "risk_of_bias.csv" not in review.files
            else "risk_of_bias.csv has no judgements for this outcome"
        )
        return {"rob_note": f"Risk of bias (RoB 2) was not available: {why}. No judgement is assumed."}
    name = oa.outcome.name
    weights = {s.study: s.weight for s in oa.primary.studies if s.included and s.weight == s.weight}
    sources = sorted({r.source for r in rob})
    figs: dict[str, Any] = {"rob_note": "Judgements from: " + "; ".join(sources) + "."}
    for key, fig in (
        ("rob_traffic", traffic_light_plot(rob, labels=labels, title=f"{name}: risk of bias (RoB 2)")),
        ("rob_summary", rob_summary_plot(rob, weights=weights, title=f"{name}: risk of bias, weighted")),
    ):
        paths = save_figure(fig, out / "figures" / f"{key.replace('_', '-')}-{stem}")
        figs[f"{key}_plot"] = _svg_inline(next(p for p in paths if str(p).endswith(".svg")))
        figs[f"{key}_files"] = [str(p.relative_to(out)) for p in paths]
    return figs


def _relabel_tsa(result, labels: dict[str, str]):
    from dataclasses import replace

    return replace(result, labels=tuple(labels.get(s, s) for s in result.labels))


def _tsa_text(oa) -> dict[str, Any]:
    t = oa.tsa
    unit = t.information_unit
    lo, hi = natural_pair(t, t.adjusted_ci_lower, t.adjusted_ci_upper)
    return {
        "settings": (
            f"Two-sided α = {t.alpha:g}, power = {t.power * 100:g}%; required information size "
            f"{t.ris:.0f} {unit} (unadjusted {t.ris_unadjusted:.0f}; "
            f"diversity D² = {t.diversity * 100:.0f}%, {t.diversity_source}); "
            f"accrued {t.information[-1]:.0f} {unit} "
            f"({t.fraction[-1] * 100:.0f}% of the required size)."
        ),
        "result": (
            f"Cumulative Z = {t.z[-1]:.2f} against a monitoring boundary of {t.boundary[-1]:.2f}; "
            f"TSA-adjusted {t.measure} CI {num(lo)} to {num(hi)}."
        ),
        "conclusion": t.conclusion_text,
        "model": METHOD_NAMES.get(t.method, t.method),
        "assumption": oa.outcome.tsa.note,
    }


def natural_pair(res, lo: float, hi: float) -> tuple[float, float]:
    from trialsynth._core.bounds import natural_scale

    return natural_scale(lo, res.ratio), natural_scale(hi, res.ratio)


def _tau_prior_text(spec: str) -> str:
    """A Turner et al. key spelled out with its parameters and source; other priors as given."""
    if not spec.startswith("turner"):
        return spec
    from trialsynth.stats.bayes import parse_tau_prior

    return f"{spec} ({parse_tau_prior(spec).describe()})"


def _bayes_text(oa) -> dict[str, Any]:
    b = oa.bayes
    mu_lo, mu_hi = natural_pair(b, b.mu.ci_lower, b.mu.ci_upper)
    pr_lo, pr_hi = natural_pair(b, b.predictive.ci_lower, b.predictive.ci_upper)
    med = natural_pair(b, b.mu.median, b.mu.median)[0]
    below = "P(ratio < 1)" if b.ratio else "P(μ < 0)"
    bf_mu = f"{b.bf01_mu0:.3g}" if b.bf01_mu0 == b.bf01_mu0 else "not defined (improper prior on μ)"
    return {
        "priors": f"Priors: μ {b.mu_prior}; τ {_tau_prior_text(b.tau_prior)}. {oa.outcome.bayes.note}",
        "mu": f"{oa.outcome.measure} posterior median {num(med)} ({b.level * 100:g}% {b.interval} credible "
        f"interval {num(mu_lo)} to {num(mu_hi)}); {below} = {b.p_below_null:.3f}.",
        "tau": f"τ posterior median {num(b.tau.median, 3)} "
        f"({num(b.tau.ci_lower, 3)} to {num(b.tau.ci_upper, 3)}); "
        f"predictive interval for a new trial {num(pr_lo)} to {num(pr_hi)}.",
        "bf": f"Bayes factor BF01 for τ = 0: {b.bf01_tau0:.3g}; for μ = 0: {bf_mu}.",
    }


def _relabel(result, labels: dict[str, str]):
    from dataclasses import replace

    return replace(
        result, studies=tuple(replace(s, study=labels.get(s.study, s.study)) for s in result.studies)
    )


def build_context(analysis, doc: dict[str, Any], out: Path, progress=None) -> dict[str, Any]:
    """The template's context; ``progress`` (a :mod:`trialsynth._core.progress` handle) advances
    once per outcome whose figures are drawn."""
    review = analysis.review
    labels = {s.id: s.label for s in review.studies}
    set_names = {s.id: s.name for s in review.analysis_sets}
    sections = []
    summary: dict[str, dict[str, Any]] = {}
    for oa in analysis.outcomes:
        o = oa.outcome
        anchor = _slug(oa.analysis_set, o.id)
        res = oa.primary
        sec: dict[str, Any] = {
            "anchor": anchor,
            "name": o.name,
            "set_name": set_names[oa.analysis_set],
            "measure_name": MEASURE_NAMES.get(o.measure, o.measure),
            "unit": o.unit,
            "better": "lower values favour the intervention"
            if o.better == "lower"
            else "higher values favour the intervention",
            "model": _model_name(o.model.method, o.model.hk, o.model),
            "assumption": o.model.assumption,
            "reported": reported_sentence(oa.reported, o.measure),
            "explanation": next(
                e["explanation"]
                for e in doc["outcomes"]
                if e["outcome"] == o.id and e["analysis_set"] == oa.analysis_set
            ),
            "messages": list(oa.messages),
            "sentence": "",
            "sentence_label": "",
            "rows": [],
            "heterogeneity": "",
            "sensitivity": [],
            "loo": [],
            "subgroups": [],
            "meta_regression": [],
            "small_study": "",
            "cumulative": [],
            "cumulative_by": "",
            "forest": "",
            "forest_files": [],
            "cumulative_plot": "",
            "cumulative_files": [],
            "loo_plot": "",
            "loo_files": [],
            "funnel_plot": "",
            "funnel_files": [],
            "funnel_note": "",
            "subgroup_plots": [],
            "baujat_plot": "",
            "baujat_files": [],
            "radial_plot": "",
            "radial_files": [],
            "diagnostics_note": "",
            "rob_note": "",
            "rob_traffic_plot": "",
            "rob_traffic_files": [],
            "rob_summary_plot": "",
            "rob_summary_files": [],
            "tsa": None,
            "tsa_plot": "",
            "tsa_files": [],
            "bayes": None,
            "few_trials_notes": [],
        }
        if res is not None:
            sec["sentence"] = summary_sentence(res, o.measure)
            sec["sentence_label"] = "Pooled" if res.pooled else "Single trial (not pooled)"
            sec["heterogeneity"] = _heterogeneity_line(res)
            if oa.multilevel is not None:
                sec["model"] = ml_section.model_text(oa)
                sec["heterogeneity"] = ml_section.heterogeneity_text(oa)
            sec["sensitivity"] = [
                {
                    "model": _model_name(spec.method, spec.hk, spec),
                    "k": r.k,
                    "estimate": _row_estimate(r),
                    "p": p_abstract(r.p_value),
                    "tau2": num(r.tau2, 4),
                    "i2": num(r.i2, 0),
                }
                for spec, r in ((o.model, res), *oa.sensitivity)
            ] if oa.sensitivity else []  # the primary model alone would only repeat the result
            sec["loo"] = [
                {
                    "label": labels.get(s, s),
                    "estimate": _row_estimate(r),
                    "p": p_abstract(r.p_value),
                    "tau2": num(r.tau2, 4),
                    "i2": num(r.i2, 0),
                }
                for s, r in oa.leave_one_out
            ]
            sec["meta_regression"] = meta_regression_sections(oa)
            sec["small_study"] = small_study_sentence(oa)
            sec["subgroups"] = [
                {
                    "name": sub.name,
                    "rows": [
                        {"label": lvl, "k": r.k, "estimate": _row_estimate(r), "tau2": num(r.tau2, 4)}
                        for lvl, r in sres.groups
                    ],
                    "test": f"Q = {num(sres.q_between)}, df = {sres.q_between_df}, "
                    f"{p_abstract(sres.q_between_p_value)}",
                }
                for sub, sres in oa.subgroups
            ]
            sec["cumulative"] = [
                {
                    "label": labels.get(s, s),
                    "k": r.k,
                    "estimate": _row_estimate(r),
                    "p": p_abstract(r.p_value),
                }
                for s, r in oa.cumulative
            ]
            sec["cumulative_by"] = review.cumulative.order_by if review.cumulative else ""
            by_study = {r.study: r for r in oa.used_rows}
            for i, sid in enumerate(oa.data.labels):
                r = by_study[sid] if oa.multilevel is None else oa.used_rows[i]
                sec["rows"].append(
                    {
                        "label": labels.get(sid, sid)
                        if oa.multilevel is None
                        else ml_section.row_label(oa, i, labels),
                        "data": _data_text(oa.data, i),
                        "kind": r.kind,
                        "source": r.source,
                        "definition": r.definition,
                        "denominator": r.denominator,
                        "note": r.note,
                    }
                )
            sec.update(_figures(oa, labels, out, anchor, review))
            if progress is not None:
                progress.advance(label=f"{o.id} ({oa.analysis_set})")
            sec["few_trials_notes"] = list(oa.few_trials_notes)
            if oa.tsa is not None:
                sec["tsa"] = _tsa_text(oa)
            if oa.bayes is not None:
                sec["bayes"] = _bayes_text(oa)
        sections.append(sec)
        block = summary.setdefault(oa.analysis_set, {"set_name": set_names[oa.analysis_set], "rows": []})
        block["rows"].append(
            {
                "anchor": anchor,
                "name": o.name,
                "k_text": f"{0 if res is None else res.k} of {len(oa.studies_in_set)}",
                "sentence": sec["sentence"] or "no data",
                "reported": sec["reported"],
                "model": sec["model"],
            }
        )
    baseline = []
    for b in doc["baseline"]:
        per = [
            f"{labels.get(p['study'], p['study'])} ({p['arm']}): {p['statistic']} {p['value']}"
            + (" [derived]" if p["kind"] == "derived" else "")
            for p in b["per_study"]
        ]
        pooled = b["pooled"]
        if pooled is None:
            ptext = "not pooled (no trial reports it as mean and SD or percent with group sizes)"
        elif pooled["statistic"] == "percent":
            names = ", ".join(labels.get(s, s) for s in pooled["studies"])
            ptext = f"{num(pooled['percent'], 1)}% of {pooled['n']:.0f} ({names})"
        else:
            ptext = (
                f"mean {num(pooled['mean'], 1)} (SD {num(pooled['sd'], 1)}), n = {pooled['n']:.0f} "
                f"({', '.join(labels.get(s, s) for s in pooled['studies'])})"
            )
        if b.get("not_pooled"):
            ptext += "; not pooled: " + ", ".join(labels.get(s, s) for s in b["not_pooled"])
        baseline.append({"characteristic": b["characteristic"], "per_study": per, "pooled": ptext})
    lead = [
        {
            "label": lp["label"],
            "arm": lp["arm"],
            "position": lp["position"],
            "percent": num(lp["percent"], 0),
            "source": lp["source"],
        }
        for lp in doc["lead_position"]
    ]
    outcome_names = {o.id: o.name for o in review.outcomes}
    gaps = [
        {
            "outcome": outcome_names.get(g["outcome"], g["outcome"]),
            "label": g["label"],
            "sets": ", ".join(set_names.get(s, s) for s in g["analysis_sets"]),
            "note": g["note"],
        }
        for g in doc["data_gaps"]
    ]
    studies = [
        {
            "label": s.label,
            "citation": s.citation,
            "year": s.year,
            "n_t": "–" if s.n_randomised_treatment is None else s.n_randomised_treatment,
            "n_c": "–" if s.n_randomised_control is None else s.n_randomised_control,
            "follow_up": s.follow_up,
            "status": s.status,
            "note": s.note,
        }
        for s in review.studies
    ]
    if review.risk_of_bias:
        rob_sources = "; ".join(sorted({r.source for r in review.risk_of_bias}))
        rob_status = (
            f"RoB 2 (Sterne et al. 2019), {len(review.risk_of_bias)} assessments; from: {rob_sources}"
        )
    else:
        rob_status = "Not available: the review folder has no risk_of_bias.csv. No judgement is assumed."
    from trialsynth.report.network_section import network_sections
    from trialsynth.report.references import methods_paragraph, reference_section
    from trialsynth.report.sections import prisma_section, sof_section

    prisma = prisma_section(review, out)
    sof = sof_section(analysis, out)
    methods = methods_paragraph(
        review,
        rob=bool(review.risk_of_bias),
        prisma=bool(prisma["files"]),
        sof=any(r["certainty"] != "not assessed" for b in sof for r in b["rows"]),
        funnel=any(sec["funnel_files"] for sec in sections),
        generator=doc["generator"],
    )
    return {
        "networks": network_sections(analysis, out),
        "methods": methods,
        "references": reference_section(review),
        "prisma": prisma,
        "reporter": reporter_name(review),
        "sof": sof,
        "rob_status": rob_status,
        "title": review.title,
        "reproduces": review.reproduces,
        "generator": doc["generator"],
        "folder": review.path.name,
        "profile": PROFILE_NAMES.get(doc["profile"], doc["profile"]),
        "question": review.question,
        "eligibility": review.eligibility,
        "search": review.search,
        "studies": studies,
        "summary": list(summary.values()),
        "sections": sections,
        "baseline": baseline,
        "lead": lead,
        "gaps": gaps,
    }


def render_report(context: dict[str, Any]) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("trialsynth", "templates"),
        autoescape=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template("report.html.j2").render(**context)


def write_report(analysis, doc: dict[str, Any], out: Path) -> Path:
    """Write the figures and ``report.html`` into ``out``; return the report's path."""
    (out / "figures").mkdir(parents=True, exist_ok=True)
    from trialsynth._core.progress import task
    from trialsynth.io.atomic import replace_file

    with task("Figures", sum(oa.primary is not None for oa in analysis.outcomes)) as progress:
        html = render_report(build_context(analysis, doc, out, progress))
    return replace_file(out / "report.html", html)
