"""Several analyses of one outcome (``[[outcomes.analyses]]`` in review.toml): the same rows of
outcomes.csv pooled with another measure, model or conventions profile, without duplicated rows.

Expected values are hand algebra written out here (inverse-variance fixed effect on the log
risk ratio; Cochrane Handbook 6.4.1 / 10.3.1), tolerance 1e-12.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from trialsynth._core.errors import InputError
from trialsynth.io.review import load_review
from trialsynth.workflow.runner import EXAMPLES, analyse_review

CRT = EXAMPLES / "imaging-guided-crt"

RR_ANALYSIS = '''
[[outcomes.analyses]]
id = "rr"
measure = "RR"
profile = "metafor"
model = { method = "FE", assumption = "Risk ratio, fixed effect: a second analysis of the same rows." }
sensitivity = []
'''


def _folder(tmp_path: Path, extra: str, after: str = 'id = "response"') -> Path:
    folder = tmp_path / "crt"
    shutil.copytree(CRT, folder)
    toml = folder / "review.toml"
    text = toml.read_text(encoding="utf-8")
    # Put the analysis at the end of the response outcome's table (before the next [[outcomes]]).
    start = text.index(after)
    end = text.index("[[outcomes]]", start)
    toml.write_text(text[:end] + extra.strip() + "\n\n" + text[end:], encoding="utf-8")
    return folder


def test_second_measure_of_one_outcome_without_duplicated_rows(tmp_path: Path) -> None:
    review = load_review(_folder(tmp_path, RR_ANALYSIS))
    extra = review.outcome("response.rr")
    assert (extra.measure, extra.profile, extra.rows_of) == ("RR", "metafor", "response")
    assert extra.model.method == "FE"
    assert extra.name == "CRT response (RR)"
    # Same rows, no gaps of its own.
    assert [r.row for r in review.rows("response.rr")] == [r.row for r in review.rows("response")]
    assert not [g for g in review.data_gaps() if g.outcome == "response.rr"]

    analysis = analyse_review(review.path)
    by_id = {(oa.outcome.id, oa.analysis_set): oa for oa in analysis.outcomes}
    rr = by_id["response.rr", "paper"].primary
    odds = by_id["response", "paper"].primary
    assert odds.measure == "OR" and odds.profile == "revman"  # the outcome's own analysis is unchanged
    assert rr.measure == "RR" and rr.profile == "metafor"
    # Hand algebra. Counts derived from the quoted percentages (dossier): TARGET 72/103 vs 57/104,
    # ImagingCRT 66/89 vs 54/93. log RR = ln((a/n1)/(c/n2)); var = 1/a − 1/n1 + 1/c − 1/n2.
    trials = [(72, 103, 57, 104), (66, 89, 54, 93)]
    y = [math.log((a / n1) / (c / n2)) for a, n1, c, n2 in trials]
    v = [1 / a - 1 / n1 + 1 / c - 1 / n2 for a, n1, c, n2 in trials]
    w = [1 / vi for vi in v]
    pooled = sum(wi * yi for wi, yi in zip(w, y, strict=True)) / sum(w)
    assert [s.yi for s in rr.studies] == pytest.approx(y, abs=1e-12)
    assert rr.estimate == pytest.approx(pooled, abs=1e-12)
    assert rr.se == pytest.approx(math.sqrt(1 / sum(w)), abs=1e-12)


def test_results_document_lists_each_analysis(tmp_path: Path) -> None:
    from trialsynth.report.results_json import results_document

    doc = results_document(analyse_review(_folder(tmp_path, RR_ANALYSIS)))
    entries = {(e["outcome"], e["analysis_set"]): e for e in doc["outcomes"]}
    assert entries["response.rr", "paper"]["measure"] == "RR"
    assert entries["response.rr", "paper"]["rows_of"] == "response"
    assert entries["response.rr", "paper"]["profile"] == "metafor"
    assert entries["response", "paper"]["profile"] == "revman"
    assert not [g for g in doc["data_gaps"] if g["outcome"] == "response.rr"]


def test_outcome_level_profile(tmp_path: Path) -> None:
    folder = _folder(tmp_path, 'profile = "metafor"', after='id = "nyha"')
    review = load_review(folder)
    assert review.outcome("nyha").profile == "metafor"
    assert review.outcome("response").profile is None


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (RR_ANALYSIS.replace('"RR"', '"MD"'), "does not go with data_type binary"),
        (RR_ANALYSIS.replace('id = "rr"', 'id = "r r"'), "identifier"),
        (RR_ANALYSIS + RR_ANALYSIS, "used twice"),
        (RR_ANALYSIS.replace('profile = "metafor"', 'profile = "stata"'), "stata"),
        (RR_ANALYSIS.replace("sensitivity = []", 'colour = "red"'), "colour"),
    ],
)
def test_bad_analyses_are_one_line_errors(tmp_path: Path, extra: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        load_review(_folder(tmp_path, extra))
    assert words in str(caught.value)
    assert "review.toml" in str(caught.value)


def test_rows_cannot_name_an_analysis(tmp_path: Path) -> None:
    folder = _folder(tmp_path, RR_ANALYSIS)
    csv = folder / "outcomes.csv"
    text = csv.read_text(encoding="utf-8")
    csv.write_text(text.replace("\nresponse,starter,", "\nresponse.rr,starter,", 1), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_review(folder)
    assert "is an analysis of outcome 'response'" in str(caught.value)
    assert "outcomes.csv" in str(caught.value)


def test_variance_column_and_blank_year(tmp_path: Path) -> None:
    """A ``variance`` column (SE = √variance) in outcomes.csv, and a study without a year.
    Hand algebra: inverse-variance fixed effect of MDs 1.5 (variance 0.25) and −0.5 (0.04):
    (1.5·4 − 0.5·25) / (4 + 25) = −6.5/29; SE = 1/√29."""
    folder = tmp_path / "small"
    folder.mkdir()
    (folder / "review.toml").write_text(
        '[review]\ntitle = "t"\n[review.question]\npopulation = "p"\nintervention = "i"\ncomparator = "c"\n'
        '[[outcomes]]\nid = "o"\nname = "O"\ndata_type = "continuous"\nmeasure = "MD"\nbetter = "higher"\n'
        'model = { method = "FE" }\n',
        encoding="utf-8",
    )
    (folder / "studies.csv").write_text(
        "id,label,citation,year,source\na,A,A 2001,2001,s\nb,B,B (year not known),,s\n", encoding="utf-8"
    )
    (folder / "outcomes.csv").write_text(
        "outcome,study,use,kind,source,note,estimate,variance\n"
        "o,a,yes,quoted,s,,1.5,0.25\no,b,yes,quoted,s,,-0.5,0.04\n",
        encoding="utf-8",
    )
    review = load_review(folder)
    assert [s.year for s in review.studies] == [2001, None]
    res = next(oa for oa in analyse_review(folder).outcomes).primary
    assert [s.vi for s in res.studies] == pytest.approx([0.25, 0.04], abs=1e-15)
    assert res.estimate == pytest.approx(-6.5 / 29, abs=1e-12)
    assert res.se == pytest.approx(1 / math.sqrt(29), abs=1e-12)
