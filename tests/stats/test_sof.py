"""Summary of findings (GRADE): corresponding risks per 1000, the assumed control risk, the
certainty of evidence, the OIS check, the ``grade`` tables of review.toml, sof.csv and the report.

Corresponding risks are checked against hand algebra written out below (Cochrane Handbook
ch. 14: RR: ACR·RR; OR via odds; HR: 1 − (1 − ACR)^HR). The OIS is checked against the sample
size formula of GRADE guidance 6 (Guyatt et al., J Clin Epidemiol 2011;64:1283-93) worked by
hand with the normal quantiles z(0.975) = 1.959963984540054 and z(0.80) = 0.8416212335729143.
The fixture review (tests/fixtures/reviews/flow) is made up.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from tests.flow_review import FLOW, copy_flow, edit
from trialsynth._core.errors import InputError
from trialsynth.io.review import load_review
from trialsynth.report.review import run_review
from trialsynth.stats.sof import control_risk, corresponding_risk, summary_of_findings
from trialsynth.workflow.runner import analyse_review

CRT = Path(__file__).resolve().parents[2] / "examples" / "imaging-guided-crt"
EXACT = 1e-12  # the same closed-form arithmetic, up to floating-point rounding
Z_SUM_SQ = (1.959963984540054 + 0.8416212335729143) ** 2  # (z_{1-α/2} + z_{1-β})², α 0.05, power 0.8


# --------------------------------------------------------------------------- the algebra


def test_corresponding_risk_by_hand():
    acr = 0.20
    # RR 0.75: 0.20 × 0.75 = 0.15, 150 per 1000.
    assert corresponding_risk(acr, 0.75, "RR") == pytest.approx(0.15, rel=EXACT)
    # OR 0.75: control odds 0.2/0.8 = 0.25; × 0.75 = 0.1875; risk 0.1875/1.1875 = 0.157894…, 158 per 1000.
    assert corresponding_risk(acr, 0.75, "OR") == pytest.approx(0.1875 / 1.1875, rel=EXACT)
    assert round(corresponding_risk(acr, 0.75, "OR") * 1000) == 158
    # HR 0.75: survival 0.8 → 0.8^0.75 = exp(0.75 × ln 0.8) = exp(−0.167358) = 0.845897; risk 0.154103.
    assert corresponding_risk(acr, 0.75, "HR") == pytest.approx(1 - math.exp(0.75 * math.log(0.8)), rel=EXACT)
    assert round(corresponding_risk(acr, 0.75, "HR") * 1000) == 154
    # RD −0.05: 0.20 − 0.05 = 0.15.
    assert corresponding_risk(acr, -0.05, "RD") == pytest.approx(0.15, rel=EXACT)
    # The null effect leaves the control risk unchanged for every measure.
    for measure, null in (("RR", 1.0), ("OR", 1.0), ("HR", 1.0), ("RD", 0.0)):
        assert corresponding_risk(acr, null, measure) == pytest.approx(acr, rel=EXACT)


def test_control_risk_pooled_and_median():
    # Control arms 20/100, 25/150, 12/80: pooled 57/330; median of 0.2, 0.1667, 0.15 is 25/150.
    assert control_risk([20, 25, 12], [100, 150, 80], "pooled") == pytest.approx(57 / 330, rel=EXACT)
    assert control_risk([20, 25, 12], [100, 150, 80], "median") == pytest.approx(25 / 150, rel=EXACT)
    with pytest.raises(ValueError):
        control_risk([1], [2], "mean")


# --------------------------------------------------------------------------- the fixture review


@pytest.fixture(scope="module")
def rows():
    return {r.outcome: r for r in summary_of_findings(analyse_review(FLOW))}


def test_entered_acr_rr_and_certainty(rows):
    r = rows["death"]
    assert r.acr == 0.20 and r.acr_kind == "entered" and "Made-up cohort" in r.acr_text
    assert r.risk_intervention == pytest.approx(0.20 * r.estimate, rel=EXACT)
    assert r.risk_lower == pytest.approx(0.20 * r.ci_lower, rel=EXACT)
    assert r.risk_upper == pytest.approx(0.20 * r.ci_upper, rel=EXACT)
    # Participants: 100+100 + 150+150 + 80+80 = 660 in 3 trials.
    assert (r.participants, r.studies, r.participants_unknown) == (660, 3, ())
    # High, −1 risk of bias, −1 imprecision: low.
    assert r.certainty == "low"
    assert [d for d, _, _ in r.downgrades] == ["risk_of_bias", "imprecision"]
    assert r.imprecision_rating == -1


def test_default_ois_for_a_binary_outcome(rows):
    r = rows["death"]
    # RRR 25% from ACR 0.20: p_E = 0.15, δ = 0.05, p̄ = 0.175;
    # OIS = 4 (z+z)² p̄(1 − p̄)/δ² = 4 × 7.848879 × 0.144375/0.0025 = 1813.09 participants.
    ois = 4 * Z_SUM_SQ * 0.175 * 0.825 / 0.05**2
    assert r.ois == pytest.approx(ois, rel=1e-9)
    assert 1813 < r.ois < 1814
    assert r.ois_accrued == 660 and r.ois_met is False
    assert "1814 participants" in r.ois_text and "not met" in r.ois_text


def test_median_acr_odds_ratio_and_increase(rows):
    r = rows["response"]
    # Control arms 50/100 and 70/150 (gamma has no data): median (0.5 + 0.46667)/2 = 0.48333.
    acr = (50 / 100 + 70 / 150) / 2
    assert r.acr == pytest.approx(acr, rel=EXACT) and r.acr_kind == "median"
    assert r.risk_intervention == pytest.approx(acr * r.estimate / (1 - acr + acr * r.estimate), rel=EXACT)
    assert r.certainty == "not assessed" and r.downgrades == () and r.imprecision_rating is None
    # Higher is better: an increase of 25%, p_E = 1.25 × 0.48333 = 0.60417.
    p_e = 1.25 * acr
    p_bar = (acr + p_e) / 2
    assert r.ois == pytest.approx(4 * Z_SUM_SQ * p_bar * (1 - p_bar) / (p_e - acr) ** 2, rel=1e-9)
    assert r.participants == 500 and r.studies == 2 and r.studies_in_set == 3


def test_hazard_ratio_acr_events_ois_and_floor_at_very_low(rows):
    r = rows["hosp"]
    assert r.risk_intervention == pytest.approx(1 - 0.7**r.estimate, rel=EXACT)
    assert r.risk_upper == pytest.approx(1 - 0.7**r.ci_upper, rel=EXACT)
    # −2 − 1 − 1 = −4 levels from high: floored at very low.
    assert r.certainty == "very low"
    # Schoenfeld: 4 (z+z)²/ln(0.8)² = 4 × 7.848879/0.049793 = 630.52 events; no event counts given.
    assert r.ois == pytest.approx(4 * Z_SUM_SQ / math.log(0.8) ** 2, rel=1e-9)
    assert r.ois_unit == "events" and r.ois_met is None and "event counts not known" in r.ois_text
    # Participants come from studies.csv (randomised) when the outcome rows give none.
    assert r.participants == 500


def test_continuous_outcome_gives_the_mean_difference(rows):
    r = rows["pain"]
    assert r.acr is None and r.risk_intervention is None
    # 4 (z+z)² σ²/δ² = 4 × 7.848879 × 1.69/0.25 = 212.23 participants, 660 accrued.
    assert r.ois == pytest.approx(4 * Z_SUM_SQ * 1.3**2 / 0.5**2, rel=1e-9)
    assert r.ois_met is True
    assert r.notes == ("Made-up judgements not given: certainty not assessed.",)


# --------------------------------------------------------------------------- review.toml grade tables


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("inconsistency = { rating = 0 }\nindirectness = { rating = 0 }\n", "", "rates risk_of_bias"),
        (
            'risk_of_bias = { rating = -1, reason = "Alpha',
            'risk_of_bias = { rating = 1, reason = "Alpha',
            "'rating' is 0",
        ),
        (
            'imprecision = { rating = -1, reason = "Few events; the OIS is not met (made up)." }',
            "imprecision = { rating = -1 }",
            "give the 'reason'",
        ),
        ('control_risk_source = "Made-up cohort, for the tests"\n', "", "needs its 'control_risk_source'"),
        ("assumed_control_risk = 0.20", "assumed_control_risk = 20", "between 0 and 1"),
        ('grade = { control_risk_from = "median" }', 'grade = { control_risk_from = "mean" }', "unknown"),
        (
            "grade = { ois = { mean_difference = 0.5, sd = 1.3 },",
            "grade = { assumed_control_risk = 0.2, control_risk_source = 'x', "
            "ois = { mean_difference = 0.5, sd = 1.3 },",
            "applies to risks",
        ),
        ("ois = { hazard_ratio = 0.80 }", "ois = { rrr = 0.25 }", "as hazard_ratio"),
        ("ois = { hazard_ratio = 0.80 }", "ois = { hazard_ration = 0.80 }", "unknown key 'hazard_ration'"),
        (
            "grade = { ois = { mean_difference = 0.5, sd = 1.3 },",
            "grade = { ois = { mean_difference = 0.5 },",
            "both",
        ),
    ],
)
def test_bad_grade_tables_are_refused_with_their_line(tmp_path, old, new, message):
    folder = copy_flow(tmp_path)
    edit(folder, old, new)
    with pytest.raises(InputError, match=message) as info:
        load_review(folder)
    assert str(info.value).startswith(f"{folder / 'review.toml'}, line ")


# --------------------------------------------------------------------------- outputs


def test_sof_csv_and_report(tmp_path, rows):
    report = run_review(FLOW, tmp_path / "out")
    with (tmp_path / "out" / "sof.csv").open(encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    by = {r["outcome"]: r for r in table}
    assert list(by) == ["death", "response", "hosp", "pain"]
    death = rows["death"]
    assert float(by["death"]["intervention_per_1000"]) == pytest.approx(200 * death.estimate, rel=EXACT)
    assert float(by["death"]["control_per_1000"]) == pytest.approx(200.0, rel=EXACT)
    assert by["death"]["certainty"] == "low" and by["pain"]["certainty"] == "not assessed"
    assert by["death"]["ois_met"] == "no" and by["pain"]["ois_met"] == "yes"
    assert "risk_of_bias (-1): Alpha 2001 was not blinded" in by["death"]["downgrades"]
    html = report.read_text(encoding="utf-8")
    assert 'id="sof"' in html
    assert f"{round(200 * death.estimate)} per 1000" in html and "200 per 1000" in html
    assert "⊕⊕◯◯" in html and "⊕◯◯◯" in html
    assert "Risk of bias (−1): Alpha 2001 was not blinded (made up)." in html
    pain = rows["pain"]  # MD below 0 with its whole CI: lower (better) with the intervention
    assert pain.ci_upper < 0
    assert (
        f"mean {-pain.estimate:.2f} points lower with the intervention "
        f"({-pain.ci_lower:.2f} points lower to {-pain.ci_upper:.2f} points lower)"
    ) in html
    assert "OIS not met" in html and "The review&#39;s imprecision rating: −1" in html


def test_crt_review_has_no_invented_certainty(tmp_path):
    rows = summary_of_findings(analyse_review(CRT))
    assert rows and all(r.certainty == "not assessed" for r in rows)
    # CRT response, paper set: control arms TARGET 57/104 and ImagingCRT 54/93 → 111/197.
    response = next(r for r in rows if r.analysis_set == "paper" and r.outcome == "response")
    assert response.acr == pytest.approx(111 / 197, rel=EXACT) and response.acr_kind == "pooled"
    assert "111/197" in response.acr_text
    # The primary outcome has only hazard ratios: no control risk, so no per-1000 numbers.
    death = next(r for r in rows if r.analysis_set == "paper" and r.outcome == "death_hfh")
    assert death.acr is None and death.risk_intervention is None


def test_acr_of_many_trials_counts_them_without_naming_each():
    # BCG: all 13 trials give control-arm counts; the SoF cell gives the pooled counts (summed
    # by hand from outcomes.csv) and says "all 13 trials" instead of listing 13 names.
    folder = Path(__file__).resolve().parents[2] / "examples" / "bcg"
    with (folder / "outcomes.csv").open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["use"] == "yes"]
    events = sum(int(r["events_control"]) for r in rows)
    n = sum(int(r["n_control"]) for r in rows)
    (row,) = summary_of_findings(analyse_review(folder))
    assert len(rows) == 13
    assert row.acr_text == f"pooled control-arm risk of all 13 trials ({events}/{n})"
    assert row.acr == pytest.approx(events / n, rel=1e-12)
