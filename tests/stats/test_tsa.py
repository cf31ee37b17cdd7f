"""Trial sequential analysis against independent sources.

* rpact 3.3 (R; Debian r-cran-rpact) as the oracle for Lan–DeMets α-spending boundaries,
  β-spending futility boundaries with their drift, Schoenfeld event counts and the sample
  size for a mean difference: pinned in tests/fixtures/bayes_tsa/rpact.json by
  validation/bayes_tsa_fixtures.R, re-run live when R with rpact is available
  (TRIALSYNTH_REQUIRE_R=1 makes a missing R a failure).
* The published two-sided O'Brien–Fleming-type Lan–DeMets boundaries for five equally spaced
  looks at α = 0.05 (4.877, 3.357, 2.680, 2.290, 2.031; DeMets & Lan, Stat Med
  1994;13:1341–1352, the table comparing spending-function boundaries).
* An exact two-look crossing probability by one-dimensional quadrature (hand algebra:
  P(|Z₁| < b₁, Z₂ ≥ b₂) = ∫ φ(z) Φ̄((b₂ − ρz)/√(1 − ρ²)) dz over |z| < b₁, ρ = √(t₁/t₂)), where
  rpact is inaccurate (tiny fractions, looks close together).
* metafor's pinned FE and DL fits (tests/fixtures/metafor) for the diversity D².
* Hand algebra for the binary required information size (Wetterslev et al. 2008).
"""

from __future__ import annotations

import itertools
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import integrate, optimize, special, stats

from tests.rlive import run_r_script
from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth.cli import main
from trialsynth.io.poolcsv import parse_pool_table, read_pool_csv
from trialsynth.plots.tsa import tsa_plot
from trialsynth.stats.tsa import (
    alpha_spending_obf,
    diversity,
    efficacy_boundaries,
    futility_boundaries,
    required_information_size,
    tsa,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "bayes_tsa"
R_SCRIPT = REPO / "validation" / "bayes_tsa_fixtures.R"
RPACT = json.loads((FIXTURES / "rpact.json").read_text(encoding="utf-8"))

# Tolerances.
# BOUNDARY_TOL: rpact's own boundaries agree with exact integrals to ~4e-6 at worst (its
# root-finding tolerance); ours to ~1e-9. Futility values and drifts likewise.
BOUNDARY_TOL = 1e-5
# EXACT_TOL: against the exact two-look integral (scipy quad at rel 1e-13, brentq at 1e-13).
EXACT_TOL = 1e-7
# PUBLISHED_TOL: published boundaries are printed to 3 decimals.
PUBLISHED_TOL = 5e-4 + 1e-9
# SIZE_REL_TOL: closed-form sample sizes, relative.
SIZE_REL_TOL = 1e-9
# D2_TOL: D² from metafor's SEs (pinned at full precision; REL_TOL 1e-6 on the SEs).
D2_TOL = 1e-6


# --------------------------------------------------------------------------- boundaries


@pytest.mark.parametrize("case", RPACT["efficacy"], ids=[c["id"] for c in RPACT["efficacy"]])
def test_efficacy_boundaries_match_rpact(case):
    got = efficacy_boundaries(case["t"], case["alpha"])
    assert np.allclose(got, case["boundary"], rtol=0, atol=BOUNDARY_TOL), (got, case["boundary"])


@pytest.mark.parametrize("case", RPACT["futility"], ids=[c["id"] for c in RPACT["futility"]])
def test_futility_boundaries_and_drift_match_rpact(case):
    a, drift = futility_boundaries(case["t"], case["alpha"], case["beta"])
    assert np.allclose(a, case["futility"], rtol=0, atol=BOUNDARY_TOL), (a, case["futility"])
    assert math.isclose(drift, case["drift"], rel_tol=0, abs_tol=BOUNDARY_TOL)


def test_published_lan_demets_five_equal_looks():
    """Two-sided α = 0.05, O'Brien–Fleming-type spending, five equally spaced analyses."""
    published = [4.877, 3.357, 2.680, 2.290, 2.031]
    got = efficacy_boundaries([0.2, 0.4, 0.6, 0.8, 1.0], 0.05)
    assert np.allclose(got, published, rtol=0, atol=PUBLISHED_TOL), got


def _exact_second_boundary(t1: float, t2: float, alpha: float) -> tuple[float, float]:
    """b₁, b₂ for two looks by direct quadrature (independent of the grid recursion)."""
    side = alpha_spending_obf([t1, t2], alpha) / 2.0
    b1 = float(-special.ndtri(side[0]))
    rho = math.sqrt(t1 / t2)

    def upper(b2):
        f = lambda z: stats.norm.pdf(z) * special.ndtr(-(b2 - rho * z) / math.sqrt(1 - rho**2))  # noqa: E731
        return integrate.quad(f, -b1, b1, epsabs=0, epsrel=1e-13, limit=400)[0]

    b2 = optimize.brentq(lambda b: upper(b) - (side[1] - side[0]), 0.5, 12.0, xtol=1e-13)
    return b1, b2


@pytest.mark.parametrize(
    ("t1", "t2", "alpha"),
    [(0.12, 0.19, 0.05), (0.3, 0.31, 0.05), (0.5, 0.505, 0.01), (0.1, 0.5, 0.05), (0.6, 1.0, 0.01)],
)
def test_boundaries_match_exact_two_look_integral(t1, t2, alpha):
    b1, b2 = _exact_second_boundary(t1, t2, alpha)
    got = efficacy_boundaries([t1, t2], alpha)
    assert abs(got[0] - b1) < EXACT_TOL and abs(got[1] - b2) < EXACT_TOL, (got, b1, b2)


def test_single_look_at_full_information_is_the_fixed_sample_boundary():
    assert abs(efficacy_boundaries([1.0], 0.05)[0] - 1.959963984540054) < EXACT_TOL


def test_negligible_looks_get_their_first_look_value_and_do_not_disturb_later_ones():
    # t = 0.01 spends ~1e-100: the boundary is the first-look value and later looks are as
    # if it had not happened (it absorbs nothing).
    b = efficacy_boundaries([0.01, 0.4, 1.0], 0.05)
    b_first = (
        float(-special.ndtri(alpha_spending_obf(0.01, 0.05) / 2.0))
        if alpha_spending_obf(0.01, 0.05) > 0
        else None
    )
    assert b[0] > 20 and (b_first is None or abs(b[0] - b_first) < 1e-6)
    assert np.allclose(b[1:], efficacy_boundaries([0.4, 1.0], 0.05), atol=1e-12)


# --------------------------------------------------------------------------- information size


def test_binary_ris_by_hand():
    # p_C = 0.30, RRR = 0.20: p_E = 0.24, p̄ = 0.27, δ = 0.06; z_0.975 + z_0.80 = 2.801585...
    zsum = 1.959963984540054 + 0.8416212335729143
    want = 4 * zsum**2 * 0.27 * 0.73 / 0.06**2
    got = required_information_size(alpha=0.05, power=0.8, control_risk=0.30, rrr=0.20)
    assert math.isclose(got, want, rel_tol=SIZE_REL_TOL)
    assert 1718 < got < 1719  # 1718.9 participants


def test_ris_takes_percentages_and_rejects_impossible_levels():
    frac = required_information_size(alpha=0.05, power=0.9, control_risk=0.30, rrr=0.20)
    assert required_information_size(alpha=5, power=90, control_risk=0.30, rrr=0.20) == frac
    for bad in ({"alpha": 0.0, "power": 0.9}, {"alpha": 0.05, "power": 1.0}, {"alpha": 0.7, "power": 0.9}):
        with pytest.raises(InputError):
            required_information_size(control_risk=0.30, rrr=0.20, **bad)


@pytest.mark.parametrize("case", RPACT["schoenfeld_events"], ids=lambda c: f"HR{c['hazard_ratio']}")
def test_hazard_ratio_ris_matches_rpact_schoenfeld(case):
    got = required_information_size(
        alpha=case["alpha"], power=case["power"], hazard_ratio=case["hazard_ratio"]
    )
    assert math.isclose(got, case["events"], rel_tol=SIZE_REL_TOL)


@pytest.mark.parametrize(
    "case", RPACT["mean_difference_participants"], ids=lambda c: f"MD{c['mean_difference']}"
)
def test_mean_difference_ris_matches_rpact(case):
    got = required_information_size(
        alpha=case["alpha"], power=case["power"], mean_difference=case["mean_difference"], sd=case["sd"]
    )
    assert math.isclose(got, case["participants"], rel_tol=SIZE_REL_TOL)


def test_diversity_from_metafor_standard_errors():
    """D² = 1 − SE_FE²/SE_DL² with metafor's SEs, on each dataset pinned with both fits."""
    cases = json.loads((REPO / "tests" / "fixtures" / "metafor" / "cases.json").read_text())["cases"]
    by_input: dict[tuple, dict] = {}
    for c in cases:
        if not c["hk"] and c["method"] in ("FE", "DL"):
            by_input.setdefault((c["input"], c["measure"], c["level"]), {})[c["method"]] = c
    checked = 0
    for (inp, measure, _level), fits in by_input.items():
        if set(fits) != {"FE", "DL"}:
            continue
        want = 1 - fits["FE"]["expected"]["se"] ** 2 / fits["DL"]["expected"]["se"] ** 2
        studies = fits["DL"]["expected"]["studies"]
        got = diversity([s["effect"] for s in studies], [s["variance"] for s in studies], "DL")
        assert abs(got - max(0.0, want)) < D2_TOL, (inp, measure, got, want)
        checked += 1
    assert checked >= 5


# --------------------------------------------------------------------------- the analysis


def _table(rows, header=("study", "events_treatment", "n_treatment", "events_control", "n_control")):
    return parse_pool_table(list(header), [[str(x) for x in r] for r in rows], measure="RR", source="t.csv")


def test_crins_tsa_is_consistent_with_its_parts():
    data = read_pool_csv(FIXTURES / "crins2014.csv", measure="RR")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        res = tsa(data, method="DL", alpha=0.05, power=0.8, control_risk=0.5, rrr=0.3)
    n = [81, 56, 30, 108, 72, 84]
    assert res.information == tuple(float(x) for x in np.cumsum(n))
    assert math.isclose(res.ris, res.ris_unadjusted / (1 - res.diversity))
    t = np.asarray(res.information) / res.ris
    design = np.append(t, 1.0)
    assert np.allclose(res.boundary, efficacy_boundaries(design, 0.05)[:-1], atol=1e-12)
    assert math.isclose(res.adjusted_ci_lower, res.estimate - res.boundary[-1] * res.se)
    assert math.isclose(res.adjusted_ci_upper, res.estimate + res.boundary[-1] * res.se)
    assert res.conclusion == "not yet conclusive"


def test_conclusions_benefit_harm_futility():
    big = [[f"T{i}", 60, 1000, 100, 1000] for i in range(3)]
    data = _table(big)
    kw = dict(method="FE", alpha=0.05, power=0.8, control_risk=0.10, rrr=0.2)
    assert tsa(data, **kw).conclusion == "benefit"
    assert tsa(data, better="higher", **kw).conclusion == "harm"
    null = _table([[f"T{i}", 100, 2000, 101, 2000] for i in range(4)])
    res = tsa(null, **kw)
    assert res.fraction[-1] > 1 and res.conclusion == "futility"
    # Beyond the RIS the boundary is the one at t = 1 and the wedge has closed.
    assert res.boundary[-1] == res.futility[-1]


@pytest.mark.filterwarnings("ignore::trialsynth._core.errors.TrialsynthWarning")
def test_hazard_ratio_information_in_events():
    header = ["study", "log_estimate", "se", "events"]
    rows = [["A", "-0.2", "0.2", "100"], ["B", "-0.3", "0.15", "180"]]
    data = parse_pool_table(header, rows, measure="HR", source="hr.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        res = tsa(data, method="FE", hazard_ratio=0.8, alpha=0.05, power=0.9)
    assert res.information_unit == "events" and res.information == (100.0, 280.0)
    assert math.isclose(res.ris, required_information_size(alpha=0.05, power=0.9, hazard_ratio=0.8))


@pytest.mark.filterwarnings("ignore::trialsynth._core.errors.TrialsynthWarning")
def test_bad_options_are_input_errors():
    data = _table([["A", 5, 50, 8, 50]])
    with pytest.raises(InputError):
        tsa(data, control_risk=0.3)
    with pytest.raises(InputError):
        tsa(data, control_risk=0.3, rrr=0.2, mean_difference=1.0, sd=2.0)
    with pytest.raises(InputError):
        tsa(data, control_risk=0.3, rrr=0.2, diversity_value=1.2)
    with pytest.raises(InputError):
        tsa(data, control_risk=0.3, rrr=0.2, alpha=0.7)
    no_n = parse_pool_table(
        ["study", "estimate", "ci_lower", "ci_upper"],
        [["A", "0.8", "0.6", "1.1"]],
        measure="RR",
        source="x.csv",
    )
    with pytest.raises(InputError, match="n_treatment"):
        tsa(no_n, control_risk=0.3, rrr=0.2)


def _crt_response():
    """The bundled review's CRT response outcome (TARGET, ImagingCRT), whose labels once collided."""
    header = ["study", "events_treatment", "n_treatment", "events_control", "n_control"]
    rows = [
        ["TARGET (Khan 2012)", "72", "103", "57", "104"],
        ["ImagingCRT (Sommer 2016)", "66", "89", "54", "93"],
    ]
    data = parse_pool_table(header, rows, measure="OR", source="crt.csv")
    return tsa(data, control_risk=0.56, rrr=-0.20, better="higher")


def _bcg():
    """Thirteen BCG trials (examples/bcg) in publication order: a crowded plot."""
    import csv

    with open(REPO / "examples" / "bcg" / "outcomes.csv", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["use"] == "yes"]
    header = ["study", "events_treatment", "n_treatment", "events_control", "n_control"]
    body = [[r["study"], *(r[h] for h in header[1:])] for r in rows]
    data = parse_pool_table(header, body, measure="RR", source="bcg.csv")
    return tsa(data, control_risk=0.01, rrr=0.3)


def _drawn_points(ax, dpi: float) -> np.ndarray:
    """Every line of the axes, sampled every half pixel, with each marker's square (display px)."""
    pts = []
    for line in ax.get_lines():
        d = line.get_transform().transform(np.asarray(line.get_xydata(), dtype=float))
        d = d[np.all(np.isfinite(d), axis=1)]
        for a, b in itertools.pairwise(d):
            n = int(2 * np.hypot(*(b - a))) + 2
            pts.append(a + (b - a) * np.linspace(0, 1, n)[:, None])
        if line.get_marker() not in ("None", "", None):
            r = line.get_markersize() * dpi / 72 / 2
            for dx in (-r, 0, r):
                for dy in (-r, 0, r):
                    pts.append(d + np.array([dx, dy]))
    return np.concatenate(pts)


@pytest.mark.parametrize("case", ["crt", "crins", "bcg", "early"])
def test_plot_draws_the_analysis_and_labels_touch_nothing(case):
    from trialsynth.plots.tsa import label_boxes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        if case == "crt":
            res = _crt_response()
        elif case == "bcg":
            res = _bcg()
        elif case == "early":  # 1 % of the RIS: every observed boundary lies above the plot
            res = tsa(read_pool_csv(FIXTURES / "crins2014.csv", measure="RR"), control_risk=0.1, rrr=0.15)
        else:
            res = tsa(read_pool_csv(FIXTURES / "crins2014.csv", measure="RR"), control_risk=0.5, rrr=0.3)
        fig = tsa_plot(res)
    (ax,) = fig.axes
    lines = {line.get_gid(): line for line in ax.get_lines()}
    # What was drawn: the Z-curve from the origin through every look, and the RIS line.
    zx, zy = lines["z-curve"].get_xydata().T
    assert np.allclose(zx, [0, *res.information]) and np.allclose(zy, [0, *res.z])
    labels = [t.get_text() for t in ax.texts]
    assert labels == list(res.labels)
    names = [t.get_text() for t in fig.legends[0].get_texts()]
    assert f"RIS {res.ris:,.0f} participants" in names and "Cumulative Z-curve" in names
    # The legend names only what was drawn: observed boundaries beyond ±8 are not drawn.
    drawn = any(b <= 8 for b in res.boundary)
    assert ("Monitoring boundary (α-spending)" in names) == drawn
    assert drawn == (case != "early")
    # Layout: the legend lies below the axes; no label touches a drawn line or another label.
    boxes = label_boxes(fig)
    legend_box = fig.legends[0].get_window_extent()
    assert legend_box.y1 <= ax.get_window_extent().y0
    pts = _drawn_points(ax, fig.dpi)
    for box, text in zip(boxes, labels, strict=True):
        inside = (pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1) & (pts[:, 1] >= box.y0) & (pts[:, 1] <= box.y1)
        assert not inside.any(), f"label {text!r} touches a line"
        assert ax.get_window_extent().contains(box.x0, box.y0) and ax.get_window_extent().contains(
            box.x1, box.y1
        )
    for i in range(len(boxes)):
        for j in range(i):
            assert not boxes[i].overlaps(boxes[j]), (labels[i], labels[j])


def test_plot_saves(tmp_path):
    from trialsynth.plots.save import save_figure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        fig = tsa_plot(_crt_response(), title="CRT response")
    paths = save_figure(fig, tmp_path / "tsa")
    assert sorted(p.suffix for p in paths) == [".pdf", ".png", ".svg"]
    svg = (tmp_path / "tsa.svg").read_text(encoding="utf-8")
    assert "TARGET (Khan 2012)" in svg and "RIS 592 participants" in svg


# --------------------------------------------------------------------------- command line


def test_cli_tsa_json():
    runner = CliRunner()
    args = ["tsa", str(FIXTURES / "crins2014.csv"), "--measure", "OR", "--method", "DL", "--alpha", "0.05"]
    args += ["--power", "0.9", "--control-risk", "0.5", "--rrr", "0.3", "--diversity", "0.25", "--json"]
    out = runner.invoke(main, args)
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert all(key in doc for key in CLI_TSA_KEYS)
    assert doc["diversity"] == 0.25 and len(doc["z"]) == len(doc["information"]) == 6
    assert doc["conclusion"] in ("benefit", "harm", "futility", "not yet conclusive")


CLI_TSA_KEYS = (
    "ris",
    "diversity",
    "information",
    "z",
    "boundary",
    "futility",
    "adjusted_ci_lower",
    "adjusted_ci_upper",
    "conclusion",
)


def test_cli_tsa_json_continuous_contract():
    # The contract: tsa FILE --measure M --method X --alpha A --power P
    # --mean-difference D --sd S --diversity auto --json.
    data = REPO / "tests" / "fixtures" / "metafor" / "data" / "normand1999.csv"
    args = ["tsa", str(data), "--measure", "MD", "--method", "REML", "--alpha", "0.05", "--power", "0.9"]
    args += ["--mean-difference", "-5", "--sd", "20", "--diversity", "auto", "--json"]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert all(key in doc for key in CLI_TSA_KEYS)
    k = len(doc["information"])
    assert k == 9 and all(len(doc[key]) == k for key in ("z", "boundary", "futility"))
    # Hand algebra: RIS = 4 (z_0.975 + z_0.90)² σ²/δ² participants, divided by 1 − D².
    zsum = 1.959963984540054 + 1.2815515655446004
    assert math.isclose(doc["ris_unadjusted"], 4 * zsum**2 * 20**2 / 5**2, rel_tol=SIZE_REL_TOL)
    assert doc["diversity_source"] == "auto" and 0 < doc["diversity"] < 1
    assert math.isclose(doc["ris"], doc["ris_unadjusted"] / (1 - doc["diversity"]), rel_tol=SIZE_REL_TOL)
    # The information is the cumulative number of participants (Normand 1999: 155 + 156 first).
    assert doc["information"][0] == 311
    # The TSA-adjusted CI is estimate ± b_K · SE with the last look's boundary.
    half = doc["boundary"][-1] * doc["se"]
    assert math.isclose(doc["adjusted_ci_lower"], doc["estimate"] - half, rel_tol=1e-12)
    assert math.isclose(doc["adjusted_ci_upper"], doc["estimate"] + half, rel_tol=1e-12)
    assert doc["conclusion"] in ("benefit", "harm", "futility", "not yet conclusive")


def test_cli_tsa_bad_input_exits_2_with_one_line():
    runner = CliRunner()
    out = runner.invoke(
        main, ["tsa", str(FIXTURES / "crins2014.csv"), "--measure", "RR", "--control-risk", "0.5"]
    )
    assert out.exit_code == 2
    assert out.stderr.count("error:") == 1 and len(out.stderr.strip().splitlines()) >= 1


# --------------------------------------------------------------------------- live R


@pytest.mark.against_R
def test_live_rpact_matches_pinned(tmp_path):
    out = tmp_path / "rpact.json"
    run_r_script(R_SCRIPT, out, timeout=600, cwd=REPO)
    fresh = json.loads(out.read_text(encoding="utf-8"))
    for section in ("efficacy", "futility", "schoenfeld_events", "mean_difference_participants"):
        assert len(fresh[section]) == len(RPACT[section])
        for new, old in zip(fresh[section], RPACT[section], strict=True):
            for key, val in old.items():
                if isinstance(val, list):
                    assert np.allclose(new[key], val, rtol=1e-9, atol=1e-12), (section, key)
                elif isinstance(val, float):
                    assert math.isclose(new[key], val, rel_tol=1e-9), (section, key)
                else:
                    assert new[key] == val
    for case in fresh["efficacy"]:
        assert np.allclose(efficacy_boundaries(case["t"], case["alpha"]), case["boundary"], atol=BOUNDARY_TOL)


def test_plot_uses_the_report_figures_font_and_title_style():
    # Same family and sizes as the forest, funnel and diagnostic plots: a bold title on the
    # left at TITLE_SIZE, axis labels and ticks at FONT_SIZE.
    from trialsynth.plots._common import FONT_FAMILY, FONT_SIZE, TITLE_SIZE
    from trialsynth.plots.tsa import tsa_plot

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        fig = tsa_plot(_crt_response(), title="CRT response: trial sequential analysis")
    (ax,) = fig.axes
    title = ax._left_title
    assert title.get_text() == "CRT response: trial sequential analysis" and not ax.title.get_text()
    assert title.get_fontweight() == "bold" and title.get_fontsize() == TITLE_SIZE
    assert ax.xaxis.label.get_fontsize() == ax.yaxis.label.get_fontsize() == FONT_SIZE
    assert {t.get_fontsize() for t in ax.get_xticklabels() + ax.get_yticklabels()} == {FONT_SIZE}
    assert {t.get_fontname() for t in (title, ax.xaxis.label, *ax.get_xticklabels())} == {FONT_FAMILY}
    names = [t.get_text() for t in fig.legends[0].get_texts()]
    assert all(n[:1].isupper() for n in names), names
    from matplotlib.text import Text

    # Study labels and titles are user text: drawn as typed, never parsed as mathtext ("$").
    assert not any(t.get_parse_math() for t in fig.findobj(Text) if t.get_text())
