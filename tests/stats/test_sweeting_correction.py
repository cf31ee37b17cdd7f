"""The treatment-arm continuity correction of Sweeting, Sutton & Lambert (Stat Med 2004;23:1351–75,
§3.3), checked by hand algebra on an unbalanced table with a zero cell.

Their definition: with R = n_C/n_T, k_T = K/(R + 1) and k_C = K·R/(R + 1), so k_T + k_C = K and each
arm's correction is proportional to the reciprocal of the size of the opposite arm (k_T/k_C = n_T/n_C).
K = 2·add (add = ½ gives K = 1, the total of the usual ½ + ½). Table A below: 0/30 treated vs 4/90
controls, R = 3, so k_T = 1/4 and k_C = 3/4:

    a = 0.25, b = 30.25, c = 4.75, d = 86.75
    ln OR = ln(0.25·86.75 / (30.25·4.75)),      v = 1/0.25 + 1/30.25 + 1/4.75 + 1/86.75
    ln RR = ln((0.25/30.5) / (4.75/91.5)),      v = 1/0.25 − 1/30.5 + 1/4.75 − 1/91.5

Table B (5/40 vs 9/45) has no zero cell and is not corrected. Tolerance 1e-12 (closed forms).
"""

from __future__ import annotations

import json
import math
import warnings

import pytest

from trialsynth._core.errors import InputError, TrialsynthWarning

A = (0, 30, 4, 90)
B = (5, 40, 9, 45)
LN_OR_A = math.log(0.25 * 86.75 / (30.25 * 4.75))
V_OR_A = 1 / 0.25 + 1 / 30.25 + 1 / 4.75 + 1 / 86.75
LN_RR_A = math.log((0.25 / 30.5) / (4.75 / 91.5))
V_RR_A = 1 / 0.25 - 1 / 30.5 + 1 / 4.75 - 1 / 91.5
LN_OR_B = math.log(5 * 36 / (35 * 9))
V_OR_B = 1 / 5 + 1 / 35 + 1 / 9 + 1 / 36


def test_corrections_by_hand():
    from trialsynth.stats.effects import continuity_correction, sweeting_corrections

    k_t, k_c = sweeting_corrections(30, 90)
    assert (float(k_t), float(k_c)) == pytest.approx((0.25, 0.75), rel=1e-15)
    k_t, k_c = sweeting_corrections(30, 90, add=0.005)  # K = 0.01, Sweeting's smaller total
    assert (float(k_t), float(k_c)) == pytest.approx((0.0025, 0.0075), rel=1e-12)
    a, b, c, d, corrected, dropped = continuity_correction([0, 5], [30, 35], [4, 9], [86, 36], to="sweeting")
    assert list(a) == [0.25, 5] and list(b) == [30.25, 35] and list(c) == [4.75, 9] and list(d) == [86.75, 36]
    assert list(corrected) == [True, False] and not dropped.any()


def test_equal_arms_give_the_usual_half():
    from trialsynth.stats.effects import continuity_correction

    cells = continuity_correction([0], [50], [3], [47], to="sweeting")
    assert [float(x[0]) for x in cells[:4]] == [0.5, 50.5, 3.5, 47.5]


def _csv(tmp_path):
    path = tmp_path / "sparse.csv"
    path.write_text(
        "study,events_treatment,n_treatment,events_control,n_control\n"
        f"A,{A[0]},{A[1]},{A[2]},{A[3]}\nB,{B[0]},{B[1]},{B[2]},{B[3]}\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("measure", ["OR", "RR"])
def test_cli_pool_uses_and_names_the_correction(tmp_path, measure):
    from click.testing import CliRunner

    from trialsynth.cli.main import main

    args = ["pool", str(_csv(tmp_path)), "--measure", measure, "--method", "FE", "--to", "sweeting", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    y_a, v_a = (LN_OR_A, V_OR_A) if measure == "OR" else (LN_RR_A, V_RR_A)
    y_b = LN_OR_B if measure == "OR" else math.log((5 / 40) / (9 / 45))
    v_b = V_OR_B if measure == "OR" else 1 / 5 - 1 / 40 + 1 / 9 - 1 / 45
    a, b = got["studies"]
    assert (a["effect"], a["variance"]) == pytest.approx((y_a, v_a), rel=1e-12)
    assert (b["effect"], b["variance"]) == pytest.approx((y_b, v_b), rel=1e-12)
    # Inverse-variance fixed effect of the two, by hand.
    w_a, w_b = 1 / v_a, 1 / v_b
    assert got["estimate"] == pytest.approx((w_a * y_a + w_b * y_b) / (w_a + w_b), rel=1e-12)
    assert any("treatment-arm continuity correction" in c and "A" in c for c in got["corrections"])
    assert "0.25 added to treatment cells, 0.75 to control cells" in a["note"]
    assert "study 'A': treatment-arm continuity correction" in result.stderr


def test_a_warning_per_corrected_study(tmp_path):
    from trialsynth.io.poolcsv import read_pool_csv
    from trialsynth.stats.meta import pool_input

    path = tmp_path / "two.csv"
    path.write_text(
        "study,events_treatment,n_treatment,events_control,n_control\nA,0,30,4,90\nC,2,60,0,20\nB,5,40,9,45\n",
        encoding="utf-8",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TrialsynthWarning)
        res = pool_input(read_pool_csv(path, measure="OR"), method="FE", to="sweeting")
    texts = [str(w.message) for w in caught if "treatment-arm" in str(w.message)]
    assert len(texts) == 2 and "'A'" in texts[0] and "'C'" in texts[1]
    # C: n_T = 60, n_C = 20: k_T = 0.75, k_C = 0.25
    assert "0.75 added to each treatment cell and 0.25 to each control cell" in texts[1]
    c_row = res.studies[1]
    assert c_row.yi == pytest.approx(math.log(2.75 * 20.25 / (58.75 * 0.25)), rel=1e-12)


def test_api_effects_and_meta_analysis_take_it():
    import trialsynth as ts

    table = {
        "study": ["A", "B"],
        "events_treatment": [A[0], B[0]],
        "n_treatment": [A[1], B[1]],
        "events_control": [A[2], B[2]],
        "n_control": [A[3], B[3]],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        es = ts.effects(table, measure="OR", to="sweeting")
        res = ts.meta_analysis(es, method="FE")
    assert list(es.yi) == pytest.approx([LN_OR_A, LN_OR_B], rel=1e-12)
    w_a, w_b = 1 / V_OR_A, 1 / V_OR_B
    assert res.estimate == pytest.approx((w_a * LN_OR_A + w_b * LN_OR_B) / (w_a + w_b), rel=1e-12)


@pytest.mark.parametrize(("measure", "method"), [("RD", "FE"), ("OR", "PETO")])
def test_not_for_rd_or_peto(tmp_path, measure, method):
    from trialsynth.io.poolcsv import read_pool_csv
    from trialsynth.stats.meta import pool_input

    with pytest.raises(InputError, match="treatment-arm continuity correction"):
        pool_input(read_pool_csv(_csv(tmp_path), measure=measure), method=method, to="sweeting")
