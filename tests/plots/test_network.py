"""Network figures: what was drawn (node positions and areas, edge widths, estimates, cell colours)."""

from __future__ import annotations

import csv
import math
from collections import Counter
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from tests.plots.test_plots import assert_clean_layout, labelled
from tests.stats.test_network import load
from trialsynth.plots.network import (
    EDGE_WIDTH_PER_TRIAL,
    NODE_AREA_MAX,
    league_heatmap,
    network_forest_plot,
    network_graph,
)
from trialsynth.stats.network import network_from_arms, network_from_contrasts, network_meta_analysis

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "network" / "data"


def _rows(name):
    with open(DATA / name, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def hasselblad():
    data = load("data/hasselblad1998_arms.csv", "OR")
    fit = network_meta_analysis(data, reference="no_contact", sucra_draws=2000, node_splitting=False)
    return _rows("hasselblad1998_arms.csv"), fit


@pytest.fixture(scope="module")
def senn():
    data = load("data/senn2013_arms.csv", "MD")
    fit = network_meta_analysis(data, reference="placebo", sucra_draws=2000, node_splitting=False)
    return _rows("senn2013_arms.csv"), fit


def _two(x: float) -> str:
    """Two decimals with a typographic minus; −0.00 is written 0.00."""
    text = f"{x:.2f}"
    return "0.00" if float(text) == 0 else text.replace("-", "\u2212")


def _by_hand(rows):
    """Participants per treatment and trials per pair, counted from the arm rows."""
    people: Counter = Counter()
    arms: dict[str, list[str]] = {}
    for r in rows:
        people[r["treatment"]] += float(r["n"])
        arms.setdefault(r["study"], []).append(r["treatment"])
    trials: Counter = Counter()
    for treatments in arms.values():
        for a, b in combinations(sorted(treatments), 2):
            trials[(a, b)] += 1
    return people, trials


@pytest.mark.parametrize("which", ["hasselblad", "senn"])
def test_network_graph_draws_sizes_and_widths_from_the_data(which, request):
    rows, res = request.getfixturevalue(which)
    people, trials = _by_hand(rows)
    fig = network_graph(res, title=which)
    info = fig.trialsynth
    (nodes,) = labelled(fig, "ts:nodes")
    names = list(res.treatments)
    # Node areas: proportional to participants, the largest NODE_AREA_MAX.
    top = max(people.values())
    want = [max(60.0, NODE_AREA_MAX * people[n] / top) for n in names]
    assert np.allclose(nodes.get_sizes(), want, rtol=1e-12)
    assert info["size_by"] == "participants"
    # Nodes on a circle, the reference at the top, the rest clockwise in the result's order.
    xy = nodes.get_offsets()
    radius = info["radius"]
    assert np.allclose(np.hypot(xy[:, 0], xy[:, 1]), radius, rtol=1e-12)
    assert np.allclose(xy[0], [0.0, radius], atol=1e-12)
    angles = np.unwrap(np.arctan2(xy[:, 1], xy[:, 0]))
    assert np.all(np.diff(angles) < 0)
    # One edge per directly compared pair, width ∝ number of trials, between the right nodes.
    edges = labelled(fig, "ts:edge")
    assert len(edges) == len(trials)
    pos = {n: tuple(xy[i]) for i, n in enumerate(names)}
    for line in edges:
        ends = [tuple(p) for p in np.column_stack([line.get_xdata(), line.get_ydata()])]
        pair = tuple(sorted(n for n, p in pos.items() if any(np.allclose(p, e) for e in ends)))
        assert line.get_linewidth() == pytest.approx(min(12.0, EDGE_WIDTH_PER_TRIAL * trials[pair]))
    assert_clean_layout(fig)


def test_graph_of_many_long_names_has_no_colliding_labels():
    names = [f"treatment number {i} (long name)" for i in range(14)]
    study, treatment, mean, sd, n = [], [], [], [], []
    for i in range(14):
        for j in (i + 1) % 14, (i + 5) % 14:
            study += [f"s{i}-{j}"] * 2
            treatment += [names[i], names[j]]
            mean += [0.1 * i, 0.1 * j]
            sd += [1.0, 1.0]
            n += [50.0 + i, 60.0]
    res = network_meta_analysis(
        network_from_arms(study, treatment, measure="MD", mean=mean, sd=sd, n=n),
        method="FE",
        sucra_draws=0,
        node_splitting=False,
        inconsistency=False,
    )
    fig = network_graph(res)
    assert_clean_layout(fig)
    assert len(labelled(fig, "ts:node-label")) == 14


def test_graph_without_arm_sizes_sizes_nodes_by_studies():
    res = network_meta_analysis(
        network_from_contrasts(
            ["a", "b", "c"], ["B", "C", "C"], ["A", "A", "B"], [0.1, 0.2, 0.1], [0.2, 0.2, 0.3], measure="MD"
        ),
        method="FE",
        sucra_draws=0,
    )
    fig = network_graph(res)
    assert fig.trialsynth["size_by"] == "studies"
    (nodes,) = labelled(fig, "ts:nodes")
    assert np.allclose(nodes.get_sizes(), [NODE_AREA_MAX] * 3)  # two studies each


@pytest.mark.parametrize("which", ["hasselblad", "senn"])
def test_forest_draws_each_treatment_against_the_reference(which, request):
    _, res = request.getfixturevalue(which)
    fig = network_forest_plot(res)
    squares = labelled(fig, "ts:estimate")
    back = math.exp if res.ratio else float
    got = sorted(float(s.get_xdata()[0]) for s in squares)
    assert got == pytest.approx(sorted(back(e.estimate) for e in res.effects), rel=1e-12)
    cis = labelled(fig, "ts:ci")
    lo, hi = fig.trialsynth["xlim"]
    for line, e in zip(cis, res.effects, strict=True):
        a, b = line.get_xdata()
        assert a == pytest.approx(max(back(e.ci_lower), lo)) and b == pytest.approx(min(back(e.ci_upper), hi))
    names = [t.get_text() for t in labelled(fig, "ts:treatment")]
    assert names == [e.treatment for e in res.effects]
    shown = [t.get_text() for t in labelled(fig, "ts:p-score")]
    pscore = {r.treatment: r.p_score for r in res.ranking}
    assert shown == [f"{pscore[e.treatment]:.2f}" for e in res.effects]
    assert_clean_layout(fig)


@pytest.mark.parametrize("which", ["hasselblad", "senn"])
def test_league_heatmap_cells_hold_the_league_table(which, request):
    import matplotlib
    from matplotlib.colors import Normalize

    _, res = request.getfixturevalue(which)
    fig = league_heatmap(res)
    t = len(res.treatments)
    cells = labelled(fig, "ts:cell")
    assert len(cells) == t * (t - 1)
    est, lo, hi = res.league_matrix()
    span = np.nanmax(np.abs(est))
    cmap, norm = matplotlib.colormaps["PuOr_r"], Normalize(-span, span)
    back = math.exp if res.ratio else float
    for cell in cells:
        j, i = (round(v) for v in cell.get_xy())
        assert cell.get_facecolor() == pytest.approx(cmap(norm(est[i, j])))
    estimates = [t.get_text() for t in labelled(fig, "ts:cell-estimate")]
    want = [_two(back(est[i, j])) for i in range(t) for j in range(t) if i != j]
    assert estimates == want
    # Row vs column: the mirror cell is the inverse (ratio) or the negative (difference).
    c = res.comparison(res.treatments[1], res.treatments[0])
    assert est[1, 0] == pytest.approx(c.estimate) and est[0, 1] == pytest.approx(-c.estimate)
    bold = [t.get_fontweight() == "bold" for t in labelled(fig, "ts:cell-estimate")]
    assert bold == [bool(lo[i, j] > 0 or hi[i, j] < 0) for i in range(t) for j in range(t) if i != j]
    assert_clean_layout(fig)
