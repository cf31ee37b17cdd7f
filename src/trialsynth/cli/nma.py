"""``trialsynth nma FILE``: network meta-analysis of a table of arms or comparisons (a thin layer over
:mod:`trialsynth.stats.network`)."""

from __future__ import annotations

import json
import math

import click

from trialsynth.workflow.networks import network_file

NMA_MEASURES = ("OR", "RR", "MD", "SMD", "HR")


def _fmt(x, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}"


def format_text(res) -> str:
    """The fit for people: effects against the reference on the natural scale, τ², ranking, tests."""
    back = math.exp if res.ratio else (lambda v: v)
    model = "fixed effect" if res.method == "FE" else f"random effects ({res.method})"
    lines = [
        f"Network meta-analysis: {res.measure}, {model}; {res.k} studies, {len(res.treatments)} treatments, "
        f"{res.n_designs} designs, {res.n_contrasts} contrasts",
    ]
    if res.method != "FE":
        lines.append(f"tau^2 = {res.tau2:.4g} (tau = {math.sqrt(res.tau2):.4g})")
    width = max(len(t) for t in res.treatments) + 2
    lines += ["", f"{'Treatment':<{width}}{res.measure} vs {res.reference} [{res.level:g}% CI]".rstrip()]
    for e in res.effects:
        ci = f"[{_fmt(back(e.ci_lower))}, {_fmt(back(e.ci_upper))}]"
        lines.append(f"{e.treatment:<{width}}{_fmt(back(e.estimate))} {ci}  p = {e.p_value:.3g}")
    lines += ["", f"Ranking ({res.better} is better): P-score, SUCRA ({res.sucra_draws} draws), mean rank"]
    for r in sorted(res.ranking, key=lambda r: -r.p_score):
        lines.append(f"{r.treatment:<{width}}{_fmt(r.p_score, 3)}  {_fmt(r.sucra, 3)}  {_fmt(r.mean_rank)}")
    lines += ["", "Inconsistency"]
    if res.inconsistency_df > 0:
        lines.append(
            f"  design-by-treatment interaction: chi^2 = {res.inconsistency_chi2:.3f}, "
            f"df = {res.inconsistency_df}, p = {res.inconsistency_p:.3g}"
        )
    else:
        lines.append("  design-by-treatment interaction: not testable (no closed loop or repeated design)")
    lines.append(
        f"  Q total = {res.q_total:.3f} (df {res.q_total_df}); within designs = {_fmt(res.q_within, 3)} "
        f"(df {res.q_within_df}); between designs = {_fmt(res.q_between, 3)} (df {res.q_between_df})"
    )
    if res.node_splits:
        lines.append(f"  node-splitting ({res.measure}, direct vs indirect):")
        for s in res.node_splits:
            lines.append(
                f"    {s.treatment_1} vs {s.treatment_2}: direct {_fmt(back(s.direct))} ({s.k_direct} "
                f"stud{'y' if s.k_direct == 1 else 'ies'}), indirect {_fmt(back(s.indirect))}, "
                f"p = {s.p_value:.3g}"
            )
    return "\n".join(lines)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--measure", required=True, type=click.Choice(NMA_MEASURES, case_sensitive=False), help="Effect measure."
)
@click.option("--reference", default=None, help="Reference treatment [default: the first in sorted order].")
@click.option(
    "--method",
    default="REML",
    show_default=True,
    type=click.Choice(["REML", "ML", "FE"], case_sensitive=False),
    help="τ² common to the network by REML or ML, or the fixed-effect model.",
)
@click.option("--level", default=95.0, show_default=True, type=float, help="Confidence level in percent.")
@click.option(
    "--better",
    default="lower",
    show_default=True,
    type=click.Choice(["lower", "higher"]),
    help="Which values are better, for P-scores and SUCRA (lower: fewer bad events).",
)
@click.option("--add", default=0.5, show_default=True, type=float, help="Continuity correction (arm counts).")
@click.option(
    "--to",
    "add_to",
    default="only0",
    show_default=True,
    type=click.Choice(["only0", "all", "none"]),
    help="Studies whose arms get the correction: only0 (an arm with no events or only events), all, none.",
)
@click.option(
    "--draws",
    default=100_000,
    show_default=True,
    type=click.IntRange(min=0),
    help="Normal draws for SUCRA and rank probabilities (0: none).",
)
@click.option("--seed", default=20261205, show_default=True, type=int, help="Seed of those draws.")
@click.option(
    "--figures",
    "figures_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Also write network, forest and league figures (SVG, PNG, PDF) to this folder.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object (analysis scale: log for ratios)."
)
def nma(
    file, measure, reference, method, level, better, add, add_to, draws, seed, figures_dir, as_json
) -> None:
    """Network meta-analysis of the trials in FILE (CSV).

    \b
    Columns, by name (case ignored):
      one row per arm:         study, treatment, events, n        (OR, RR)
                               study, treatment, mean, sd, n      (MD, SMD)
      one row per comparison:  study, treatment_1, treatment_2, estimate, se   (MD, SMD)
                               study, treatment_1, treatment_2, log_estimate, se   (OR, RR, HR)
                               [n_1, n_2 optional]; a multi-arm study gives every pair of its arms.
    Contrast-based consistency model with one τ² (metafor's rma.mv network model); prints every
    treatment against the reference, P-scores, SUCRA, the design-by-treatment test, the Q decomposition
    and node-splitting. --json also has the full league table.
    """
    result = network_file(
        file,
        measure=measure,
        reference=reference,
        method=method.upper(),
        level=level,
        better=better,
        add=add,
        to=add_to,
        draws=draws,
        seed=seed,
    )
    if figures_dir:
        from pathlib import Path

        from trialsynth.plots import league_heatmap, network_forest_plot, network_graph, save_figure

        out = Path(figures_dir)
        save_figure(network_graph(result), out / "network")
        save_figure(network_forest_plot(result), out / "network_forest")
        save_figure(league_heatmap(result), out / "league_table")
    if as_json:
        click.echo(json.dumps(result.to_json_dict(), indent=2, ensure_ascii=False, allow_nan=False))
    else:
        click.echo(format_text(result))
