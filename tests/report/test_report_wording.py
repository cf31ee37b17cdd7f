"""The report's sentences as a reviewer reads them: short, no internal names, details where
they belong (the table of data used), numbers with the digits a paper prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from trialsynth.report.explain import DERIVED_SPELLED_OUT, reported_sentence
from trialsynth.report.results_json import results_document
from trialsynth.workflow.runner import analyse_review

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def bcg():
    return results_document(analyse_review(EXAMPLES / "bcg"))


def test_many_derived_trials_are_named_not_spelled_out(bcg):
    # All 13 BCG trials give TB-positive and TB-negative counts, from which n is derived:
    # the explanation names them and points to the data table instead of 13 derivations.
    entry = bcg["outcomes"][0]
    derived = [r["study"] for r in entry["rows"] if r["kind"] == "derived"]
    assert len(derived) == 13 > DERIVED_SPELLED_OUT
    line = next(x for x in entry["explanation"] if x.startswith("Derived numbers"))
    assert line.startswith("Derived numbers were used for 13 trials (Aronson 1948, Ferguson & Simes 1949,")
    assert line.endswith("); how each was derived is in the table of data used and their sources.")
    assert "tpos" not in line and len(line) < 400


def test_few_derived_trials_keep_their_derivation():
    doc = results_document(analyse_review(EXAMPLES / "imaging-guided-crt"))
    entry = next(e for e in doc["outcomes"] if e["outcome"] == "response" and e["analysis_set"] == "paper")
    line = next(x for x in entry["explanation"] if x.startswith("Derived numbers"))
    assert "TARGET (Khan 2012) (Counts derived by trialsynth from the quoted percentages" in line


class _Reported:
    def __init__(self, estimate, lower, upper, p):
        self.estimate_text, self.ci_lower_text = estimate, lower
        self.ci_upper_text, self.p_value_text = upper, p


def test_printed_numbers_stay_as_printed_machine_numbers_are_rounded():
    printed = _Reported("0.60", "0.40", "0.88", "<.01")
    assert reported_sentence(printed, "HR") == "HR = 0.60; 95% CI = 0.40–0.88; p < .01"
    precise = _Reported("0.123456", "0.1", "0.2", "0.0312")  # six significant digits: as printed
    assert reported_sentence(precise, "MD") == "MD = 0.123456; 95% CI = 0.1–0.2; p = 0.0312"
    stored = _Reported("1.2345678901", "-0.004999999", "2.5", "0.000123456789")
    assert reported_sentence(stored, "MD") == "MD = 1.23; 95% CI = 0.00–2.5; p < .001"


def test_no_empty_tables_and_no_comparison_with_nothing(tmp_path):
    # The RoB example has no baseline characteristics, no data gaps and no published result:
    # the report says so in a sentence instead of printing header-only tables.
    import re

    from trialsynth.report.review import run_review

    folder = Path(__file__).resolve().parents[1] / "fixtures" / "reviews" / "rob-example"
    html = run_review(folder, tmp_path / "rob").read_text(encoding="utf-8")
    for table in re.findall(r"<table.*?</table>", html, re.S):
        assert re.search(r"<tbody>\s*<tr>", table) or "<thead>" not in table, table[:120]
    assert "None: every included trial has data for every outcome." in html
    assert "The review folder gives no baseline characteristics." in html
    assert "No published result to compare with." in html
    assert "Reported by the source: not reported" not in html


def test_negative_bounds_read_with_minus_signs_and_to():
    # An en dash between two negative numbers ("−0.61–−0.08") reads as a subtraction.
    from types import SimpleNamespace

    from trialsynth.report.explain import ci_range, summary_sentence

    assert ci_range(0.4, 0.88) == "0.40–0.88"
    assert ci_range(-0.614, -0.081) == "\u22120.61 to \u22120.08"
    assert ci_range(-0.5, 0.2) == "\u22120.50 to 0.20"
    smd = SimpleNamespace(
        level=95.0, estimate=-0.344, ci_lower=-0.611, ci_upper=-0.078, p_value=0.0104, ratio=False
    )
    assert summary_sentence(smd, "SMD") == "SMD = \u22120.34; 95% CI = \u22120.61 to \u22120.08; p = .01"
    printed = _Reported("-0.34", "-0.61", "-0.08", ".01")
    assert reported_sentence(printed, "SMD") == "SMD = -0.34; 95% CI = -0.61 to -0.08; p = .01"


def test_header_names_the_conventions_in_words(tmp_path):
    from trialsynth.report.review import run_review

    folder = Path(__file__).resolve().parents[1] / "fixtures" / "reviews" / "rob-example"
    html = run_review(folder, tmp_path / "rob").read_text(encoding="utf-8")
    assert "Conventions: those of R&#39;s metafor package (in random-effects models I² from τ²)." in html
