"""Plots: check what was drawn (artists and texts), not only that drawing ran."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

from trialsynth.io.poolcsv import read_pool_csv
from trialsynth.plots import cumulative_plot, forest_plot, funnel_plot, leave_one_out_plot, save_figure
from trialsynth.plots._common import num
from trialsynth.stats.analyses import cumulative, leave_one_out, subgroups
from trialsynth.stats.meta import meta_analysis, pool_input
from trialsynth.workflow.pool_files import pool_file

BCG = """study,events_treatment,n_treatment,events_control,n_control,alloc
Aronson,4,123,11,139,random
Ferguson,6,306,29,303,alternate
Rosenthal,3,231,11,220,random
Hart,62,13598,248,12867,random
Frimodt,33,5069,47,5808,alternate
Stein,180,1541,372,1451,systematic
Vandiviere,8,2545,10,629,random
TPT Madras,505,88391,499,88391,random
Coetzee,29,7499,45,7277,random
Rosenthal 2,17,1716,65,1665,systematic
Comstock,186,50634,141,27338,systematic
Comstock 2,5,2498,3,2341,systematic
Comstock 3,27,16913,29,17854,systematic
"""


@pytest.fixture
def bcg_csv(tmp_path):
    path = tmp_path / "bcg.csv"
    path.write_text(BCG)
    return path


@pytest.fixture
def bcg(bcg_csv):
    return pool_file(bcg_csv, measure="RR", method="REML")


@pytest.fixture
def bcg_data(bcg_csv):
    return read_pool_csv(bcg_csv, measure="RR")


def labelled(fig, label):
    """Artists drawn with the given ``ts:`` label."""
    return [a for a in fig.findobj() if hasattr(a, "get_label") and a.get_label() == label]


def texts(fig):
    from matplotlib.text import Text

    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text()]


def strings(fig):
    return [t.get_text() for t in texts(fig)]


def graph_axes(fig):
    return fig.axes[1]


def arms(data):
    v = data.values
    return [
        {
            "treatment": f"{v['events_treatment'][i]:.0f}/{v['n_treatment'][i]:.0f}",
            "control": f"{v['events_control'][i]:.0f}/{v['n_control'][i]:.0f}",
        }
        for i in range(len(data.labels))
    ]


def assert_clean_layout(fig):
    """Every text lies inside the figure and no two texts overlap."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts(fig)]
    width, height = fig.bbox.width, fig.bbox.height
    for text, box in boxes:
        assert box.x0 >= -0.5 and box.y0 >= -0.5, f"{text!r} is clipped at the left/bottom"
        assert box.x1 <= width + 0.5 and box.y1 <= height + 0.5, f"{text!r} is clipped at the right/top"
    for i, (ta, a) in enumerate(boxes):
        for tb, b in boxes[i + 1 :]:
            overlap_x = min(a.x1, b.x1) - max(a.x0, b.x0)
            overlap_y = min(a.y1, b.y1) - max(a.y0, b.y0)
            assert not (overlap_x > 0.5 and overlap_y > 0.5), f"{ta!r} overlaps {tb!r}"


# ---------------------------------------------------------------------------------------
# Import cost


def test_importing_plots_does_not_import_matplotlib():
    code = "import sys, trialsynth.plots; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------
# Forest plot, RevMan layout


def test_diamond_is_the_back_transformed_pooled_estimate_and_ci(bcg):
    fig = forest_plot(bcg)
    (diamond,) = labelled(fig, "ts:diamond")
    xy = np.asarray(diamond.get_xy())
    xs = sorted(set(np.round(xy[:, 0], 12)))
    assert xs == pytest.approx(
        sorted([math.exp(bcg.ci_lower), math.exp(bcg.estimate), math.exp(bcg.ci_upper)])
    )
    # the left and right vertices lie on the row's centre line, the centre ones above and below it
    left = xy[np.argmin(xy[:, 0])]
    right = xy[np.argmax(xy[:, 0])]
    assert left[0] == pytest.approx(math.exp(bcg.ci_lower))
    assert right[0] == pytest.approx(math.exp(bcg.ci_upper))
    assert left[1] == pytest.approx(right[1])
    assert fig.trialsynth["diamond"] == pytest.approx(
        (math.exp(bcg.ci_lower), math.exp(bcg.estimate), math.exp(bcg.ci_upper))
    )
    assert (
        f"{num(math.exp(bcg.estimate))} [{num(math.exp(bcg.ci_lower))}, {num(math.exp(bcg.ci_upper))}]"
        in strings(fig)
    )


def test_squares_one_per_included_study_at_the_study_estimates_with_area_proportional_to_weight(bcg):
    fig = forest_plot(bcg)
    squares = labelled(fig, "ts:square")
    included = [s for s in bcg.studies if s.included]
    assert len(squares) == len(included) == 13
    xs = [sq.get_xdata()[0] for sq in squares]
    assert xs == pytest.approx([math.exp(s.yi) for s in included])
    side = np.array([sq.get_markersize() for sq in squares])
    weights = np.array([s.weight for s in included])
    assert side**2 / (side**2).max() == pytest.approx(weights / weights.max())
    assert all(sq.get_marker() == "s" for sq in squares)


def test_study_cis_and_rows(bcg):
    fig = forest_plot(bcg)
    cis = labelled(fig, "ts:ci")
    assert len(cis) == 13
    for line, s in zip(cis, bcg.studies, strict=True):
        assert list(line.get_xdata()) == pytest.approx([math.exp(s.ci_lower), math.exp(s.ci_upper)])
    rows = [r for r in fig.trialsynth["rows"] if r["kind"] == "study"]
    assert [r["label"] for r in rows] == [s.study for s in bcg.studies]
    # squares sit on the rows of their study text
    squares = labelled(fig, "ts:square")
    assert [sq.get_ydata()[0] for sq in squares] == pytest.approx([r["y"] for r in rows])
    by_text = {t.get_text(): t for t in texts(fig)}
    assert [by_text[s.study].get_position()[1] for s in bcg.studies] == pytest.approx([r["y"] for r in rows])


def test_weight_texts_equal_the_model_weights(bcg):
    fig = forest_plot(bcg)
    shown = strings(fig)
    for s in bcg.studies:
        assert f"{s.weight:.1f}%" in shown
    assert "100.0%" in shown
    jama = forest_plot(bcg, layout="jama")
    shown = strings(jama)
    for s in bcg.studies:
        assert f"{s.weight:.1f}" in shown


def test_ratio_axis_is_log_with_round_ticks_and_null_at_one(bcg):
    fig = forest_plot(bcg)
    ax = graph_axes(fig)
    assert ax.get_xscale() == "log"
    assert fig.trialsynth["xscale"] == "log"
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert "1" in ticks
    assert all(
        t in {"0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1", "2", "5", "10", "20", "50", "100"}
        for t in ticks
    )
    lo, hi = ax.get_xlim()
    assert lo * hi == pytest.approx(1.0)  # symmetric around the null on the log scale
    (null,) = labelled(fig, "ts:null")
    assert list(null.get_xdata()) == [1.0, 1.0]


def test_mean_difference_axis_is_linear_with_raw_diamond():
    r = meta_analysis([-1.2, -0.4, 0.3], [0.25, 0.16, 0.3], labels=["A", "B", "C"], measure="MD", method="DL")
    fig = forest_plot(r)
    ax = graph_axes(fig)
    assert ax.get_xscale() == "linear"
    (diamond,) = labelled(fig, "ts:diamond")
    xs = sorted(np.asarray(diamond.get_xy())[:, 0])
    assert [xs[0], xs[-1]] == pytest.approx([r.ci_lower, r.ci_upper])
    assert r.estimate == pytest.approx(np.median(xs))
    (null,) = labelled(fig, "ts:null")
    assert list(null.get_xdata()) == [0.0, 0.0]
    # negative numbers use a typographic minus
    assert any("\u22121.20" in s for s in strings(fig))


def test_heterogeneity_overall_effect_and_model_lines(bcg):
    shown = strings(forest_plot(bcg))
    assert "Heterogeneity: Tau² = 0.31; Chi² = 152.23, df = 12 (P < 0.001); I² = 92%" in shown
    assert f"Test for overall effect: Z = {abs(bcg.statistic):.2f} (P < 0.001)" in shown
    assert "Random effects, REML" in shown


def test_fixed_effect_heterogeneity_has_no_tau2(bcg_csv):
    r = pool_file(bcg_csv, measure="OR", method="MH")
    shown = strings(forest_plot(r))
    het = next(s for s in shown if s.startswith("Heterogeneity"))
    assert "Tau²" not in het and "Chi² = " in het
    assert "Fixed effect, Mantel–Haenszel" in shown
    assert any("M-H, Fixed, 95% CI" == s for s in shown)
    assert not labelled(forest_plot(r), "ts:pi")  # no prediction interval for a fixed-effect model


def test_hartung_knapp_reports_t_with_df(bcg_csv):
    r = pool_file(bcg_csv, measure="RR", method="DL", hk=True)
    shown = strings(forest_plot(r))
    assert f"Test for overall effect: t = {abs(r.statistic):.2f}, df = 12 (P = {r.p_value:.3f})" in shown
    assert "Random effects, DerSimonian–Laird; Hartung–Knapp CI" in shown


def test_prediction_interval_drawn_under_the_diamond(bcg):
    fig = forest_plot(bcg)
    (pi,) = labelled(fig, "ts:pi")
    assert list(pi.get_xdata()) == pytest.approx([math.exp(bcg.pi_lower), math.exp(bcg.pi_upper)])
    (diamond,) = labelled(fig, "ts:diamond")
    assert pi.get_ydata()[0] > np.asarray(diamond.get_xy())[:, 1].max()  # y grows downwards
    assert not labelled(forest_plot(bcg, show_pi=False), "ts:pi")


def test_arm_data_columns_with_headers(bcg, bcg_data):
    fig = forest_plot(bcg, arm_data=arms(bcg_data), arm_headers={"treatment": "BCG", "control": "Control"})
    shown = strings(fig)
    assert "BCG" in shown and "Control" in shown
    assert "4/123" in shown and "11/139" in shown and "499/88391" in shown
    # JAMA layout: no arm data
    assert "4/123" not in strings(forest_plot(bcg, arm_data=arms(bcg_data), layout="jama"))
    with pytest.raises(ValueError, match="arm_data"):
        forest_plot(bcg, arm_data=arms(bcg_data)[:3])


def test_favours_labels_sit_either_side_of_the_null(bcg):
    fig = forest_plot(bcg, labels=("Favours BCG", "Favours control"))
    fig.canvas.draw()
    by_text = {t.get_text(): t for t in texts(fig)}
    ax = graph_axes(fig)
    null_px = ax.transData.transform((1.0, 0))[0]
    renderer = fig.canvas.get_renderer()
    left = by_text["Favours BCG"].get_window_extent(renderer)
    right = by_text["Favours control"].get_window_extent(renderer)
    assert left.x1 < null_px < right.x0
    assert left.y1 < ax.get_window_extent(renderer).y0  # under the axis


def test_study_without_data_reads_not_estimable(tmp_path):
    path = tmp_path / "missing.csv"
    path.write_text(
        "study,events_treatment,n_treatment,events_control,n_control\n"
        "Alpha,12,100,20,100\nBeta,0,50,0,48\nGamma,30,200,41,210\n"
    )
    # A double-zero table has no RR under the RevMan profile (metafor's keeps it, corrected).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = pool_file(path, measure="RR", method="REML", profile="revman")
    assert [s.included for s in r.studies] == [True, False, True]
    fig = forest_plot(r)
    assert "Not estimable" in strings(fig)
    assert len(labelled(fig, "ts:square")) == 2
    rows = {row["label"]: row for row in fig.trialsynth["rows"]}
    assert rows["Beta"]["kind"] == "missing" and rows["Beta"]["mark"] is None
    assert_clean_layout(fig)


def test_single_study_is_not_pooled_and_has_no_diamond(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text(
        "study,events_treatment,n_treatment,events_control,n_control\nAlpha,12,100,20,100\nBeta,0,50,0,48\n"
    )
    # RevMan profile: the double-zero table is left out, so one study remains.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = pool_file(path, measure="RR", method="REML", profile="revman")
    fig = forest_plot(r)
    assert not labelled(fig, "ts:diamond")
    assert fig.trialsynth["diamond"] is None
    assert "Not pooled (one study)" in strings(fig)
    assert "Heterogeneity: not applicable" in strings(fig)
    assert_clean_layout(fig)


def test_cis_beyond_the_limits_are_clipped_with_arrows(bcg):
    fig = forest_plot(bcg, xlim=(0.2, 5))
    ax = graph_axes(fig)
    assert ax.get_xlim() == pytest.approx((0.2, 5))
    beyond_low = [s for s in bcg.studies if math.exp(s.ci_lower) < 0.2]
    beyond_high = [s for s in bcg.studies if math.exp(s.ci_upper) > 5]
    pi_low = math.exp(bcg.pi_lower) < 0.2
    arrows = labelled(fig, "ts:arrow")
    assert len(arrows) == len(beyond_low) + len(beyond_high) + pi_low
    assert sorted(a.get_marker() for a in arrows) == sorted(
        ["<"] * (len(beyond_low) + pi_low) + [">"] * len(beyond_high)
    )
    for line in labelled(fig, "ts:ci"):  # the drawn segments stay inside the axis
        assert min(line.get_xdata()) >= 0.2 - 1e-12 and max(line.get_xdata()) <= 5 + 1e-12
    assert {who for who, _ in fig.trialsynth["clipped"]} >= {s.study for s in beyond_low}
    # without xlim every CI fits
    assert not labelled(forest_plot(bcg), "ts:arrow")


def test_sixty_studies_grow_the_figure_and_long_names_do_not_overlap():
    rng = np.random.default_rng(7)
    yi = rng.normal(-0.3, 0.4, 62)
    vi = rng.uniform(0.01, 0.6, 62)
    labels = [f"Study {i + 1}: multicentre randomised trial of high-dose therapy" for i in range(62)]
    labels[3] = "An extraordinarily long study name " * 4
    many = meta_analysis(yi, vi, labels=labels, measure="OR", method="DL")
    few = meta_analysis(yi[:6], vi[:6], labels=labels[:6], measure="OR", method="DL")
    fig_many, fig_few = forest_plot(many), forest_plot(few)
    h_many, h_few = fig_many.get_size_inches()[1], fig_few.get_size_inches()[1]
    assert h_many > h_few + 50 * fig_many.trialsynth["row_height_inches"]
    assert len(labelled(fig_many, "ts:square")) == 62
    shown = strings(fig_many)
    assert labels[0] in shown  # sized to fit, not cut
    assert any(s.endswith("…") and labels[3].startswith(s[:-1]) for s in shown)  # cut only when very long
    assert_clean_layout(fig_many)


def test_user_text_is_never_mathtext(bcg):
    from dataclasses import replace

    label = "$\\alpha$ <b>"
    studies = (replace(bcg.studies[0], study=label), *bcg.studies[1:])
    fig = forest_plot(replace(bcg, studies=studies), title="$x^2$ & <script>")
    (text,) = [t for t in texts(fig) if t.get_text() == label]
    assert text.get_parse_math() is False
    (title,) = [t for t in texts(fig) if t.get_text() == "$x^2$ & <script>"]
    assert title.get_parse_math() is False
    assert all(not t.get_usetex() for t in texts(fig))
    assert_clean_layout(fig)  # draws without a mathtext error


def test_revman_and_jama_layouts_are_clean(bcg, bcg_data):
    assert_clean_layout(forest_plot(bcg, arm_data=arms(bcg_data), title="BCG vaccine"))
    fig = forest_plot(bcg, layout="jama")
    assert "0.49 (0.34–0.70)" in strings(fig)
    assert "Overall" in strings(fig)
    assert_clean_layout(fig)
    with pytest.raises(ValueError, match="layout"):
        forest_plot(bcg, layout="lancet")


# ---------------------------------------------------------------------------------------
# Subgroups


def test_subgroup_forest_has_a_diamond_per_subgroup_and_overall(bcg_data):
    sg = subgroups(bcg_data, "alloc", method="REML")
    fig = forest_plot(subgroups=sg)
    subtotals = labelled(fig, "ts:subtotal")
    assert len(subtotals) == len(sg.groups) == 3
    for poly, (_, res) in zip(subtotals, sg.groups, strict=True):
        xs = np.asarray(poly.get_xy())[:, 0]
        assert [xs.min(), xs.max()] == pytest.approx([math.exp(res.ci_lower), math.exp(res.ci_upper)])
    (overall,) = labelled(fig, "ts:diamond")
    xs = np.asarray(overall.get_xy())[:, 0]
    assert [xs.min(), xs.max()] == pytest.approx(
        [math.exp(sg.overall.ci_lower), math.exp(sg.overall.ci_upper)]
    )
    assert len(labelled(fig, "ts:square")) == 13
    shown = strings(fig)
    for name, _ in sg.groups:
        assert name in shown
    q, p = sg.q_between, sg.q_between_p_value
    assert f"Test for subgroup differences: Chi² = {q:.2f}, df = 2 (P = {p:.3f}), I² = 0%" in shown
    # weights are the overall model's, subtotals their sums
    for s in sg.overall.studies:
        assert f"{s.weight:.1f}%" in shown
    assert fig.trialsynth["weights_from"] == "overall"
    assert_clean_layout(fig)


def test_subgroups_as_a_list_with_an_explicit_test(bcg_data):
    sg = subgroups(bcg_data, "alloc", method="REML")
    fig = forest_plot(
        sg.overall, subgroups=list(sg.groups), subgroup_test={"q": 0.83, "df": 2, "p": 0.66}, layout="jama"
    )
    assert len(labelled(fig, "ts:subtotal")) == 3
    assert "Test for subgroup differences: χ² = 0.83, df = 2 (P = .66), I² = 0%" in strings(fig)
    assert_clean_layout(fig)


# ---------------------------------------------------------------------------------------
# Funnel, cumulative, leave-one-out


def test_funnel_plot(bcg):
    fig = funnel_plot(bcg, trimfill=[(0.3, 0.04), (0.6, 0.01)])
    ax = fig.axes[0]
    assert ax.yaxis_inverted()
    assert ax.get_ylim()[1] == 0.0
    (points,) = labelled(fig, "ts:studies")
    assert list(points.get_xdata()) == pytest.approx([s.yi for s in bcg.studies])
    assert list(points.get_ydata()) == pytest.approx([math.sqrt(s.vi) for s in bcg.studies])
    (filled,) = labelled(fig, "ts:filled")
    assert filled.get_markerfacecolor() == "white"  # hollow
    assert list(filled.get_xdata()) == pytest.approx([0.3, 0.6])
    pseudo = labelled(fig, "ts:pseudo-ci")
    assert len(pseudo) == 2
    for line in pseudo:
        assert line.get_xdata()[0] == pytest.approx(bcg.estimate)
    contours = [a for a in fig.findobj() if str(a.get_label()).startswith("ts:contour")]
    assert len(contours) == 6  # three regions either side of the null
    assert "Risk ratio (log scale)" in strings(fig)
    plain = funnel_plot(bcg, contours=False)
    assert not [a for a in plain.findobj() if str(a.get_label()).startswith("ts:contour")]
    assert_clean_layout(fig)


def test_cumulative_and_leave_one_out_plots(bcg, bcg_data):
    steps = cumulative(bcg_data, method="REML")
    fig = cumulative_plot(steps, title="Cumulative")
    points = labelled(fig, "ts:point")
    assert len(points) == len(steps) == 13
    assert [p.get_xdata()[0] for p in points] == pytest.approx([math.exp(r.estimate) for _, r in steps])
    assert graph_axes(fig).get_xscale() == "log"
    assert labelled(fig, "ts:null")
    assert_clean_layout(fig)

    loo = leave_one_out(bcg_data, method="REML")
    fig = leave_one_out_plot(loo, overall=bcg)
    assert len(labelled(fig, "ts:point")) == 13
    (diamond,) = labelled(fig, "ts:diamond")
    xs = np.asarray(diamond.get_xy())[:, 0]
    assert [xs.min(), xs.max()] == pytest.approx([math.exp(bcg.ci_lower), math.exp(bcg.ci_upper)])
    shown = strings(fig)
    for label, r in loo:
        assert label in shown
        assert f"{math.exp(r.estimate):.2f} [{math.exp(r.ci_lower):.2f}, {math.exp(r.ci_upper):.2f}]" in shown
    assert_clean_layout(fig)

    md = [
        (str(i), meta_analysis([0.1, 0.5, -0.2][: i + 1], [0.1, 0.2, 0.1][: i + 1], measure="MD"))
        for i in range(1, 3)
    ]
    assert graph_axes(cumulative_plot(md)).get_xscale() == "linear"


# ---------------------------------------------------------------------------------------
# Saving


def test_save_figure_writes_svg_png_pdf_reproducibly(bcg, tmp_path):
    fig = forest_plot(bcg, title="BCG")
    paths = save_figure(fig, tmp_path / "figs" / "forest")
    assert [p.name for p in paths] == ["forest.svg", "forest.png", "forest.pdf"]
    svg = paths[0].read_bytes()
    assert b"Aronson" in svg  # text kept as text
    assert b"<dc:date>" not in svg and b"<metadata>" not in svg  # no date, no external namespace URLs
    assert paths[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[2].read_bytes()[:5] == b"%PDF-"
    assert b"/FontFile2" in paths[2].read_bytes()  # TrueType embedded (pdf.fonttype 42)
    from matplotlib.image import imread

    height_px = imread(paths[1]).shape[0]
    assert height_px == round(fig.get_size_inches()[1] * 300)
    again = save_figure(fig, tmp_path / "figs" / "again", formats=("svg", "pdf"))
    assert again[0].read_bytes() == svg
    assert again[1].read_bytes() == paths[2].read_bytes()
    # a fresh figure of the same result gives the same SVG too
    third = save_figure(forest_plot(bcg, title="BCG"), tmp_path / "third.svg", formats=("svg",))
    assert third[0].name == "third.svg"
    assert third[0].read_bytes() == svg
    with pytest.raises(ValueError, match="format"):
        save_figure(fig, tmp_path / "x", formats=("bmp",))


def test_pool_input_and_plot_agree_on_rows(bcg_data):
    r = pool_input(bcg_data, method="DL")
    fig = forest_plot(r)
    assert sum(row["kind"] == "study" for row in fig.trialsynth["rows"]) == r.k
