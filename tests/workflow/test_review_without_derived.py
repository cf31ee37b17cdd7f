"""The report's data table shows how derived numbers were derived, and the sensitivity analysis
without them is one setting away (``sensitivity_without_derived = true`` in ``[analysis]``).

Expected values: hand algebra written out below (inverse-variance fixed effect of mean
differences, metafor's variance SD1²/n1 + SD2²/n2); tolerance 1e-12.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from trialsynth.report.results_json import results_document
from trialsynth.workflow.runner import analyse_review

TOML = """
[review]
title = "t"
[review.question]
population = "p"
intervention = "i"
comparator = "c"
[analysis]
model = { method = "FE" }
{setting}
[[outcomes]]
id = "o"
name = "O"
data_type = "continuous"
measure = "MD"
better = "higher"
"""

OUTCOMES = (
    "outcome,study,use,kind,source,note,mean_treatment,sd_treatment,n_treatment,mean_control,"
    "sd_control,n_control,se_treatment,se_control\n"
    "o,a,yes,quoted,s,,10,4,40,8,4,40,,\n"
    "o,b,yes,quoted,s,,12,5,50,9,5,50,,\n"
    "o,c,yes,quoted,s,SDs from the SEs of the arm means,11,,25,10,,25,0.8,1\n"
)


def _folder(tmp_path: Path, setting: str) -> Path:
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "review.toml").write_text(TOML.replace("{setting}", setting), encoding="utf-8")
    (folder / "studies.csv").write_text(
        "id,label,citation,year,source\na,A,A,2001,s\nb,B,B,2002,s\nc,C,C,2003,s\n", encoding="utf-8"
    )
    (folder / "outcomes.csv").write_text(OUTCOMES, encoding="utf-8")
    return folder


def test_off_by_default(tmp_path: Path) -> None:
    (oa,) = analyse_review(_folder(tmp_path, "")).outcomes
    assert oa.without_derived is None


def test_sensitivity_without_derived_numbers(tmp_path: Path) -> None:
    analysis = analyse_review(_folder(tmp_path, "sensitivity_without_derived = true"))
    (oa,) = analysis.outcomes
    # All three: C's SDs from SEs, SD = SE·√n: 0.8·5 = 4, 1·5 = 5 (Handbook 6.5.2.2).
    v = [16 / 40 + 16 / 40, 25 / 50 + 25 / 50, 16 / 25 + 25 / 25]
    y = [2, 3, 1]
    assert oa.primary.estimate == pytest.approx(
        sum(yi / vi for yi, vi in zip(y, v, strict=True)) / sum(1 / vi for vi in v), abs=1e-12
    )
    # Without C (its numbers derived): trials A and B only.
    w = oa.without_derived
    assert w.excluded == ("c",)
    expected = (2 / v[0] + 3 / v[1]) / (1 / v[0] + 1 / v[1])
    assert w.result.k == 2
    assert w.result.estimate == pytest.approx(expected, abs=1e-12)
    assert w.result.se == pytest.approx(math.sqrt(1 / (1 / v[0] + 1 / v[1])), abs=1e-12)

    doc = results_document(analysis)
    (entry,) = doc["outcomes"]
    row = entry["sensitivity"][-1]
    assert row["without_derived"] is True and row["excluded"] == ["c"]
    assert row["estimate"] == pytest.approx(expected, abs=1e-12)
    derivation = {r["study"]: r["derivation"] for r in entry["rows"]}
    assert derivation["a"] == derivation["b"] == ""
    assert "SD from SE, treatment: 0.8 × √25 = 4" in derivation["c"]
    assert "SD from SE, control: 1 × √25 = 5" in derivation["c"]


def test_report_shows_derivation_and_sensitivity_row(tmp_path: Path) -> None:
    from trialsynth.report.html import build_context

    analysis = analyse_review(_folder(tmp_path, "sensitivity_without_derived = true"))
    context = build_context(analysis, results_document(analysis), tmp_path / "out")
    (sec,) = [s for s in context["sections"] if s.get("rows")]
    rows = {r["label"]: r for r in sec["rows"]}
    assert "0.8 × √25 = 4" in rows["C"]["derivation"]
    assert "without trials with derived numbers (left out: C)" in sec["sensitivity"][-1]["model"]
    assert sec["sensitivity"][-1]["k"] == 2


def test_every_trial_derived_leaves_no_result(tmp_path: Path) -> None:
    from trialsynth.report.excel import workbook_bytes

    folder = _folder(tmp_path, "sensitivity_without_derived = true")
    outcomes = folder / "outcomes.csv"
    lines = outcomes.read_text(encoding="utf-8").splitlines()
    (folder / "studies.csv").write_text("id,label,citation,year,source\nc,C,C,2003,s\n", encoding="utf-8")
    outcomes.write_text("\n".join([lines[0], lines[3]]) + "\n", encoding="utf-8")
    analysis = analyse_review(folder)
    (oa,) = analysis.outcomes
    assert oa.without_derived.result is None
    assert oa.without_derived.note == "every trial with data has derived numbers"
    doc = results_document(analysis)
    row = doc["outcomes"][0]["sensitivity"][-1]
    assert row["without_derived"] is True and row["k"] == 0 and row["estimate"] is None
    assert workbook_bytes(analysis, doc)[:2] == b"PK"  # the workbook is still written
