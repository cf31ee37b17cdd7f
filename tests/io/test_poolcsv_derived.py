"""The pool CSV's derived forms, end to end: columns → derivations → effects → pool --json.

Effects are checked against hand algebra written out here (1e-12 relative: floating-point only),
against metafor's escalc for ROM and IRR (tests/fixtures/derive, validation/derive_fixtures.R;
1e-10 relative), and every error names the file, row and column.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth.cli import main
from trialsynth.stats import derive
from trialsynth.workflow.pool_files import pool_file

HAND = 1e-12
METAFOR = 1e-10
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "derive"

MIXED = """study,mean_treatment,sd_treatment,n_treatment,mean_control,sd_control,n_control,se_treatment,\
se_control,ci_lower_treatment,ci_upper_treatment,ci_lower_control,ci_upper_control,median_treatment,\
q1_treatment,q3_treatment,median_control,q1_control,q3_control,min_treatment,max_treatment,min_control,\
max_control,estimate,p_value,icc,cluster_size
A,10,2,40,12,2.5,42,,,,,,,,,,,,,,,,,,,,
B,10.5,,40,12,,40,0.3,0.4,,,,,,,,,,,,,,,,,,
C,32.1,,25,28.3,,22,,,30.0,34.2,26.5,30.1,,,,,,,,,,,,,,
D,,,50,,,50,,,,,,,10,7,14,12,9,15,2,30,3,28,,,,
E,,,60,,,58,,,,,,,,,,,,,,,,,3.8,0.008,,
F,11,2.2,300,12.5,2.1,300,,,,,,,,,,,,,,,,,,,0.02,30
"""


def _write(tmp_path: Path, text: str, name: str = "trials.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _studies(result) -> dict:
    return {s.study: s for s in result.studies}


def test_mixed_forms_effects_hand_algebra(tmp_path):
    res = pool_file(_write(tmp_path, MIXED), measure="MD", method="FE")
    s = _studies(res)
    assert s["A"].vi == pytest.approx(2**2 / 40 + 2.5**2 / 42, rel=HAND) and s["A"].derivations == ()
    # B: SD = SE·√n, so SD²/n = SE²: vi = 0.3² + 0.4².
    assert s["B"].vi == pytest.approx(0.3**2 + 0.4**2, rel=1e-12)
    # C: Handbook 6.5.2.2 example arms, t(24) and t(21): SD = √n·width/(2t), vi = SD²/n = (width/2t)².
    t24, t21 = 2.0638985616280254, 2.0796138447276800  # qt(0.975, 24), qt(0.975, 21) in R 4
    assert s["C"].vi == pytest.approx((4.2 / (2 * t24)) ** 2 + (3.6 / (2 * t21)) ** 2, rel=1e-9)
    # D: Luo mean and Shi SD per arm (their own hand-algebra tests are in tests/stats/test_derive.py).
    t_arm = derive.mean_sd_from_median(50, 10, q1=7, q3=14, minimum=2, maximum=30)
    c_arm = derive.mean_sd_from_median(50, 12, q1=9, q3=15, minimum=3, maximum=28)
    assert s["D"].yi == pytest.approx(t_arm.mean.value - c_arm.mean.value, rel=HAND)
    assert s["D"].vi == pytest.approx((t_arm.sd.value**2 + c_arm.sd.value**2) / 50, rel=HAND)
    # E: SE = |MD| / t(1 − p/2, 60 + 58 − 2).
    t116 = 2.6987408175913674  # qt(1 - 0.008/2, 116) in R 4
    assert s["E"].yi == 3.8
    assert s["E"].vi == pytest.approx((3.8 / t116) ** 2, rel=1e-9)
    # F: cluster trial, DE = 1 + 29 × 0.02 = 1.58, n_eff = 300/1.58 per arm.
    assert s["F"].vi == pytest.approx((2.2**2 + 2.1**2) / (300 / 1.58), rel=HAND)
    assert next(d.method for d in s["F"].derivations) == "Design effect"


def test_pool_json_has_effect_variance_and_derivation(tmp_path):
    path = _write(tmp_path, MIXED)
    out = CliRunner().invoke(main, ["pool", str(path), "--measure", "MD", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    rows = {r["study"]: r for r in data["studies"]}
    assert rows["A"]["derivation"] == "" and rows["A"]["derivations"] == []
    assert (
        rows["B"]["derivation"]
        == "SD from SE, treatment: 0.3 × √40 = 1.897; SD from SE, control: 0.4 × √40 = 2.53"
    )
    assert rows["C"]["derivation"].startswith(
        "SD from CI of the mean, treatment: √25 × (34.2 − 30) / (2 × 2.064) = 5.087"
    )
    assert "Luo 2018" in rows["D"]["derivation"] and "Shi 2020" in rows["D"]["derivation"]
    assert rows["E"]["derivations"][0]["reference"].endswith("6.5.2.3")
    assert rows["E"]["derivations"][0]["inputs"]["p"] == 0.008
    for r in data["studies"]:
        assert isinstance(r["effect"], float) and isinstance(r["variance"], float)


def test_median_method_option_changes_the_mean(tmp_path):
    path = _write(tmp_path, MIXED)
    wan = _studies(pool_file(path, measure="MD", method="FE", median_method="wan"))["D"]
    mean_t = (2 + 2 * 7 + 2 * 10 + 2 * 14 + 30) / 8  # Wan 2014, S2
    mean_c = (3 + 2 * 9 + 2 * 12 + 2 * 15 + 28) / 8
    assert wan.yi == pytest.approx(mean_t - mean_c, rel=HAND)
    assert "Wan 2014" in wan.derivations[0].method
    out = CliRunner().invoke(main, ["pool", str(path), "--measure", "MD", "--median-method", "wan", "--json"])
    assert out.exit_code == 0 and "Wan 2014" in out.stdout
    with pytest.raises(InputError, match="unknown median method"):
        pool_file(path, measure="MD", median_method="bc")


def test_exclude_derived_is_the_sensitivity_analysis(tmp_path):
    with pytest.warns(TrialsynthWarning) as caught:
        res = pool_file(_write(tmp_path, MIXED), measure="MD", method="FE", exclude_derived=True)
    assert any("left out as derived" in str(w.message) for w in caught)
    s = _studies(res)
    assert res.k == 1 and s["A"].included
    assert not any(s[x].included for x in "BCDEF")
    assert "derived" in s["B"].note


def test_skewed_median_warns(tmp_path):
    text = "study,median_treatment,q1_treatment,q3_treatment,n_treatment,"
    text += "median_control,q1_control,q3_control,n_control\n"
    text += "S,4,2,12,100,5,3,7,100\nT,5,4,6,30,5,4,6,30\n"
    with pytest.warns(
        TrialsynthWarning, match="study 'S', treatment arm: the median and quartiles suggest skewed"
    ):
        res = pool_file(_write(tmp_path, text), measure="MD", method="FE")
    notes = [n for d in _studies(res)["S"].derivations for n in d.notes]
    assert any("skewed" in n for n in notes)


def test_cluster_counts_divided_by_design_effect(tmp_path):
    text = "study,events_treatment,n_treatment,events_control,n_control,icc,cluster_size\n"
    text += "K,30,200,45,210,0.05,11\nL,12,100,20,100,,\n"
    res = pool_file(_write(tmp_path, text), measure="RR", method="FE")
    de = 1 + 10 * 0.05
    a, n1, c, n2 = 30 / de, 200 / de, 45 / de, 210 / de
    k = _studies(res)["K"]
    assert k.yi == pytest.approx(math.log((a / n1) / (c / n2)), rel=HAND)  # the ratio is unchanged
    assert k.vi == pytest.approx(1 / a - 1 / n1 + 1 / c - 1 / n2, rel=HAND)  # the variance grows by DE
    assert k.vi == pytest.approx(de * (1 / 30 - 1 / 200 + 1 / 45 - 1 / 210), rel=1e-12)
    mh = pool_file(_write(tmp_path, text), measure="RR", method="MH")
    assert _studies(mh)["K"].derivations  # MH uses the adjusted counts and keeps the derivations


def _fixture(measure: str) -> dict:
    cases = json.loads((FIXTURES / "cases.json").read_text(encoding="utf-8"))["cases"]
    return next(c for c in cases if c["measure"] == measure)


def test_rom_pool_rows_against_metafor(tmp_path):
    case = _fixture("ROM")
    inp = case["inputs"]
    lines = ["study,mean_treatment,sd_treatment,n_treatment,mean_control,sd_control,n_control"]
    for i in range(len(case["yi"])):
        lines.append(
            f"s{i},{inp['m1i'][i]!r},{inp['sd1i'][i]!r},{int(inp['n1i'][i])},{inp['m2i'][i]!r},"
            f"{inp['sd2i'][i]!r},{int(inp['n2i'][i])}"
        )
    res = pool_file(_write(tmp_path, "\n".join(lines) + "\n"), measure="ROM", method="FE")
    np.testing.assert_allclose([s.yi for s in res.studies], case["yi"], rtol=METAFOR)
    np.testing.assert_allclose([s.vi for s in res.studies], case["vi"], rtol=METAFOR)


@pytest.mark.parametrize("measure", ["IRR", "IRD"])
def test_rate_pool_rows_against_metafor(tmp_path, measure):
    case = _fixture(measure)
    inp = case["inputs"]
    lines = ["study,events_treatment,person_time_treatment,events_control,person_time_control"]
    for i in range(len(case["yi"])):
        lines.append(f"s{i},{int(inp['x1i'][i])},{inp['t1i'][i]!r},{int(inp['x2i'][i])},{inp['t2i'][i]!r}")
    path = _write(tmp_path, "\n".join(lines) + "\n")
    zero = any(x == 0 for x in inp["x1i"] + inp["x2i"])
    if zero:
        with pytest.warns(TrialsynthWarning, match="continuity correction"):
            res = pool_file(path, measure=measure, method="FE")
    else:
        res = pool_file(path, measure=measure, method="FE")
    np.testing.assert_allclose([s.yi for s in res.studies], case["yi"], rtol=METAFOR)
    np.testing.assert_allclose([s.vi for s in res.studies], case["vi"], rtol=METAFOR)


@pytest.mark.parametrize(
    ("header", "row", "measure", "message", "column"),
    [
        (
            "median_treatment,q1_treatment,n_treatment,median_control,q1_control,q3_control,n_control",
            "5,3,20,6,4,8,20",
            "MD",
            "needs its partner",
            "q1_treatment",
        ),
        (
            "median_treatment,q1_treatment,q3_treatment,n_treatment,median_control,q1_control,q3_control,n_control",
            "5,6,8,20,6,4,8,20",
            "MD",
            "is above",
            "q1_treatment",
        ),
        (
            "events_treatment,n_treatment,events_control,n_control,icc,cluster_size",
            "3,20,4,20,0.05,",
            "RR",
            "needs both icc and cluster_size",
            "icc",
        ),
        (
            "estimate,ci_lower,ci_upper,icc,cluster_size",
            "0.5,0.3,0.9,0.05,10",
            "RR",
            "should already allow for clustering",
            "icc",
        ),
        (
            "mean_treatment,sd_treatment,n_treatment,mean_control,sd_control,n_control",
            "-1,2,20,3,2,20",
            "ROM",
            "means above 0",
            "mean_treatment",
        ),
        ("estimate,p_value,n_treatment,n_control", "2.0,1,20,20", "MD", "p-value of 1", "p_value"),
        (
            "mean_treatment,ci_lower_treatment,ci_upper_treatment,n_treatment,mean_control,ci_lower_control,"
            "ci_upper_control,n_control",
            "5,6,8,20,6,4,8,20",
            "MD",
            "outside its confidence interval",
            "mean_treatment",
        ),
        (
            "events_treatment,n_treatment,events_control,n_control,icc,cluster_size",
            "3,20,4,20,1.5,10",
            "RR",
            "between 0 and 1",
            "icc",
        ),
    ],
)
def test_derived_form_errors_name_file_row_column(tmp_path, header, row, measure, message, column):
    path = _write(tmp_path, f"study,{header}\nX,{row}\n")
    with pytest.raises(InputError, match=message) as err:
        pool_file(path, measure=measure)
    assert err.value.file == str(path) and err.value.row == 2 and err.value.column == column


def test_smd_refuses_change_scores_mixed_with_final_values(tmp_path):
    text = (
        "study,mean_treatment,sd_treatment,n_treatment,mean_control,sd_control,n_control,baseline_sd_treatment,"
        "final_sd_treatment,baseline_sd_control,final_sd_control,correlation\n"
        "Final,10,2,30,12,2,30,,,,,\nChange,-3,,30,-1,,30,4,5,4,4.5,0.6\n"
    )
    path = _write(tmp_path, text)
    with pytest.raises(InputError, match="mixed for MD, not for SMD"):
        pool_file(path, measure="SMD")
    res = pool_file(path, measure="MD", method="FE")
    change = _studies(res)["Change"]
    sd_t = math.sqrt(4**2 + 5**2 - 2 * 0.6 * 4 * 5)  # Handbook 6.5.2.8
    sd_c = math.sqrt(4**2 + 4.5**2 - 2 * 0.6 * 4 * 4.5)
    assert change.vi == pytest.approx((sd_t**2 + sd_c**2) / 30, rel=HAND)


def test_pool_help_documents_every_new_column():
    out = CliRunner().invoke(main, ["pool", "--help"])
    text = out.output
    for column in (
        "median_ARM",
        "q1_ARM",
        "q3_ARM",
        "min_ARM",
        "max_ARM",
        "se_ARM",
        "ci_lower_ARM",
        "ci_upper_ARM",
        "baseline_sd_ARM",
        "final_sd_ARM",
        "correlation",
        "icc",
        "cluster_size",
        "p_value",
        "person_time_treatment",
        "--median-method",
        "--exclude-derived",
        "ROM",
        "IRR",
        "IRD",
    ):
        assert column in text, column


def test_top_level_api_name():
    import trialsynth as ts

    assert ts.derive.sd_from_se(1.2, 40).value == pytest.approx(1.2 * math.sqrt(40), rel=HAND)


def test_counts_from_percentages_become_binary_rows(tmp_path):
    # CRT dossier, TARGET responders: 70% of 103 and 55% of 104 analysed → 72 and 57 (round half up).
    text = "study,events_treatment,n_treatment,events_control,n_control,percent_treatment,percent_control\n"
    text += "TARGET,,103,,104,70,55\nOther,10,50,12,50,,\n"
    path = _write(tmp_path, text)
    from trialsynth.io.poolcsv import read_pool_csv

    data = read_pool_csv(path, measure="OR")
    assert data.kinds == ("binary", "binary")
    assert data.values["events_treatment"].tolist() == [72.0, 10.0]
    assert data.values["events_control"].tolist() == [57.0, 12.0]
    res = pool_file(path, measure="OR", method="FE")
    target = _studies(res)["TARGET"]
    assert target.yi == pytest.approx(math.log((72 * 47) / (31 * 57)), rel=HAND)
    assert [d.method for d in target.derivations] == ["Count from percentage"] * 2
    assert _studies(res)["Other"].derivations == ()
    with pytest.raises(InputError, match="between 0 and 100"):
        pool_file(_write(tmp_path, text.replace(",70,", ",170,"), "bad.csv"), measure="OR")
