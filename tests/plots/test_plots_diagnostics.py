"""Baujat and Galbraith (radial) plots: what was drawn, against metafor's coordinates.

The plotted points are compared with what metafor 3.8's baujat() and radial() return for the
same fits (tests/fixtures/metafor_figures, written by validation/metafor_fixtures_figures.R);
lines and the arc are checked by hand algebra (a line of slope θ through the origin reads θ).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.plots.test_plots import assert_clean_layout, labelled, strings
from tests.stats.test_against_metafor import ABS_TOL, REL_TOL
from trialsynth.io.poolcsv import read_pool_csv
from trialsynth.plots import baujat_plot, radial_plot, save_figure
from trialsynth.stats.analyses import leave_one_out
from trialsynth.stats.diagnostics import baujat_from_fits
from trialsynth.workflow.pool_files import pool_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "metafor_figures"
CASES = {c["id"]: c for c in json.loads((FIXTURES / "cases.json").read_text())["cases"]}


def _fit(case):
    path = FIXTURES / case["input"]
    result = pool_file(path, measure=case["measure"], method=case["method"], hk=case["hk"])
    data = read_pool_csv(path, measure=case["measure"])
    return result, leave_one_out(data, method=case["method"], hk=case["hk"])


def _approx(values):
    return pytest.approx(values, rel=REL_TOL, abs=ABS_TOL)


@pytest.mark.parametrize("case_id", ["figures_bcg_RR_REML", "figures_bcg_RR_FE", "figures_bcg_RR_MH"])
def test_baujat_plot_draws_metafors_coordinates(case_id):
    case = CASES[case_id]
    result, loo = _fit(case)
    fig = baujat_plot(baujat_from_fits(result, loo), title="BCG")
    (points,) = labelled(fig, "ts:studies")
    expected = case["expected"]["baujat"]
    assert list(points.get_xdata()) == _approx([e["x"] for e in expected])
    assert list(points.get_ydata()) == _approx([e["y"] for e in expected])
    shown = strings(fig)
    assert "Contribution to overall heterogeneity (Q)" in shown
    assert "Influence on overall result" in shown
    # The top-right study (largest x/max x + y/max y) is always labelled, by name.
    xs = np.array([e["x"] for e in expected])
    ys = np.array([e["y"] for e in expected])
    top = expected[int(np.argmax(xs / xs.max() + ys / ys.max()))]["study"]
    names = [t.get_text() for t in labelled(fig, "ts:point-label")]
    assert top in names
    assert set(names) == set(fig.trialsynth["labelled"])
    assert_clean_layout(fig)


@pytest.mark.parametrize(
    "case_id", ["figures_bcg_RR_REML", "figures_bcg_RR_FE", "figures_normand1999_MD_REML"]
)
def test_radial_plot_points_line_band_and_arc(case_id):
    case = CASES[case_id]
    result, _ = _fit(case)
    fig = radial_plot(result, title="Radial")
    (points,) = labelled(fig, "ts:studies")
    expected = case["expected"]["radial"]["points"]
    x = np.array([e["x"] for e in expected])
    z = np.array([e["y"] for e in expected])
    assert list(points.get_xdata()) == _approx(list(x))
    assert list(points.get_ydata()) == _approx(list(z))
    est = case["estimate"]
    (line,) = labelled(fig, "ts:estimate")
    (x0, x1), (z0, z1) = line.get_xdata(), line.get_ydata()
    assert (x0, z0) == (0.0, 0.0)
    assert z1 / x1 == pytest.approx(est, rel=REL_TOL)  # slope = metafor's pooled estimate
    zc = 1.959963984540054  # qnorm(0.975)
    band = labelled(fig, "ts:band")
    assert sorted(b.get_ydata()[0] for b in band) == pytest.approx([-zc, zc])
    for b in band:
        (a0, a1), (c0, c1) = b.get_xdata(), b.get_ydata()
        assert (c1 - c0) / (a1 - a0) == pytest.approx(est, rel=REL_TOL)
    # Studies outside the band, by hand: |zᵢ − θ̂xᵢ| > z crit.
    names = [e["study"] for e in expected]
    assert fig.trialsynth["outside_band"] == [
        n for n, a, b in zip(names, x, z, strict=True) if abs(b - est * a) > zc
    ]
    # Every arc tick lies on the line of slope θ (its value) and on one circle (in inches).
    sx, sy = fig.trialsynth["inches_per_unit"]
    ticks = fig.trialsynth["arc_ticks"]
    assert len(ticks) >= 3
    for t in ticks:
        assert t["z"] / t["x"] == pytest.approx(t["value"], rel=1e-9, abs=1e-12)
        assert math.hypot(t["x"] * sx, t["z"] * sy) == pytest.approx(fig.trialsynth["arc_radius_inches"])
    labels = [t.get_text() for t in labelled(fig, "ts:arc-label")]
    ratio = case["measure"] in ("OR", "RR", "HR")
    assert labels == [t["label"] for t in ticks]
    for t in ticks:
        shown = math.exp(t["value"]) if ratio else t["value"]
        assert float(t["label"].replace("\u2212", "-")) == pytest.approx(shown, rel=1e-9, abs=1e-12)
    # The pooled CI on the arc: its ends read the CI bounds.
    (ci,) = labelled(fig, "ts:arc-ci")
    cx, cz = ci.get_xdata(), ci.get_ydata()
    assert [cz[0] / cx[0], cz[-1] / cx[-1]] == pytest.approx([result.ci_lower, result.ci_upper], rel=1e-9)
    assert_clean_layout(fig)


def test_ratio_arc_labels_are_ratios_and_fe_axis_titles_use_se():
    result, _ = _fit(CASES["figures_bcg_RR_FE"])
    fig = radial_plot(result)
    shown = strings(fig)
    assert "Precision, 1/SEᵢ" in shown and "Standardised effect, yᵢ/SEᵢ" in shown
    assert "Risk ratio (arc, log scale)" in shown
    assert {"0.5", "1"} <= set(t.get_text() for t in labelled(fig, "ts:arc-label"))
    re_fig = radial_plot(_fit(CASES["figures_bcg_RR_REML"])[0])
    assert "Precision, 1/√(vᵢ + τ²)" in strings(re_fig)


def test_diagnostic_plots_save_reproducibly(tmp_path):
    result, loo = _fit(CASES["figures_bcg_RR_REML"])
    for name, fig in (("b", baujat_plot(baujat_from_fits(result, loo))), ("r", radial_plot(result))):
        first = [p.read_bytes() for p in save_figure(fig, tmp_path / name)]
        again = [p.read_bytes() for p in save_figure(fig, tmp_path / name)]
        assert first == again


def _box_distance(box, x: float, y: float) -> float:
    return math.hypot(max(box.x0 - x, 0.0, x - box.x1), max(box.y0 - y, 0.0, y - box.y1))


def test_baujat_labels_are_unambiguous_and_cover_the_top_studies():
    # BCG (REML) has three studies close together near (1.5, 0.11). Each name sits nearer its
    # own point than any other point, or is joined to its point by a leader line; the eight
    # top-right studies (largest x/max x + y/max y) are all named.
    case = CASES["figures_bcg_RR_REML"]
    result, loo = _fit(case)
    fig = baujat_plot(baujat_from_fits(result, loo), title="BCG")
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    names = fig.trialsynth["studies"]
    xy = {n: ax.transData.transform(p) for n, p in zip(names, fig.trialsynth["points"], strict=True)}
    leaders = {
        tuple(np.round(ax.transData.transform(line.get_xydata()[0]), 6)): line.get_xydata()[1]
        for line in labelled(fig, "ts:leader")
    }
    led = 0
    for text in labelled(fig, "ts:point-label"):
        name = text.get_text()
        own = tuple(np.round(xy[name], 6))
        if own in leaders:  # a leader line from the point ends at the label's anchor
            assert tuple(leaders[own]) == pytest.approx(text.get_position())
            led += 1
            continue
        box = text.get_window_extent(renderer)
        mine = _box_distance(box, *xy[name])
        others = [_box_distance(box, *p) for n, p in xy.items() if n != name]
        assert mine < min(others), name
    assert led == len(labelled(fig, "ts:leader"))
    xs, ys = (np.array(v) for v in zip(*fig.trialsynth["points"], strict=True))
    score = xs / xs.max() + ys / ys.max()
    top = {names[j] for j in np.argsort(-score, kind="stable")[:8]}
    assert top == set(fig.trialsynth["labelled"])
    assert_clean_layout(fig)
