"""Risk of bias (RoB 2): risk_of_bias.csv checked strictly; the traffic-light plot, the weighted
summary plot and the forest plot's RoB columns checked for what they draw."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from matplotlib.colors import to_hex

from tests.plots.test_plots import assert_clean_layout, labelled, strings
from trialsynth._core.errors import InputError
from trialsynth.io.review import load_review
from trialsynth.plots import forest_plot
from trialsynth.plots.rob import (
    ROB_COLOURS,
    rob_by_label,
    rob_summary_plot,
    summary_fractions,
    traffic_light_plot,
)
from trialsynth.report.review import run_review
from trialsynth.workflow.runner import analyse_review

EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "reviews" / "rob-example"
HEADER = (
    "study,outcome,D1,D2,D3,D4,D5,overall,D1_support,D2_support,D3_support,D4_support,D5_support,"
    "overall_support,source"
)
GOOD = "alpha,events,low,low,low,low,low,low,s1,s2,s3,s4,s5,s6,src"


@pytest.fixture(scope="module")
def example():
    return analyse_review(EXAMPLE)


def _folder(tmp_path, *lines, header=HEADER):
    folder = tmp_path / "review"
    shutil.copytree(EXAMPLE, folder)
    (folder / "risk_of_bias.csv").write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return folder


# ---------------------------------------------------------------------------------------
# The file


def test_example_loads_with_every_judgement_and_support_verbatim():
    review = load_review(EXAMPLE)
    rob = review.risk_of_bias_for("events")
    assert [r.study for r in rob] == ["alpha", "bravo", "charlie", "delta", "echo"]
    charlie = rob[2]
    assert charlie.domains == ("some concerns", "low", "high", "low", "some concerns")
    assert charlie.overall == "high" and charlie.row == 4
    assert charlie.support[2] == "25% lost to follow-up (invented)"
    assert charlie.as_dict()["D3"] == "high"
    assert review.files["risk_of_bias.csv"].endswith("risk_of_bias.csv")


@pytest.mark.parametrize(
    ("line", "column", "message"),
    [
        (
            GOOD.replace("low,low,low,low,low,low", "Low,low,low,low,low,low"),
            "D1",
            "'Low' is not a RoB 2 judgement",
        ),
        (GOOD.replace("low,low,low,low,low,low", "low,unclear,low,low,low,low"), "D2", "'unclear' is not"),
        (GOOD.replace(",low,s1", ",,s1"), "overall", "a blank cell is not a RoB 2 judgement"),
        (GOOD.replace("s3", ""), "D3_support", "must not be blank"),
        (GOOD.replace(",src", ","), "source", "must not be blank"),
        (GOOD.replace("alpha", "zulu"), "study", "unknown study 'zulu'"),
        (GOOD.replace("events", "deaths"), "outcome", "unknown outcome 'deaths'"),
        (
            "alpha,events,low,low,high,low,low,some concerns,s1,s2,s3,s4,s5,s6,src",
            "overall",
            "lower than the worst domain judgement 'high'",
        ),
        (
            "alpha,events,low,some concerns,low,low,low,high,s1,s2,s3,s4,s5,s6,src",
            "overall",
            "two or more domains have some concerns",
        ),
        (
            "alpha,events,low,low,low,low,low,some concerns,s1,s2,s3,s4,s5,s6,src",
            "overall",
            "higher than every domain judgement",
        ),
    ],
)
def test_bad_cells_name_file_row_and_column(tmp_path, line, column, message):
    folder = _folder(tmp_path, GOOD.replace("alpha", "bravo"), line)
    with pytest.raises(InputError, match=message) as err:
        load_review(folder)
    assert err.value.file.endswith("risk_of_bias.csv")
    assert err.value.row == 3 and err.value.column == column


def test_duplicate_and_missing_column(tmp_path):
    with pytest.raises(InputError, match="assessed twice") as err:
        load_review(_folder(tmp_path, GOOD, GOOD))
    assert err.value.row == 3
    folder = _folder(tmp_path / "b", GOOD.rsplit(",", 1)[0], header=HEADER.rsplit(",", 1)[0])
    with pytest.raises(InputError, match="missing column") as err:
        load_review(folder)
    assert err.value.column == "source"


def test_high_overall_from_two_some_concerns_is_accepted(tmp_path):
    review = load_review(
        _folder(tmp_path, "alpha,events,some concerns,some concerns,low,low,low,high,a,b,c,d,e,f,src")
    )
    assert review.risk_of_bias[0].overall == "high"


# ---------------------------------------------------------------------------------------
# Figures


def _face(line) -> str:
    return to_hex(line.get_markerfacecolor()).upper()


def test_traffic_light_colours_and_symbols_equal_the_judgements(example):
    review = example.review
    rob = review.risk_of_bias_for("events")
    labels = {s.id: s.label for s in review.studies}
    fig = traffic_light_plot(rob, labels=labels, title="Events")
    for r in rob:
        for domain, judgement in r.as_dict().items():
            (circle,) = labelled(fig, f"ts:rob:{domain}:{r.study}")
            assert _face(circle) == ROB_COLOURS[judgement].upper()
            (symbol,) = labelled(fig, f"ts:rob:{domain}:{r.study}:symbol")
            assert symbol.get_text() == {"low": "+", "some concerns": "\u2212", "high": "\u00d7"}[judgement]
    assert len(fig.trialsynth["cells"]) == 5 * 6
    shown = strings(fig)
    for name in (
        "D1: Randomization process",
        "D2: Deviations from intended interventions",
        "D3: Missing outcome data",
        "D4: Measurement of the outcome",
        "D5: Selection of the reported result",
        "Alpha 2011",
    ):
        assert name in shown
    assert_clean_layout(fig)


def test_summary_bars_are_the_weight_shares(example):
    oa = example.outcomes[0]
    rob = example.review.risk_of_bias_for("events")
    w = {s.study: s.weight for s in oa.primary.studies}
    fig = rob_summary_plot(rob, weights=w)
    bar_w = fig.trialsynth["bar_width_inches"]

    def width(domain, judgement):
        bars = labelled(fig, f"ts:rob-bar:{domain}:{judgement}")
        return sum(b.get_width() for b in bars) / bar_w

    total = sum(w.values())
    # By hand from risk_of_bias.csv: D1 some concerns = Charlie and Echo; D3 high = Charlie;
    # D3 some concerns = Delta; overall low = Alpha; overall high = Charlie and Echo.
    assert width("D1", "some concerns") == pytest.approx((w["charlie"] + w["echo"]) / total)
    assert width("D1", "low") == pytest.approx((w["alpha"] + w["bravo"] + w["delta"]) / total)
    assert width("D3", "high") == pytest.approx(w["charlie"] / total)
    assert width("D3", "some concerns") == pytest.approx(w["delta"] / total)
    assert width("D4", "low") == pytest.approx(1.0)
    assert width("overall", "low") == pytest.approx(w["alpha"] / total)
    assert width("overall", "high") == pytest.approx((w["charlie"] + w["echo"]) / total)
    assert not labelled(fig, "ts:rob-bar:D4:high")
    assert_clean_layout(fig)


def test_unweighted_and_not_assessed_shares():
    judged = [
        ("A", {"D1": "low", "D2": "low", "D3": "high", "D4": "low", "D5": "low", "overall": "high"}),
        (
            "B",
            {
                "D1": "some concerns",
                "D2": "low",
                "D3": "low",
                "D4": "low",
                "D5": "low",
                "overall": "some concerns",
            },
        ),
    ]
    plain = summary_fractions(judged)
    assert plain["D1"] == {"low": 0.5, "some concerns": 0.5, "high": 0.0, "not assessed": 0.0}
    # C is in the analysis (weight 2) but not assessed; D is assessed but not in the analysis
    # (no weight), so it does not count: D3 = A high 1/4, B low 1/4, C not assessed 2/4.
    judged.append(
        ("D", {"D1": "high", "D2": "high", "D3": "high", "D4": "high", "D5": "high", "overall": "high"})
    )
    shares = summary_fractions(judged, {"A": 1.0, "B": 1.0, "C": 2.0})
    assert shares["D3"] == {"low": 0.25, "some concerns": 0.0, "high": 0.25, "not assessed": 0.5}
    fig = rob_summary_plot(judged, weights={"A": 1.0, "B": 1.0, "C": 2.0})
    assert "Not assessed" in strings(fig)
    with pytest.raises(ValueError, match="not a RoB 2 judgement"):
        summary_fractions([("A", {"D1": "unclear"})])


def test_forest_rob_columns_beside_the_studies(example):
    oa = example.outcomes[0]
    review = example.review
    labels = {s.id: s.label for s in review.studies}
    rob = review.risk_of_bias_for("events")
    display = replace(
        oa.primary, studies=tuple(replace(s, study=labels[s.study]) for s in oa.primary.studies)
    )
    judged = rob_by_label(rob[:4], labels)  # Echo left unassessed: its cells stay blank
    fig = forest_plot(display, risk_of_bias=judged)
    rows = {r["label"]: r["y"] for r in fig.trialsynth["rows"] if r["kind"] == "study"}
    for label, per in judged.items():
        for domain, judgement in per.items():
            (circle,) = labelled(fig, f"ts:rob:{domain}:{label}")
            assert _face(circle) == ROB_COLOURS[judgement].upper()
            assert circle.get_ydata()[0] == pytest.approx(rows[label])  # on the study's row
    assert not [a for a in fig.findobj() if str(a.get_label()).endswith(":Echo 2021")]
    shown = strings(fig)
    assert {"D1", "D2", "D3", "D4", "D5", "O"} <= set(shown)
    assert any(s.startswith("Risk of bias (RoB 2): D1 randomization process;") for s in shown)
    assert "Judgements: + low, \u2212 some concerns, \u00d7 high risk of bias." in shown
    assert_clean_layout(fig)
    assert_clean_layout(forest_plot(display, risk_of_bias=judged, layout="jama"))
    with pytest.raises(ValueError, match="not a RoB 2 judgement"):
        forest_plot(display, risk_of_bias={"Alpha 2011": {"D1": "low"}})


def test_report_draws_rob_figures_or_says_they_are_not_available(tmp_path):
    report = run_review(EXAMPLE, tmp_path / "rob").read_text(encoding="utf-8")
    assert "Risk of bias (RoB 2)</h3>" in report
    figures = {p.name for p in (tmp_path / "rob" / "figures").iterdir()}
    assert {"rob-traffic-main-events.svg", "rob-summary-main-events.svg"} <= figures
    assert "Judgements from: Invented for this synthetic example." in report
    crt = run_review(None, tmp_path / "crt").read_text(encoding="utf-8")
    assert "Not available: the review folder has no risk_of_bias.csv. No judgement is assumed." in crt
    assert "Risk of bias (RoB 2) was not available: the review folder has no risk_of_bias.csv." in crt
    assert not any(p.name.startswith("rob-") for p in (tmp_path / "crt" / "figures").iterdir())


def test_results_json_has_the_weighted_shares_by_hand(example):
    # REML finds τ² = 0 here, so each trial's weight is 1/vᵢ with the log risk ratio's
    # variance vᵢ = 1/a − 1/n₁ + 1/c − 1/n₂ (outcomes.csv). Overall: alpha low; bravo and delta
    # some concerns; charlie and echo high. D3: charlie high, delta some concerns, others low.
    from trialsynth.report.results_json import results_document

    counts = {
        "alpha": (12, 100, 20, 100),
        "bravo": (30, 250, 41, 245),
        "charlie": (8, 60, 9, 62),
        "delta": (55, 400, 70, 410),
        "echo": (5, 45, 11, 44),
    }
    w = {s: 1 / (1 / a - 1 / n1 + 1 / c - 1 / n2) for s, (a, n1, c, n2) in counts.items()}
    total = sum(w.values())
    entry = results_document(example)["outcomes"][0]
    assert entry["result"]["tau2"] == 0.0
    rob = entry["risk_of_bias"]
    assert rob["tool"] == "RoB 2" and [s["study"] for s in rob["studies"]] == list(counts)
    assert rob["studies"][2]["D3"] == "high" and rob["studies"][2]["label"] == "Charlie 2016"
    shares = rob["weighted_shares"]
    expected_overall = {
        "low": w["alpha"] / total,
        "some_concerns": (w["bravo"] + w["delta"]) / total,
        "high": (w["charlie"] + w["echo"]) / total,
        "not_assessed": 0.0,
    }
    expected_d3 = {
        "low": (w["alpha"] + w["bravo"] + w["echo"]) / total,
        "some_concerns": w["delta"] / total,
        "high": w["charlie"] / total,
        "not_assessed": 0.0,
    }
    for got, want in ((shares["overall"], expected_overall), (shares["D3"], expected_d3)):
        assert got.keys() == want.keys()
        for key in want:
            assert got[key] == pytest.approx(want[key], rel=1e-12, abs=1e-15)  # same sums, float order only
    assert shares["D4"]["low"] == pytest.approx(1.0, rel=1e-12)


def test_results_json_risk_of_bias_is_null_without_assessments(tmp_path):
    from trialsynth.report.results_json import results_document

    folder = tmp_path / "review"
    shutil.copytree(EXAMPLE, folder)
    (folder / "risk_of_bias.csv").unlink()
    assert results_document(analyse_review(folder))["outcomes"][0]["risk_of_bias"] is None
