"""Issue 15, numerics: the array-level functions refuse what the CLI refuses, Hartung–Knapp with
identical effects warns, Mantel–Haenszel risk-difference heterogeneity follows the profile,
continuity corrections are bounded, and nothing overflows into a traceback.

References: metafor 3.8 output pinned by ``validation/issue15_fixtures.R`` in
``tests/fixtures/issue15/cases.json`` (re-run live when Rscript is there); RevMan's MH risk
difference by the hand algebra written out below. Tolerance: 1e-8 relative (closed forms).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth.io.poolcsv import parse_pool_table
from trialsynth.stats.bayes import bayes_meta
from trialsynth.stats.bias import egger_test, rank_test, trim_and_fill
from trialsynth.stats.meta import meta_analysis, pool_input
from trialsynth.stats.pooling import fit_arrays
from trialsynth.stats.regression import fit_mods

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "issue15"
SCRIPT = Path(__file__).resolve().parents[2] / "validation" / "issue15_fixtures.R"
CASES = {c["id"]: c for c in json.loads((FIXTURES / "cases.json").read_text())["cases"]}
REL = 1e-8


def _binary(case, labels=None):
    d = case["data"]
    k = len(d["ai"])
    labels = labels or [f"S{i + 1}" for i in range(k)]
    header = ["study", "events_treatment", "n_treatment", "events_control", "n_control"]
    rows = [
        [labels[i], f"{d['ai'][i]:g}", f"{d['n1i'][i]:g}", f"{d['ci'][i]:g}", f"{d['n2i'][i]:g}"]
        for i in range(k)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        measure = "RD" if "loo_omitted" not in case["expected"] else "OR"
        return parse_pool_table(header, rows, measure=measure, source="t.csv")


# ------------------------------------------------------------------ API refuses bad variances


@pytest.mark.parametrize(
    ("vi", "words"),
    [
        ([0.0, 0.1, 0.2], "is 0; a variance must be above 0"),
        ([-0.1, 0.1, 0.2], "is -0.1; a variance must be above 0"),
        ([math.nan, 0.1, 0.2], "missing (NaN)"),
        ([1e-200, 0.1, 0.2], "outside the range"),
        ([1e308, 0.1, 0.2], "outside the range"),
    ],
)
def test_array_functions_refuse_variances_the_cli_refuses(vi, words):
    yi = [0.1, 0.2, 0.3]
    for call in (
        lambda: meta_analysis(yi, vi, labels=["A", "B", "C"]),
        lambda: fit_arrays(yi, vi),
        lambda: fit_mods(yi, vi, np.ones((3, 1)), intercept=False),
        lambda: bayes_meta(yi, vi),
        lambda: egger_test(yi, vi),
        lambda: rank_test(yi, vi),
        lambda: trim_and_fill(yi, vi),
    ):
        with pytest.raises(InputError, match=words.replace("(", r"\(").replace(")", r"\)")):
            call()


def test_meta_analysis_names_the_study_and_keeps_a_study_marked_missing():
    with pytest.raises(InputError, match="study 'B'"):
        meta_analysis([0.1, 0.2], [0.1, 0.0], labels=["A", "B"])
    # Both missing: the study is marked not estimable and shown, not pooled (documented).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        res = meta_analysis([0.1, math.nan, 0.3], [0.1, math.nan, 0.2])
    assert res.k == 2 and not res.studies[1].included


def test_a_log_ratio_whose_back_transform_overflows_is_refused():
    with pytest.raises(InputError, match="log scale"):
        meta_analysis([1000.0, 0.1], [1.0, 0.1], measure="OR")


def test_a_huge_log_interval_prints_as_infinity_not_overflow():
    from trialsynth.report.text import result_table

    res = meta_analysis([1.0, 2.0], [1e90, 1e90], measure="OR", method="FE")
    assert math.isfinite(res.estimate) and res.ci_upper > 709  # exp would overflow
    text = result_table(res)
    assert "∞" in text


# ------------------------------------------------------------------ continuity corrections


@pytest.mark.parametrize("add", [math.inf, -0.5, math.nan, 2.0])
def test_continuity_corrections_outside_0_to_1_are_refused(add):
    data = _binary(CASES["mh_rd_small"])
    with pytest.raises(InputError, match="continuity correction must be between 0 and 1"):
        pool_input(data, method="REML", add=add)


def test_cli_refuses_add_inf(tmp_path):
    from click.testing import CliRunner

    from trialsynth.cli.main import main

    f = tmp_path / "t.csv"
    f.write_text("study,events_treatment,n_treatment,events_control,n_control\nA,0,10,1,10\nB,2,10,3,10\n")
    result = CliRunner().invoke(main, ["pool", str(f), "--measure", "OR", "--add", "inf"])
    assert result.exit_code != 0
    assert "continuity correction must be between 0 and 1" in result.output
    assert "Traceback" not in result.output


# ------------------------------------------------------------------ Hartung–Knapp


def test_hartung_knapp_with_identical_effects_warns_and_adhoc_matches_metafor():
    case = CASES["hk_identical"]
    yi, vi = case["data"]["yi"], case["data"]["vi"]
    with pytest.warns(TrialsynthWarning, match="hk-variant adhoc"):
        knha = meta_analysis(yi, vi, method="DL", hk=True)
    exp = case["expected"]["knha"]
    # metafor's knha: the interval has (almost) zero width, as ours.
    assert knha.ci_upper - knha.ci_lower == pytest.approx(exp["ci_upper"] - exp["ci_lower"], abs=1e-12)
    assert any("zero width" in n for n in knha.notes)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrialsynthWarning)  # no warning for the ad hoc variant
        adhoc = meta_analysis(yi, vi, method="DL", hk=True, hk_variant="adhoc")
    exp = case["expected"]["adhoc"]
    for key, got in (
        ("estimate", adhoc.estimate),
        ("se", adhoc.se),
        ("ci_lower", adhoc.ci_lower),
        ("ci_upper", adhoc.ci_upper),
        ("p_value", adhoc.p_value),
    ):
        assert got == pytest.approx(exp[key], rel=REL), key


# ------------------------------------------------------------------ MH risk difference


@pytest.mark.parametrize("case_id", ["mh_rd_small", "mh_rd_nielweise2007"])
def test_mh_risk_difference_heterogeneity_drops_double_zero_tables_as_metafor(case_id):
    case = CASES[case_id]
    res = pool_input(_binary(case), method="MH")
    exp = case["expected"]
    assert res.estimate == pytest.approx(exp["estimate"], rel=REL)
    assert res.se == pytest.approx(exp["se"], rel=REL)
    assert res.q == pytest.approx(exp["q"], rel=REL)
    assert res.q_df == exp["q_df"]
    assert res.q_p_value == pytest.approx(exp["q_p_value"], rel=1e-6)
    assert res.i2 == pytest.approx(exp["i2"], rel=1e-6, abs=1e-9)
    assert res.h2 == pytest.approx(exp["h2"], rel=REL)
    assert res.k == exp["k"]
    assert any("drop00" in n for n in res.notes)


def test_mh_risk_difference_heterogeneity_keeps_double_zero_tables_under_revman():
    """RevMan 5 (Deeks & Higgins 2010, section 3.2): 0.5 added to every cell of a table with a
    zero cell, double-zero tables kept; θ_MH = Σ(aᵢn₂ᵢ − cᵢn₁ᵢ)/Nᵢ ÷ Σn₁ᵢn₂ᵢ/Nᵢ; per-study
    RDᵢ = aᵢ/n₁ᵢ − cᵢ/n₂ᵢ with vᵢ = aᵢbᵢ/n₁ᵢ³ + cᵢdᵢ/n₂ᵢ³ on the corrected cells;
    Q = Σ(RDᵢ − θ_MH)²/vᵢ with df = k − 1 = 4."""
    case = CASES["mh_rd_small"]
    d = case["data"]
    a, n1, c, n2 = (np.array(d[k], dtype=float) for k in ("ai", "n1i", "ci", "n2i"))
    zero = (a == 0) | (c == 0) | (a == n1) | (c == n2)
    a, c = a + 0.5 * zero, c + 0.5 * zero
    n1, n2 = n1 + 1.0 * zero, n2 + 1.0 * zero
    b, dd, n = n1 - a, n2 - c, n1 + n2
    theta = ((a * n2 - c * n1) / n).sum() / (n1 * n2 / n).sum()
    rd = a / n1 - c / n2
    v = a * b / n1**3 + c * dd / n2**3
    q = float(((rd - theta) ** 2 / v).sum())
    res = pool_input(_binary(case), method="MH", profile="revman")
    assert res.estimate == pytest.approx(theta, rel=REL)
    assert res.q == pytest.approx(q, rel=REL)
    assert res.q_df == 4


@pytest.mark.against_R
def test_live_issue15_fixtures_against_R(tmp_path):
    from tests.stats.test_analyses_against_metafor import rerun_fixture_script

    rerun_fixture_script(SCRIPT, list(CASES.values()), tmp_path)
