"""Double-zero 2×2 tables (no events, or only events, in both arms): which convention each
profile follows (issue 15).

* metafor profile, inverse variance: kept with 0.5 added to each cell, as
  ``rma(measure="OR", ai=, n1i=, ci=, n2i=)`` (escalc's documented defaults add = 1/2,
  to = "only0", drop00 = FALSE; rma.uni has the same defaults). Compared with metafor 3.8.1
  on metadat's dat.nielweise2007 (18 trials, Yucel 2004 0/118 vs 0/105), pinned by
  validation/metafor_fixtures.R in tests/fixtures/metafor/cases.json (cases nielweise_*), 1e-6
  relative (the tolerance of tests/stats/test_against_metafor.py). Before the fix trialsynth
  left Yucel 2004 out: REML OR 0.3752 with k = 17, where metafor gives 0.3828 with k = 18.
* RevMan profile: left out of OR and RR (RevMan 5; Deeks & Higgins 2010), kept for RD. Checked
  against hand algebra written out below (Woolf's inverse-variance fixed effect, 0.5 added to
  every cell of a table with a zero cell), 1e-12 relative.
* Mantel–Haenszel: left out of OR under both profiles (rma.mh's drop00 = TRUE), pinned case
  nielweise_OR_MH (k = 17).
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from trialsynth._core.errors import TrialsynthWarning
from trialsynth.stats.meta import default_drop00
from trialsynth.workflow.pool_files import pool_file

FIXTURES = Path(__file__).parents[1] / "fixtures" / "metafor"
CSV = FIXTURES / "data" / "nielweise2007.csv"
CASES = {c["id"]: c for c in json.loads((FIXTURES / "cases.json").read_text(encoding="utf-8"))["cases"]}
REL = 1e-6
YUCEL = "Yucel 2004"


def _pool(**options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TrialsynthWarning)
        res = pool_file(CSV, **options)
    return res, [str(w.message) for w in caught if issubclass(w.category, TrialsynthWarning)]


def _counts():
    with CSV.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    labels = [r[0] for r in rows]
    a, n1, c, n2 = (np.array([float(r[i]) for r in rows]) for i in (1, 2, 3, 4))
    return labels, a, n1, c, n2


def test_the_fixture_has_one_double_zero_trial():
    labels, a, _, c, _ = _counts()
    assert len(labels) == 18
    assert [lab for lab, x, y in zip(labels, a, c, strict=True) if x == 0 and y == 0] == [YUCEL]


@pytest.mark.parametrize(
    ("case_id", "measure", "method", "hk"),
    [
        ("nielweise_OR_REML_z", "OR", "REML", False),
        ("nielweise_OR_DL_hk", "OR", "DL", True),
        ("nielweise_OR_FE", "OR", "FE", False),
        ("nielweise_RR_REML_z", "RR", "REML", False),
        ("nielweise_RR_DL_z", "RR", "DL", False),
    ],
)
def test_metafor_profile_keeps_the_double_zero_trial_as_rma_does(case_id, measure, method, hk):
    exp = CASES[case_id]["expected"]
    res, messages = _pool(measure=measure, method=method, hk=hk, profile="metafor")
    assert res.k == exp["k"] == 18
    assert res.double_zero == "kept"
    for key in ("estimate", "se", "ci_lower", "ci_upper", "q"):
        assert getattr(res, key) == pytest.approx(exp[key], rel=REL), key
    if method != "FE":
        assert res.tau2 == pytest.approx(exp["tau2"], rel=REL, abs=1e-10)
    row = next(s for s in res.studies if s.study == YUCEL)
    assert row.included and "kept" in row.note
    # A warning names the corrected double-zero trial and the convention.
    (kept,) = [m for m in messages if "double-zero" in m]
    assert YUCEL in kept and "drop00 = FALSE" in kept
    assert any(YUCEL in c and "drop00 = FALSE" in c for c in res.corrections)


def test_metafor_profile_reml_odds_ratio_is_metafors_0_3828():
    res, _ = _pool(measure="OR", method="REML", profile="metafor")
    # metafor 3.8.1: exp(rma(measure="OR", ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.nielweise2007)$b)
    pinned = CASES["nielweise_OR_REML_z"]["expected"]["estimate"]
    assert math.exp(res.estimate) == pytest.approx(math.exp(pinned), rel=REL)
    assert round(math.exp(res.estimate), 4) == 0.3828


def _woolf_fixed(measure: str, drop: bool):
    """Hand algebra: inverse-variance fixed effect of log OR / log RR (Woolf 1955; RevMan 5),
    0.5 added to all four cells of a table with a zero cell, double-zero tables left out if
    ``drop``."""
    _, a, n1, c, n2 = _counts()
    b, d = n1 - a, n2 - c
    double = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
    keep = ~double if drop else np.ones_like(double)
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    a, b, c, d = (x + 0.5 * zero for x in (a, b, c, d))
    if measure == "OR":
        y = np.log(a * d / (b * c))
        v = 1 / a + 1 / b + 1 / c + 1 / d
    else:
        y = np.log((a / (a + b)) / (c / (c + d)))
        v = 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)
    w = 1 / v[keep]
    est = float(np.sum(w * y[keep]) / np.sum(w))
    return int(keep.sum()), est, float(math.sqrt(1 / np.sum(w)))


@pytest.mark.parametrize("measure", ["OR", "RR"])
def test_revman_profile_leaves_the_double_zero_trial_out(measure):
    res, messages = _pool(measure=measure, method="FE", profile="revman")
    k, est, se = _woolf_fixed(measure, drop=True)
    assert res.k == k == 17
    assert res.double_zero == "dropped"
    assert res.estimate == pytest.approx(est, rel=1e-12)
    assert res.se == pytest.approx(se, rel=1e-12)
    row = next(s for s in res.studies if s.study == YUCEL)
    assert not row.included
    assert any("left out" in m and YUCEL in m for m in messages)
    assert not any("double-zero tables kept" in m for m in messages)
    # And the same hand algebra with the table kept is the metafor profile's fixed effect.
    kept, _ = _pool(measure=measure, method="FE", profile="metafor")
    k, est, se = _woolf_fixed(measure, drop=False)
    assert kept.k == k == 18
    assert kept.estimate == pytest.approx(est, rel=1e-12) and kept.se == pytest.approx(se, rel=1e-12)


@pytest.mark.parametrize("profile", ["metafor", "revman"])
def test_risk_difference_keeps_the_double_zero_trial_under_both_profiles(profile):
    res, messages = _pool(measure="RD", method="FE", profile=profile)
    assert res.k == 18 and res.double_zero == "kept"
    # An RD of 0 is informative under either convention: no convention warning for RD.
    assert not any("double-zero tables kept" in m for m in messages)


def test_metafor_rd_reml_matches_pinned_metafor():
    exp = CASES["nielweise_RD_REML_z"]["expected"]
    res, _ = _pool(measure="RD", method="REML", profile="metafor")
    assert res.k == exp["k"] == 18
    assert res.estimate == pytest.approx(exp["estimate"], rel=REL)
    assert res.se == pytest.approx(exp["se"], rel=REL)


@pytest.mark.parametrize("profile", ["metafor", "revman"])
def test_mantel_haenszel_leaves_the_double_zero_trial_out(profile):
    res, _ = _pool(measure="OR", method="MH", profile=profile)
    assert res.k == 17 and res.double_zero == "dropped"
    if profile == "metafor":
        exp = CASES["nielweise_OR_MH"]["expected"]
        assert res.estimate == pytest.approx(exp["estimate"], rel=REL)
        assert res.se == pytest.approx(exp["se"], rel=REL)


def test_default_drop00_table():
    # metafor: rma.uni/escalc drop00 = FALSE; rma.mh/rma.peto drop00 = TRUE. RevMan: ratios drop.
    assert [default_drop00("OR", m, "metafor") for m in ("REML", "DL", "FE", "MH", "PETO")] == [
        False, False, False, True, True,
    ]  # fmt: skip
    assert [default_drop00(ms, "REML", "revman") for ms in ("OR", "RR", "RD")] == [True, True, False]
    assert default_drop00("RR", "REML", "metafor") is False


def test_pool_json_says_which_convention(tmp_path):
    from trialsynth.cli.main import main

    for profile, expected, k in (("metafor", "kept", 18), ("revman", "dropped", 17)):
        result = CliRunner().invoke(
            main, ["pool", str(CSV), "--measure", "OR", "--method", "REML", "--profile", profile, "--json"]
        )
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        assert doc["double_zero"] == expected and doc["k"] == k
    # Continuous data: no 2×2 tables, no convention.
    (tmp_path / "md.csv").write_text("study,estimate,se\nA,1,0.5\nB,2,0.4\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["pool", str(tmp_path / "md.csv"), "--measure", "MD", "--json"])
    assert json.loads(result.stdout)["double_zero"] is None


def test_python_api_follows_the_profile():
    from trialsynth import api

    labels, a, n1, c, n2 = _counts()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        kept = api.effects(measure="OR", study=labels, ai=a, n1i=n1, ci=c, n2i=n2)
        dropped = api.effects(measure="OR", study=labels, ai=a, n1i=n1, ci=c, n2i=n2, profile="revman")
    i = labels.index(YUCEL)
    # escalc: yi = log((0.5 × 105.5)/(118.5 × 0.5)) = log(105.5/118.5), vi = 1/0.5 + 1/118.5 + 1/0.5 + 1/105.5
    assert kept.yi[i] == pytest.approx(math.log(105.5 / 118.5), rel=1e-12)
    assert kept.vi[i] == pytest.approx(4 + 1 / 118.5 + 1 / 105.5, rel=1e-12)
    assert math.isnan(dropped.yi[i])


# Incidence rates: three trials, the first with no events in either arm. metafor 3.8.1,
#   e <- escalc(measure="IRR", x1i=c(0,3,2), t1i=c(100,120,80), x2i=c(0,1,5), t2i=c(200,90,100))
#   rma(yi, vi, data=e, method="FE")
# keeps the first (escalc's drop00 = FALSE: yi = ln(0.5/100 / (0.5/200)) = ln 2, vi = 4) and
# prints estimate -0.085945917911, se 0.641688947920, k = 3 (digits of sprintf("%.12f")).
RATES = (
    "study,events_treatment,person_time_treatment,events_control,person_time_control\n"
    "none,0,100,0,200\nsecond,3,120,1,90\nthird,2,80,5,100\n"
)


def test_irr_keeps_a_trial_without_events_as_metafor_and_revman_profile_leaves_it_out(tmp_path):
    path = tmp_path / "rates.csv"
    path.write_text(RATES, encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TrialsynthWarning)
        kept = pool_file(path, measure="IRR", method="FE")
    assert kept.k == 3 and kept.double_zero == "kept"
    assert kept.estimate == pytest.approx(-0.085945917911, rel=REL)
    assert kept.se == pytest.approx(0.641688947920, rel=REL)
    assert any("double-zero" in str(w.message) and "none" in str(w.message) for w in caught)
    # RevMan profile: left out; the fixed effect of the other two by hand (inverse variance,
    # 0.5 added to neither: no zero count), yi = ln((x1/t1)/(x2/t2)), vi = 1/x1 + 1/x2.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        dropped = pool_file(path, measure="IRR", method="FE", profile="revman")
    y = [math.log((3 / 120) / (1 / 90)), math.log((2 / 80) / (5 / 100))]
    w = [1 / (1 / 3 + 1 / 1), 1 / (1 / 2 + 1 / 5)]
    assert dropped.k == 2 and dropped.double_zero == "dropped"
    pooled = sum(a * b for a, b in zip(w, y, strict=True)) / sum(w)
    assert dropped.estimate == pytest.approx(pooled, rel=1e-12)
    assert dropped.se == pytest.approx(1 / math.sqrt(sum(w)), rel=1e-12)
