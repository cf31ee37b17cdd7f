"""The report's section for each network meta-analysis of a review (``[[networks]]``): the
network graph, the forest plot against the reference and the league table as a heat map, with
the effects, the ranking and the inconsistency tests as tables."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from trialsynth.report.explain import num, p_abstract
from trialsynth.report.sections import _inline_svg

MODEL_TEXT = {
    "REML": "random effects, one τ² common to the network by REML",
    "ML": "random effects, one τ² common to the network by maximum likelihood",
    "FE": "fixed (common) effect",
}
REFERENCES = (
    "Contrast-based consistency model as metafor's rma.mv on the network's design matrix "
    "(Salanti et al., Stat Methods Med Res 2008;17:279–301); P-scores (Rücker & Schwarzer, "
    "BMC Med Res Methodol 2015;15:58); design-by-treatment interaction test (Higgins et al., Res "
    "Synth Methods 2012;3:98–110); node-splitting (Dias et al., Stat Med 2010;29:932–944)."
)


def _figure(fig, out: Path, stem: str) -> tuple[str, list[str]]:
    from trialsynth.plots import save_figure

    paths = save_figure(fig, out / "figures" / stem)
    svg = next(p for p in paths if p.suffix == ".svg")
    return _inline_svg(svg), [str(p.relative_to(out)) for p in paths]


def _effect_rows(res) -> list[dict[str, str]]:
    back = math.exp if res.ratio else (lambda v: v)
    return [
        {
            "treatment": e.treatment,
            "estimate": f"{num(back(e.estimate))} ({num(back(e.ci_lower))} to {num(back(e.ci_upper))})",
            "p": p_abstract(e.p_value),
        }
        for e in res.effects
    ]


def _ranking_rows(res) -> list[dict[str, str]]:
    return [
        {
            "treatment": r.treatment,
            "p_score": num(r.p_score, 3),
            "sucra": num(r.sucra, 3),
            "mean_rank": num(r.mean_rank),
        }
        for r in sorted(res.ranking, key=lambda r: -r.p_score)
    ]


def _inconsistency(res) -> list[str]:
    back = math.exp if res.ratio else (lambda v: v)
    lines = []
    if res.inconsistency_df > 0:
        lines.append(
            f"Design-by-treatment interaction: χ² = {num(res.inconsistency_chi2)}, "
            f"df = {res.inconsistency_df}, {p_abstract(res.inconsistency_p)}."
        )
    else:
        lines.append("Design-by-treatment interaction: not testable (no closed loop or repeated design).")
    for s in res.node_splits:
        lines.append(
            f"{s.treatment_1} vs {s.treatment_2}: direct {num(back(s.direct))} ({s.k_direct} "
            f"stud{'y' if s.k_direct == 1 else 'ies'}), indirect {num(back(s.indirect))}, "
            f"{p_abstract(s.p_value)} for the difference."
        )
    return lines


def network_sections(analysis, out: Path) -> list[dict[str, Any]]:
    """One dict per network for the template; figures written to ``out/figures``."""
    from trialsynth.plots import league_heatmap, network_forest_plot, network_graph

    sections = []
    for network in analysis.networks:
        spec, res = network.spec, network.result
        stem = f"network-{spec.id}"
        graph, graph_files = _figure(network_graph(res, title=spec.name), out, stem)
        forest, forest_files = _figure(network_forest_plot(res), out, f"{stem}-forest")
        league, league_files = _figure(league_heatmap(res), out, f"{stem}-league")
        tau = "" if res.method == "FE" else f"; τ² = {num(res.tau2, 4)}"
        sections.append(
            {
                "anchor": stem,
                "name": spec.name,
                "description": spec.description,
                "file": spec.file.name,
                "model": (
                    f"{res.measure}, {MODEL_TEXT[res.method]}; {res.k} studies, {len(res.treatments)} "
                    f"treatments, {res.n_designs} designs; reference {res.reference}{tau}. "
                    f"Ranking: {res.better} values are better."
                ),
                "references": REFERENCES,
                "measure": res.measure,
                "reference": res.reference,
                "level": f"{res.level:g}",
                "effects": _effect_rows(res),
                "ranking": _ranking_rows(res),
                "inconsistency": _inconsistency(res),
                "graph": graph,
                "forest": forest,
                "league": league,
                "files": graph_files + forest_files + league_files,
            }
        )
    return sections
