"""RevMan 5 import: a .rm5 file or RevMan's CSV export becomes a review folder whose run
reproduces the results RevMan stored in the file.

Sources of the expected numbers:

* RevMan itself. ``tests/fixtures/revman/types.rm5`` analysis 1.1 carries the results RevMan
  5.0.23 stored for the aspirin trials of Fleiss (Stat Methods Med Res 1993;2:121-145) in its
  own review file (full doubles); ``export.csv`` analysis 1.1 carries the results RevMan's CSV
  export gives for Fleiss's psychotherapy trials (mean difference, eight decimals). When the
  original files are on this machine (``/work/shared/revman``) they are imported as well.
* Hand algebra, written out below, for the analysis types the RevMan sample does not cover
  (standardised mean difference, Peto, risk difference, generic inverse variance, O − E).

Tolerances are those of :mod:`trialsynth.workflow.revman_compare` (RevMan's stored precision:
1e-9 relative for the doubles of a .rm5 file, half a unit of the eighth decimal for the CSV
export, p-values 1e-6 relative because RevMan's χ² tail differs from R's pchisq by 6e-7);
hand algebra is checked to 1e-12 relative.
"""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import pytest

from trialsynth._core.errors import InputError
from trialsynth.io.revman import import_revman, read_revman
from trialsynth.workflow.revman_compare import compare, read_stored
from trialsynth.workflow.runner import analyse_review

FIXTURES = Path(__file__).parents[1] / "fixtures" / "revman"
SHARED = Path("/work/shared/revman")
HAND = 1e-12
Z95 = 1.959963984540054


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _import_and_compare(source: Path, folder: Path):
    import_revman(source, folder)
    analysis = analyse_review(folder)
    return analysis, compare(analysis, read_stored(folder / "revman_stored.csv"))


def _assert_all_agree(comparisons, minimum: int):
    compared = [c for c in comparisons if c.agrees is not None]
    differ = [(c.outcome, c.level, c.study, c.statistic, c.revman, c.ours) for c in compared if not c.agrees]
    assert not differ
    assert len(compared) >= minimum


@pytest.fixture(scope="module")
def types(tmp_path_factory):
    folder = tmp_path_factory.mktemp("types")
    analysis, comparisons = _import_and_compare(FIXTURES / "types.rm5", folder / "review")
    by_outcome = {oa.outcome.id: oa for oa in analysis.outcomes}
    return folder / "review", by_outcome, comparisons


# ----------------------------------------------------------------------- RevMan's own numbers


def test_fixture_fleiss_mantel_haenszel_matches_revman(types):
    _folder, by_outcome, comparisons = types
    fleiss = [c for c in comparisons if c.outcome == "1.1"]
    # 7 studies × (effect, CI, three log10 values, SE, VAR, weight, estimable) + the pooled numbers.
    _assert_all_agree(fleiss, 7 * 10 + 12)
    not_compared = {c.statistic for c in fleiss if c.agrees is None}
    assert not_compared == {"TAU2"}  # fixed effect: RevMan writes 0, there is no τ² to compare
    result = by_outcome["1.1"].primary
    assert result.method == "MH" and result.profile == "revman"
    assert math.exp(result.estimate) == pytest.approx(0.8968655609130709, rel=1e-9)


def test_csv_export_mean_difference_matches_revman(tmp_path):
    _analysis, comparisons = _import_and_compare(FIXTURES / "export.csv", tmp_path / "review")
    md = [c for c in comparisons if c.outcome == "1.1"]
    # 5 studies × (effect, SE, CI, weight) + effect, CI, weight, Q, P(Q), I², Z, P(Z), df.
    _assert_all_agree(md, 5 * 5 + 10)
    assert all(c.tolerance >= 5e-9 for c in md)


@pytest.mark.skipif(
    not (SHARED / "Fleiss1993.rm5").exists(), reason="the RevMan sample is not on this machine"
)
def test_revman_sample_rm5_reproduced(tmp_path):
    _analysis, comparisons = _import_and_compare(SHARED / "Fleiss1993.rm5", tmp_path / "review")
    _assert_all_agree([c for c in comparisons if c.outcome == "1.1"], 7 * 10 + 12)
    # The second analysis (SMD) stores no RevMan results: only its degrees of freedom,
    # total weight and "estimable" flags are there to compare.
    second = [c for c in comparisons if c.outcome == "1.2"]
    assert {c.statistic for c in second} == {"DF", "WEIGHT", "ESTIMABLE"}
    _assert_all_agree(second, 7)
    readme = (tmp_path / "review" / "README.md").read_text()
    assert (
        "Analysis 1.2 (Mental Health Treatment versus Control): the file stores no RevMan results (no effect"
        in readme
    )


@pytest.mark.skipif(
    not (SHARED / "Fleiss1993_CR.csv").exists(), reason="the RevMan sample is not on this machine"
)
def test_revman_sample_csv_reproduced(tmp_path):
    _analysis, comparisons = _import_and_compare(SHARED / "Fleiss1993_CR.csv", tmp_path / "review")
    _assert_all_agree(comparisons, 7 * 5 + 10 + 5 * 5 + 10)


# ----------------------------------------------------------------------- the folder


def test_folder_layout_and_provenance(types):
    folder, by_outcome, _ = types
    outcomes = _rows(folder / "outcomes.csv")
    used = [r for r in outcomes if r["use"] == "yes"]
    assert used and all(r["source"].startswith("types.rm5: COMPARISON NO=") for r in used)
    assert all("(line " in r["source"] for r in used)
    isis = next(r for r in used if r["outcome"] == "1.1" and r["study"] == "ISIS-2")  # STD-ISIS_x002d_2
    assert (isis["events_treatment"], isis["n_treatment"], isis["events_control"], isis["n_control"]) == (
        "1570",
        "8587",
        "1720",
        "8600",
    )
    toml = (folder / "review.toml").read_text()
    assert 'profile = "revman"' in toml
    assert by_outcome["2.2"].outcome.level == 99  # CI_TOTAL="99"; the review's default is 95
    assert by_outcome["2.2"].outcome.better == "higher"  # left label "Favours placebo"
    assert by_outcome["2.2"].outcome.label_treatment == "Favours drug"
    assert by_outcome["2.2"].primary.level == 99
    reported = _rows(folder / "reported.csv")
    assert [r["outcome"] for r in reported] == ["1.1"]
    assert reported[0]["estimate"] == "0.8968655609130709"
    readme = (folder / "README.md").read_text()
    assert "outcome 2.8 Quality of life (narrative)" in readme  # a text outcome, not imported
    stored = _rows(folder / "revman_stored.csv")
    assert {r["precision"] for r in stored} == {"double"}


def test_not_estimable_and_zero_cells(types):
    folder, by_outcome, _ = types
    # SD of zero: RevMan cannot estimate the SMD; the row is kept, not used, with the reason.
    gamma = next(r for r in _rows(folder / "outcomes.csv") if r["outcome"] == "2.1" and r["study"] == "Gamma")
    assert gamma["use"] == "no" and "SD of zero" in gamma["note"] and gamma["sd_treatment"] == "0.0"
    rr = {s.study: s for s in by_outcome["2.2"].primary.studies}
    assert not rr["Delta"].included  # no events in either arm: not estimable for a risk ratio
    # Beta 0/40 vs 5/38: RevMan adds 0.5 to every cell: RR = (0.5/41)/(5.5/39), var = 1/a − 1/n1 + 1/c − 1/n2.
    assert rr["Beta"].yi == pytest.approx(math.log((0.5 / 41) / (5.5 / 39)), rel=HAND)
    assert rr["Beta"].vi == pytest.approx(1 / 0.5 - 1 / 41 + 1 / 5.5 - 1 / 39, rel=HAND)


def test_study_twice_in_one_analysis_gets_a_second_entry(types):
    folder, by_outcome, _ = types
    studies = {r["id"]: r for r in _rows(folder / "studies.csv")}
    extra = studies["Alpha.2.2.2"]
    assert extra["revman_id"] == "STD-Alpha" and "entry 2 in 2.2" in extra["label"]
    groups = dict(next(res for sub, res in by_outcome["2.2"].subgroups).groups)
    assert {s.study for s in groups["Low dose"].studies} == {"Alpha", "Beta", "Delta"}
    assert {s.study for s in groups["High dose"].studies} == {"Alpha.2.2.2", "Epsilon"}


def test_subgroup_test_is_q_across_subgroup_estimates(types):
    # RevMan 5's test for subgroup differences: Q = Σ w_g (θ_g − θ̄)², w_g = 1/SE_g², df = G − 1.
    _, by_outcome, _ = types
    res = next(res for sub, res in by_outcome["2.2"].subgroups)
    est = [g.estimate for _, g in res.groups]
    w = [1 / g.se**2 for _, g in res.groups]
    mean = sum(wi * ei for wi, ei in zip(w, est, strict=True)) / sum(w)
    q = sum(wi * (ei - mean) ** 2 for wi, ei in zip(w, est, strict=True))
    assert res.q_between == pytest.approx(q, rel=HAND) and res.q_between_df == 1


# ----------------------------------------------------------------------- hand algebra


def test_smd_uses_revman_hedges_g(types):
    # RevMan 5: g = d·(1 − 3/(4N − 9)), SE² = N/(n1·n2) + g²/(2(N − 3.94)); fixed effect, inverse variance.
    _, by_outcome, _ = types

    def smd(m1, s1, n1, m2, s2, n2):
        n = n1 + n2
        sp = math.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n - 2))
        g = (m1 - m2) / sp * (1 - 3 / (4 * n - 9))
        return g, n / (n1 * n2) + g**2 / (2 * (n - 3.94))

    (g1, v1), (g2, v2) = smd(10.0, 4.0, 20, 12.0, 5.0, 22), smd(8.5, 3.0, 40, 9.0, 3.5, 38)
    result = by_outcome["2.1"].primary
    assert [s.study for s in result.studies] == ["Alpha", "Beta"]
    assert result.studies[0].yi == pytest.approx(g1, rel=HAND)
    assert result.studies[0].vi == pytest.approx(v1, rel=HAND)
    assert result.estimate == pytest.approx((g1 / v1 + g2 / v2) / (1 / v1 + 1 / v2), rel=HAND)


def test_peto_without_zero_cell_correction(types):
    # Peto: O − E = a − (a + c)n1/N, V = (a + c)(b + d)n1n2/(N²(N − 1)); pooled ln OR = Σ(O − E)/ΣV.
    _, by_outcome, _ = types

    def peto(a, n1, c, n2):
        n = n1 + n2
        return a - (a + c) * n1 / n, (a + c) * (n - a - c) * n1 * n2 / (n**2 * (n - 1))

    (o1, v1), (o2, v2) = peto(0, 20, 3, 22), peto(2, 40, 6, 38)
    result = by_outcome["2.3"].primary
    assert result.method == "PETO"
    assert result.estimate == pytest.approx((o1 + o2) / (v1 + v2), rel=HAND)
    assert result.se == pytest.approx(1 / math.sqrt(v1 + v2), rel=HAND)
    alpha = result.studies[0]
    assert alpha.yi == pytest.approx(o1 / v1, rel=HAND) and alpha.note == ""  # no 0.5 added


def test_risk_difference_mantel_haenszel(types):
    # MH risk difference: Σ(a·n2 − c·n1)/N ÷ Σ n1·n2/N. Delta (0/15 vs 0/15) stays in for RD with
    # RevMan's 0.5 added to each cell (0.5/16 vs 0.5/16): it adds 16·16/32 = 8 to the weights.
    _, by_outcome, _ = types
    num = (3 * 22 - 5 * 20) / 42 + (0.5 * 16 - 0.5 * 16) / 32
    den = 20 * 22 / 42 + 16 * 16 / 32
    assert by_outcome["2.4"].primary.estimate == pytest.approx(num / den, rel=HAND)


def test_generic_inverse_variance_hazard_ratio(types):
    # Entered on the log scale (LOG_DATA="YES"): ln HR with SE; fixed effect Σ(y/SE²)/Σ(1/SE²).
    _, by_outcome, _ = types
    w1, w2 = 1 / 0.12**2, 1 / 0.2**2
    result = by_outcome["2.5"].primary
    assert result.measure == "HR"
    assert result.estimate == pytest.approx((-0.25 * w1 - 0.1 * w2) / (w1 + w2), rel=HAND)


def test_generic_inverse_variance_random_effects(types):
    # DerSimonian–Laird: τ² = max(0, (Q − (k − 1))/(Σw − Σw²/Σw)), then weights 1/(SE² + τ²).
    _, by_outcome, _ = types
    y, se = [-1.2, 0.4, -2.5], [0.5, 0.6, 0.7]
    w = [1 / s**2 for s in se]
    fixed = sum(wi * yi for wi, yi in zip(w, y, strict=True)) / sum(w)
    q = sum(wi * (yi - fixed) ** 2 for wi, yi in zip(w, y, strict=True))
    tau2 = max(0.0, (q - 2) / (sum(w) - sum(wi**2 for wi in w) / sum(w)))
    wr = [1 / (s**2 + tau2) for s in se]
    result = by_outcome["2.6"].primary
    assert result.tau2 == pytest.approx(tau2, rel=HAND)
    assert result.estimate == pytest.approx(
        sum(a * b for a, b in zip(wr, y, strict=True)) / sum(wr), rel=HAND
    )


def test_o_minus_e_peto_odds_ratio(types):
    # O − E and V pooled by Peto's method: ln OR = Σ(O − E)/ΣV, SE = 1/√ΣV.
    folder, by_outcome, _ = types
    result = by_outcome["2.7"].primary
    assert result.measure == "OR"
    assert result.estimate == pytest.approx((-3.2 - 1.1) / (7.5 + 4.0), rel=HAND)
    assert result.se == pytest.approx(1 / math.sqrt(11.5), rel=HAND)
    rows = [r for r in _rows(folder / "outcomes.csv") if r["outcome"] == "2.7" and r["study"] == "Beta"]
    assert [(r["use"], r["kind"]) for r in rows] == [("no", "quoted"), ("yes", "derived")]
    assert rows[0]["o_minus_e"] == "-3.2" and rows[0]["v"] == "7.5"


def test_csv_export_subgroups_and_o_minus_e(tmp_path):
    analysis, _ = _import_and_compare(FIXTURES / "export.csv", tmp_path / "review")
    by_outcome = {oa.outcome.id: oa for oa in analysis.outcomes}
    groups = dict(next(res for sub, res in by_outcome["1.2"].subgroups).groups)
    assert {s.study for s in groups["Short course"].studies} == {"Davis", "Gruen"}
    assert {s.study for s in groups["Long course"].studies} == {"Hart", "Wilson"}
    hr = by_outcome["1.3"].primary
    assert hr.measure == "HR" and hr.method == "FE"
    assert hr.estimate == pytest.approx((-2.1 + 0.7) / (5.2 + 3.9), rel=HAND)


# ----------------------------------------------------------------------- malformed files


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


MINIMAL = """<?xml version="1.0" encoding="UTF-8"?>
<COCHRANE_REVIEW>
<STUDIES_AND_REFERENCES><STUDIES><INCLUDED_STUDIES>
<STUDY ID="STD-A" NAME="A 2001" YEAR="2001"/>
</INCLUDED_STUDIES></STUDIES></STUDIES_AND_REFERENCES>
<ANALYSES_AND_DATA>
<COMPARISON ID="CMP-001" NO="1"><NAME>c</NAME>
<DICH_OUTCOME EFFECT_MEASURE="OR" METHOD="MH" NO="1" RANDOM="NO">
<NAME>o</NAME>
{data}
</DICH_OUTCOME>
</COMPARISON>
</ANALYSES_AND_DATA>
</COCHRANE_REVIEW>
"""
GOOD_DATA = '<DICH_DATA EVENTS_1="3" EVENTS_2="5" STUDY_ID="STD-A" TOTAL_1="20" TOTAL_2="22"/>'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>\n<r>&b;</r>',
            "line 2: the document type declares its own entities",
        ),
        (
            '<?xml version="1.0"?>\n<!DOCTYPE r SYSTEM "http://example.org/evil.dtd">\n<r>&ext;</r>',
            "line 3: the file uses an entity it does not define",
        ),
        ("this is not XML", "line 1: this is not well-formed XML"),
        ('<?xml version="1.0"?>\n<REVIEW/>', "line 2: <REVIEW>: not a RevMan 5 review file"),
        (MINIMAL.format(data=GOOD_DATA.replace("STD-A", "STD-B")), "line 10: <DICH_DATA>: STUDY_ID 'STD-B'"),
        (
            MINIMAL.format(data=GOOD_DATA.replace('"3"', '"three"')),
            "attribute EVENTS_1 is 'three', not a number",
        ),
        (
            MINIMAL.format(data=GOOD_DATA.replace(' EVENTS_2="5"', "")),
            "attribute EVENTS_2 (entered data) is missing",
        ),
        (MINIMAL.format(data=GOOD_DATA).replace('METHOD="MH"', 'METHOD="XX"'), "METHOD 'XX' is not a RevMan"),
        (MINIMAL.format(data=GOOD_DATA).replace('"OR"', '"LOGIT"'), "EFFECT_MEASURE 'LOGIT' is not one of"),
    ],
)
def test_malformed_rm5_is_a_clear_error(tmp_path, text, expected):
    path = _write(tmp_path, "bad.rm5", text)
    with pytest.raises(InputError) as info:
        read_revman(path)
    assert str(info.value).startswith(str(path))
    assert expected in str(info.value)


def test_events_above_total_names_the_element(tmp_path):
    path = _write(
        tmp_path, "bad.rm5", MINIMAL.format(data=GOOD_DATA.replace('EVENTS_1="3"', 'EVENTS_1="30"'))
    )
    with pytest.raises(
        InputError, match=r"DICH_DATA STUDY_ID=STD-A \(line 10\): EVENTS_1 \(30\) is above TOTAL_1"
    ):
        import_revman(path, tmp_path / "out")


def test_size_limit_and_empty_file(tmp_path, monkeypatch):
    path = _write(tmp_path, "big.rm5", MINIMAL.format(data=GOOD_DATA))
    monkeypatch.setenv("TRIALSYNTH_MAX_REVMAN_MB", "0.0001")
    with pytest.raises(InputError, match=r"above the limit of 100 bytes .*TRIALSYNTH_MAX_REVMAN_MB"):
        read_revman(path)
    with pytest.raises(InputError, match="the file is empty"):
        read_revman(_write(tmp_path, "empty.rm5", b""))


def test_malformed_csv_export(tmp_path):
    with pytest.raises(InputError, match="column\\(s\\) 'Subgroup Number' are missing"):
        read_revman(_write(tmp_path, "a.csv", "Comparison Number,Outcome Number,Name\n1,0,x\n"))
    text = (FIXTURES / "export.csv").read_text(encoding="utf-8").replace("1973\n", "1973,extra\n", 1)
    with pytest.raises(InputError, match=r"row 4: the row has 39 fields, the header 38"):
        read_revman(_write(tmp_path, "b.csv", text))
    text = (FIXTURES / "export.csv").read_text(encoding="utf-8").replace(",4.7,", ",four,", 1)
    with pytest.raises(InputError, match=r"row 4, column 'SD_1': 'four' is not a number"):
        read_revman(_write(tmp_path, "c.csv", text))
    with pytest.raises(InputError, match=r"should end in \.rm5"):
        read_revman(_write(tmp_path, "d.xml", "<x/>"))


# ----------------------------------------------------------------------- command line


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trialsynth", *args], capture_output=True, text=True, check=False
    )


def test_cli_import_refuses_non_empty_folder_and_run_writes_comparison(tmp_path):
    folder = tmp_path / "review"
    out = _cli("revman", "import", str(FIXTURES / "types.rm5"), "--out", str(folder))
    assert out.returncode == 0, out.stderr
    again = _cli("revman", "import", str(FIXTURES / "export.csv"), "--out", str(folder))
    assert again.returncode == 2
    assert again.stderr.count("\n") == 1 and "not empty (use --force" in again.stderr
    forced = _cli("revman", "import", str(FIXTURES / "export.csv"), "--out", str(folder), "--force")
    assert forced.returncode == 0, forced.stderr
    assert not (folder / "reported.csv").exists() or "types.rm5" not in (folder / "reported.csv").read_text()
    run = _cli("run", str(folder), "--out", str(tmp_path / "out"))
    assert run.returncode == 0, run.stderr
    comparison = _rows(tmp_path / "out" / "revman_comparison.csv")
    assert comparison and {r["agrees"] for r in comparison} <= {"yes", "not compared"}
    bad = _cli("revman", "import", str(tmp_path / "missing.rm5"), "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "no such file" in bad.stderr


def test_swapped_events_and_subtotals_only(tmp_path):
    # SWAP_EVENTS: RevMan analyses non-events; the entered counts stay as a quoted row.
    text = MINIMAL.format(data=GOOD_DATA).replace('RANDOM="NO"', 'RANDOM="NO" SWAP_EVENTS="YES" TOTALS="SUB"')
    folder = import_revman(_write(tmp_path, "swap.rm5", text), tmp_path / "out")
    rows = _rows(folder / "outcomes.csv")
    assert [(r["use"], r["kind"], r["events_treatment"], r["events_control"]) for r in rows] == [
        ("no", "quoted", "3", "5"),
        ("yes", "derived", "17", "17"),
    ]
    assert "20 − 3 and 22 − 5" in rows[1]["note"]
    result = analyse_review(folder).outcomes[0].primary
    assert result.estimate == pytest.approx(math.log(17 * 5 / (3 * 17)), rel=HAND)  # ln(a·d/(b·c)), one study
    assert "RevMan TOTALS = SUB" in (folder / "review.toml").read_text()


def test_outcome_level_is_checked(tmp_path):
    folder = import_revman(FIXTURES / "types.rm5", tmp_path / "review")
    toml = folder / "review.toml"
    toml.write_text(toml.read_text().replace("level = 99", "level = 100"))
    with pytest.raises(
        InputError, match=r"review.toml, line \d+: 'level' is a percentage between 50 and 100"
    ):
        analyse_review(folder)


def test_excluded_studies_are_not_imported(types):
    folder, _, _ = types
    ids = [r["id"] for r in _rows(folder / "studies.csv")]
    assert "Zeta" not in ids  # an EXCLUDED_STUDIES entry of types.rm5
    assert len(ids) == 12 + 1  # the 12 included studies and one second entry (Alpha in 2.2)


def test_texts_are_kept_verbatim_in_review_toml(tmp_path):
    name = 'Pain "at rest" \\ 24 h'
    text = MINIMAL.format(data=GOOD_DATA).replace("<NAME>o</NAME>", f"<NAME>{name}</NAME>")
    folder = import_revman(_write(tmp_path, "names.rm5", text), tmp_path / "out")
    review = analyse_review(folder).review
    assert review.outcomes[0].name == name


def test_report_says_a_study_is_not_in_the_revman_analysis(types):
    # A study of the file that RevMan analysis 1.1 does not hold has no data there: the report
    # says so (not "no usable public data", which would be untrue of an import), and RevMan's
    # stored doubles are shown rounded as a paper prints them (0.8968655609130709 → 0.90).
    from trialsynth.report.explain import reported_sentence
    from trialsynth.report.results_json import results_document

    folder, by_outcome, _ = types
    analysis = analyse_review(folder)
    doc = results_document(analysis)
    entry = next(e for e in doc["outcomes"] if e["outcome"] == "1.1")
    absent = entry["studies_without_data"]
    assert absent  # types.rm5 has studies outside analysis 1.1
    names = ", ".join(next(s.label for s in analysis.review.studies if s.id == sid) for sid in absent)
    first = entry["explanation"][0]
    assert first.endswith(
        f"; without data for {names}: not in RevMan analysis 1.1 of types.rm5 (the file holds no data there)."
    )
    assert not any("public" in line or "paper" in line for line in entry["explanation"])
    gap = next(g for g in doc["data_gaps"] if g["outcome"] == "1.1" and g["study"] == absent[0])
    assert gap["note"] == "not in RevMan analysis 1.1 of types.rm5 (the file holds no data there)"
    assert reported_sentence(by_outcome["1.1"].reported, "OR") == "OR = 0.90; 95% CI = 0.84–0.96; p = .001"
