"""Multi-arm trials in a review folder: arm rows (``arm`` column of outcomes.csv) and
``[[multi_arm]]`` comparisons in review.toml — arms combined (Cochrane Handbook Table 6.5.a)
or a shared control split (Handbook 23.3.4) so that it is not counted twice.

Expected values are hand algebra written out below (metafor conventions: MD variance
SD1²/n1 + SD2²/n2; log OR variance 1/a + 1/b + 1/c + 1/d); tolerance 1e-12.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from trialsynth._core.errors import InputError
from trialsynth.io.review import load_review
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
[[outcomes]]
id = "bin"
name = "Binary"
data_type = "binary"
measure = "OR"
better = "lower"
[[outcomes]]
id = "cont"
name = "Continuous"
data_type = "continuous"
measure = "MD"
better = "higher"
"""

MULTI = """
[[multi_arm]]
study = "tri"
comparisons = {comparisons}
split_shared = {split}
note = "Three-arm trial: a and b are two doses of the intervention, c is usual care."
"""

OUTCOMES = (
    "outcome,study,use,kind,source,note,arm,events_treatment,n_treatment,events_control,n_control,"
    "events,n,mean_treatment,sd_treatment,mean_control,sd_control,mean,sd\n"
) + """bin,two,yes,quoted,s,,,10,50,15,50,,,,,,,,
bin,tri,yes,quoted,s,,a,,,,,12,40,,,,,,
bin,tri,yes,quoted,s,,b,,,,,15,41,,,,,,
bin,tri,yes,quoted,s,,c,,,,,20,51,,,,,,
cont,two,yes,quoted,s,,,,30,,30,,,11,4,9,4,,
cont,tri,yes,quoted,s,,a,,,,,,20,,,,,10,4
cont,tri,yes,quoted,s,,b,,,,,,30,,,,,14,5
cont,tri,yes,quoted,s,,c,,,,,,25,,,,,9,4.5
"""


def _folder(tmp_path: Path, comparisons: str, split: str = "false") -> Path:
    folder = tmp_path / "multi"
    folder.mkdir()
    (folder / "review.toml").write_text(
        TOML + MULTI.format(comparisons=comparisons, split=split), encoding="utf-8"
    )
    (folder / "studies.csv").write_text(
        "id,label,citation,year,source\ntwo,Two-arm,T 2001,2001,s\ntri,Three-arm,R 2005,2005,s\n",
        encoding="utf-8",
    )
    (folder / "outcomes.csv").write_text(OUTCOMES, encoding="utf-8")
    return folder


def _studies(folder: Path, outcome: str):
    oa = next(o for o in analyse_review(folder).outcomes if o.outcome.id == outcome)
    return {s.study: s for s in oa.primary.studies}, oa


def test_two_arms_combined_table_6_5_a(tmp_path: Path) -> None:
    folder = _folder(tmp_path, '["a + b vs c"]')
    studies, oa = _studies(folder, "cont")
    # Table 6.5.a: N = N1 + N2 = 20 + 30 = 50; M = (N1·M1 + N2·M2)/N = (20·10 + 30·14)/50 = 12.4;
    # SD = √(((N1−1)SD1² + (N2−1)SD2² + N1·N2/N·(M1−M2)²)/(N−1))
    #    = √((19·16 + 29·25 + 20·30/50·(10−14)²)/49) = √((304 + 725 + 192)/49) = √(1221/49).
    sd_combined = math.sqrt(1221 / 49)
    md = 12.4 - 9
    var = sd_combined**2 / 50 + 4.5**2 / 25
    assert studies["tri"].yi == pytest.approx(md, abs=1e-12)
    assert studies["tri"].vi == pytest.approx(var, abs=1e-12)
    row = next(r for r in oa.used_rows if r.study == "tri")
    assert row.kind == "derived"
    assert [d.method for d in row.derivations] == [
        "Combined groups: n",
        "Combined groups: mean",
        "Combined groups: SD",
    ]
    # Counts: events and sizes added (a + b = 27/81 vs c 20/51).
    studies, _ = _studies(folder, "bin")
    a, b, c, d = 27, 81 - 27, 20, 51 - 20
    assert studies["tri"].yi == pytest.approx(math.log(a * d / (b * c)), abs=1e-12)
    assert studies["tri"].vi == pytest.approx(1 / a + 1 / b + 1 / c + 1 / d, abs=1e-12)


def test_shared_control_split(tmp_path: Path) -> None:
    folder = _folder(tmp_path, '["a vs c", "b vs c"]', split="true")
    studies, oa = _studies(folder, "bin")
    # Control c (20/51) split in two (Handbook 23.3.4), whole numbers, remainder to the first:
    # n 26 + 25 = 51, events 10 + 10 = 20.
    # a vs c: 12/40 vs 10/26; b vs c: 15/41 vs 10/25.
    for key, (e1, n1, e2, n2) in {
        "tri[a vs c]": (12, 40, 10, 26),
        "tri[b vs c]": (15, 41, 10, 25),
    }.items():
        a, b, c, d = e1, n1 - e1, e2, n2 - e2
        assert studies[key].yi == pytest.approx(math.log(a * d / (b * c)), abs=1e-12)
        assert studies[key].vi == pytest.approx(1 / a + 1 / b + 1 / c + 1 / d, abs=1e-12)
    assert oa.primary.k == 3
    # Continuous: control n 25 → 13 + 12, mean and SD unchanged.
    studies, _ = _studies(folder, "cont")
    assert studies["tri[a vs c]"].vi == pytest.approx(16 / 20 + 4.5**2 / 13, abs=1e-12)
    assert studies["tri[b vs c]"].vi == pytest.approx(25 / 30 + 4.5**2 / 12, abs=1e-12)
    assert studies["tri[b vs c]"].yi == pytest.approx(14 - 9, abs=1e-12)
    review = load_review(folder)
    assert review.study("tri[a vs c]").label == "Three-arm"


def test_same_control_twice_unsplit_is_an_error(tmp_path: Path) -> None:
    folder = _folder(tmp_path, '["a vs c", "b vs c"]')
    review = load_review(folder)
    with pytest.raises(InputError) as caught:
        review.pool_table("bin")
    message = str(caught.value)
    assert "study 'tri' would enter one analysis twice with the same arm 'c'" in message
    assert "split_shared = true" in message
    assert "outcomes.csv" in message and "\n" not in message


@pytest.mark.parametrize(
    ("comparisons", "words"),
    [
        ('["a + vs c"]', "empty arm name"),
        ('["a + b"]', "is not a comparison"),
        ('["a vs a"]', "names an arm twice"),
        ("[]", "at least one comparison"),
    ],
)
def test_bad_comparisons_are_one_line_errors(tmp_path: Path, comparisons: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        load_review(_folder(tmp_path, comparisons))
    assert words in str(caught.value) and "review.toml" in str(caught.value)


def test_arm_missing_and_undeclared_trial(tmp_path: Path) -> None:
    folder = _folder(tmp_path, '["a + d vs c"]')
    with pytest.raises(InputError) as caught:
        load_review(folder).pool_table("bin")
    assert "names arm 'd', which has no used row" in str(caught.value)
    toml = folder / "review.toml"
    toml.write_text(TOML, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_review(folder)
    assert "study 'tri' has arm rows but no [[multi_arm]] table" in str(caught.value)
