"""RevMan 5 export: a review folder written as an .rm5 file and read back by trialsynth's importer.

What the numbers are compared with:

* The original review's own results (``analyse_review`` of the bundled CRT and BCG reviews, and
  of the RevMan test review imported from ``tests/fixtures/revman/types.rm5``): export → import
  → analyse must give every analysis RevMan 5 can represent with the same pooled numbers, to
  1e-10 relative (the .rm5 file stores every number as a shortest round-trip decimal, so the
  only differences are the last bits of SE² = vi).
* metafor: BCG's DL fit as re-imported equals ``rma(method = "DL")`` of dat.bcg pinned in
  ``tests/fixtures/reviews_metafor.json`` (1e-9 relative).
* RevMan itself: analysis 1.1 of ``types.rm5`` (the aspirin trials of Fleiss, Stat Methods Med
  Res 1993) carries the results RevMan 5.0.23 stored; after export and re-import the pooled OR,
  its CI and Q still equal RevMan's stored doubles (1e-9 relative, RevMan's stored precision).
* Hand algebra (written out below) for RevMan's inverse-variance random effects on dichotomous
  data, which the import now keeps apart from Mantel–Haenszel random effects.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import defusedxml.ElementTree as DET
import pytest

from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth.io.revman import import_revman
from trialsynth.workflow.revman_export import export_review, revman_export, write_revman_export
from trialsynth.workflow.runner import EXAMPLES, analyse_review

FIXTURES = Path(__file__).parents[1] / "fixtures" / "revman"
ROUND_TRIP = 1e-10
POOLED = ("estimate", "se", "ci_lower", "ci_upper", "statistic", "p_value", "tau2", "q", "i2")


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        return func(*args, **kwargs)


def _close(a: float, b: float, rel: float = ROUND_TRIP) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= rel * max(1.0, abs(a))


def _differences(original, again) -> dict[str, tuple[float, float]]:
    out = {k: (getattr(original, k), getattr(again, k)) for k in POOLED}
    out["k"] = (original.k, again.k)
    out["q_df"] = (original.q_df, again.q_df)
    return {k: v for k, v in out.items() if not _close(float(v[0]), float(v[1]))}


def _round_trip(folder: Path, tmp: Path):
    """Analyse ``folder``, export it, import the file, analyse the import."""
    original = _quiet(analyse_review, folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TrialsynthWarning)
        export = write_revman_export(original, tmp / "review.rm5")
    _quiet(import_revman, tmp / "review.rm5", tmp / "imported")
    again = _quiet(analyse_review, tmp / "imported")
    messages = [str(w.message) for w in caught if issubclass(w.category, TrialsynthWarning)]
    return original, export, again, messages


def _check_every_exact_analysis(original, export, again) -> int:
    """Every analysis the export marks exact: pooled numbers, per-study effects and subgroups."""
    by_key = {(oa.analysis_set, oa.outcome.id): oa for oa in original.outcomes}
    imported = {oa.outcome.id: oa for oa in again.outcomes}
    compared = 0
    for item in export.analyses:
        if not item.exact:
            continue
        oa = by_key[(item.analysis_set, item.outcome)]
        if item.role == "sensitivity":
            result = next(r for spec, r in oa.sensitivity if spec is item.model)
        else:
            result = oa.primary
        new = imported[item.number]
        if result is None:
            assert new.primary is None
            continue
        # The import's models: random effects -> DL; MH, Peto as such; inverse variance fixed -> FE.
        expected = "DL" if item.random else {"MH": "MH", "PETO": "PETO", "IV": "FE"}[item.method]
        assert new.primary.method == expected
        assert _differences(result, new.primary) == {}, (item.number, item.outcome, item.role)
        ours = {s.study: s for s in result.studies if s.included}
        theirs = {s.study: s for s in new.primary.studies if s.included}
        assert set(ours) == set(theirs)
        for study, row in ours.items():
            assert _close(row.yi, theirs[study].yi) and _close(row.vi, theirs[study].vi)
            assert _close(row.weight, theirs[study].weight)
        if item.subgroup_column:
            sub_ours = next(res for sub, res in oa.subgroups if sub.column == item.subgroup_column)
            ((_, sub_new),) = new.subgroups
            assert [g for g, _ in sub_ours.groups] == [g for g, _ in sub_new.groups]
            for (_, a), (_, b) in zip(sub_ours.groups, sub_new.groups, strict=True):
                assert _differences(a, b) == {}
            assert _close(sub_ours.q_between, sub_new.q_between)
            compared += 1
        compared += 1
    return compared


# ----------------------------------------------------------------------- the bundled reviews


def test_bcg_round_trip_and_what_revman_cannot_hold(tmp_path):
    original, export, again, messages = _round_trip(EXAMPLES / "bcg", tmp_path)
    # REML (the primary model) is not RevMan's: the analysis written is DL random effects,
    # which is exactly BCG's DL sensitivity analysis; FE becomes an analysis of its own.
    roles = [(a.number, a.role, a.model.method, a.exact) for a in export.analyses]
    assert roles == [
        ("1.1", "primary", "REML", False),
        ("1.1", "sensitivity", "DL", True),
        ("1.2", "sensitivity", "FE", True),
    ]
    # DL and FE totals; BCG's subgroup results are REML fits, which RevMan cannot repeat.
    assert _check_every_exact_analysis(original, export, again) == 2
    assert any("REML estimate of τ²" in m and "DerSimonian–Laird only" in m for m in messages)
    gaps = next(m for m in messages if m.startswith("RevMan export: not represented"))
    assert "meta-regression (moderators: Absolute latitude" in gaps
    assert "cumulative meta-analysis" in gaps
    # metafor's DL on these counts is RevMan's inverse-variance random effects, not M-H.
    assert export.analyses[0].method == "IV" and export.analyses[0].random
    # metafor 3.8.1's rma(method = "DL") of dat.bcg, pinned in tests/fixtures/reviews_metafor.json
    # by validation/review_fixtures.R: RevMan's analysis 1.1, as re-imported, is that fit.
    cases = json.loads((FIXTURES.parent / "reviews_metafor.json").read_text(encoding="utf-8"))["cases"]
    dl = next(c for c in cases if c["review"] == "bcg" and c["method"] == "DL")
    again_dl = {oa.outcome.id: oa for oa in again.outcomes}["1.1"].primary
    assert again_dl.estimate == pytest.approx(dl["estimate"], rel=1e-9)
    assert again_dl.se == pytest.approx(dl["se"], rel=1e-9)
    assert again_dl.tau2 == pytest.approx(dl["tau2"], rel=1e-9)
    # The REML primary is not repeated: the re-imported 1.1 is DL, whose τ² differs from REML's.
    reml = original.outcomes[0].primary
    assert not _close(reml.tau2, {oa.outcome.id: oa for oa in again.outcomes}["1.1"].primary.tau2, 1e-3)


def test_crt_round_trip_two_analysis_sets(tmp_path):
    original, export, again, messages = _round_trip(EXAMPLES / "imaging-guided-crt", tmp_path)
    # Two analysis sets -> two comparisons; every primary (DL) and FE analysis is exact.
    comparisons = {o.comparison_no: o.comparison_name for o in export.revman.outcomes}
    assert sorted(comparisons) == ["1", "2"]
    assert comparisons["1"].endswith("(As published (Kheiri 2021))")
    assert comparisons["2"].endswith("(Living update)")
    assert all(a.exact for a in export.analyses)
    assert _check_every_exact_analysis(original, export, again) >= 12
    kinds = {(o.comparison_no, o.name): o.kind for o in export.revman.outcomes}
    assert kinds[("1", "Death or heart-failure hospitalization")] == "IV"  # HR with its CI
    assert kinds[("1", "CRT response")] == "DICH"  # counts derived from percentages
    assert kinds[("1", "LVEF change")] == "CONT"
    gaps = next(m for m in messages if m.startswith("RevMan export: not represented"))
    assert "sensitivity analysis REML with Hartung–Knapp" in gaps
    assert "trial sequential analysis" in gaps and "Bayesian" in gaps
    # Study ids survive the round trip.
    assert {s.id for s in again.review.studies} == {s.id for s in original.review.studies}


def test_imported_fleiss_review_round_trip_keeps_revman_numbers(tmp_path):
    folder = tmp_path / "fleiss"
    _quiet(import_revman, FIXTURES / "types.rm5", folder)
    (tmp_path / "again").mkdir()
    original, export, again, messages = _round_trip(folder, tmp_path / "again")
    # Every analysis of the RevMan test review (MH, MH random with subgroups and a study in
    # two subgroups, Peto, RD, SMD, generic IV fixed and random, O − E) is exact, numbered as before.
    assert [a.number for a in export.analyses] == ["1.1", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7"]
    assert all(a.exact for a in export.analyses)
    assert not [m for m in messages if "cannot be represented" in m]
    assert _check_every_exact_analysis(original, export, again) == 9
    # RevMan 5.0.23's own stored results for Fleiss's aspirin trials (types.rm5, analysis 1.1).
    fleiss = {oa.outcome.id: oa for oa in again.outcomes}["1.1"].primary
    assert fleiss.method == "MH"
    assert math.exp(fleiss.estimate) == pytest.approx(0.8968655609130709, rel=1e-9)
    assert math.exp(fleiss.ci_lower) == pytest.approx(0.8405144008917793, rel=1e-9)
    assert math.exp(fleiss.ci_upper) == pytest.approx(0.9569947088336491, rel=1e-9)
    assert fleiss.q == pytest.approx(9.946055983220074, rel=1e-9)
    # The study that RevMan lists in two subgroups of 2.2 keeps one RevMan STUDY.
    ids = [s.key for s in export.revman.studies]
    assert ids.count("STD-Alpha") == 1


# ----------------------------------------------------------------------- the file itself


def test_rm5_is_well_formed_revman_xml(tmp_path):
    _round = _quiet(analyse_review, EXAMPLES / "imaging-guided-crt")
    _quiet(write_revman_export, _round, tmp_path / "crt.rm5")
    root = DET.parse(tmp_path / "crt.rm5").getroot()
    assert root.tag == "COCHRANE_REVIEW" and root.get("REVMAN_VERSION") == "5"
    assert [c.tag for c in root][:3] == ["COVER_SHEET", "MAIN_TEXT", "STUDIES_AND_REFERENCES"]
    included = root.find("STUDIES_AND_REFERENCES/STUDIES/INCLUDED_STUDIES")
    assert {s.get("ID") for s in included.findall("STUDY")} == {
        "STD-target",
        "STD-starter",
        "STD-imagingcrt",
        "STD-borgquist",
        "STD-raise_crt",
    }
    dich = root.find("ANALYSES_AND_DATA/COMPARISON/DICH_OUTCOME")
    assert dich.get("EFFECT_MEASURE") == "OR" and dich.get("METHOD") == "MH" and dich.get("RANDOM") == "YES"
    assert dich.get("CI_TOTAL") == "95"
    data = dich.findall(".//DICH_DATA")
    # TARGET's responders: 70% of 103 -> 72, 55% of 104 -> 57 (derived in the review folder).
    target = next(d for d in data if d.get("STUDY_ID") == "STD-target")
    assert (target.get("EVENTS_1"), target.get("TOTAL_1"), target.get("EVENTS_2"), target.get("TOTAL_2")) == (
        "72",
        "103",
        "57",
        "104",
    )
    iv = root.find("ANALYSES_AND_DATA/COMPARISON/IV_OUTCOME")
    assert iv.find("EFFECT_MEASURE").text == "Hazard Ratio" and iv.get("LOG_DATA") == "YES"
    starter = iv.find("IV_DATA")
    # STARTER: HR 0.48 (0.28 to 0.82): log HR and SE = (ln 0.82 − ln 0.28)/(2 × 1.959963984540054).
    assert float(starter.get("ESTIMATE")) == pytest.approx(math.log(0.48), rel=1e-15)
    se = (math.log(0.82) - math.log(0.28)) / (2 * 1.959963984540054)
    assert float(starter.get("SE")) == pytest.approx(se, rel=1e-12)
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file of the atomic write is gone


def test_inverse_variance_random_dichotomous_is_not_mantel_haenszel(tmp_path):
    """RevMan's IV random effects on 2×2 counts: DL τ² around the IV estimate (hand algebra)."""
    counts = [(12, 50, 20, 50), (5, 40, 9, 41), (30, 100, 28, 98)]
    rows = "\n".join(
        f'<DICH_DATA EVENTS_1="{a}" TOTAL_1="{n1}" EVENTS_2="{c}" TOTAL_2="{n2}" STUDY_ID="STD-S{i}"/>'
        for i, (a, n1, c, n2) in enumerate(counts)
    )
    studies = "\n".join(f'<STUDY ID="STD-S{i}" NAME="S{i}" YEAR="200{i}"/>' for i in range(3))
    (tmp_path / "iv.rm5").write_text(
        f"""<?xml version="1.0" encoding="UTF-8"?>
<COCHRANE_REVIEW><COVER_SHEET><TITLE>IV random</TITLE></COVER_SHEET>
<STUDIES_AND_REFERENCES><STUDIES><INCLUDED_STUDIES>{studies}</INCLUDED_STUDIES></STUDIES></STUDIES_AND_REFERENCES>
<ANALYSES_AND_DATA><COMPARISON NO="1"><NAME>A vs B</NAME>
<DICH_OUTCOME NO="1" METHOD="IV" RANDOM="YES" EFFECT_MEASURE="OR" CI_STUDY="95" CI_TOTAL="95">
<NAME>Event</NAME>{rows}</DICH_OUTCOME></COMPARISON></ANALYSES_AND_DATA></COCHRANE_REVIEW>""",
        encoding="utf-8",
    )
    _quiet(import_revman, tmp_path / "iv.rm5", tmp_path / "iv")
    result = _quiet(analyse_review, tmp_path / "iv").outcomes[0].primary
    y = [math.log(a * (n2 - c) / ((n1 - a) * c)) for a, n1, c, n2 in counts]
    v = [1 / a + 1 / (n1 - a) + 1 / c + 1 / (n2 - c) for a, n1, c, n2 in counts]
    w = [1 / x for x in v]
    fixed = sum(wi * yi for wi, yi in zip(w, y, strict=True)) / sum(w)
    q = sum(wi * (yi - fixed) ** 2 for wi, yi in zip(w, y, strict=True))
    tau2 = max(0.0, (q - 2) / (sum(w) - sum(wi**2 for wi in w) / sum(w)))
    ws = [1 / (x + tau2) for x in v]
    mu = sum(wi * yi for wi, yi in zip(ws, y, strict=True)) / sum(ws)
    assert tau2 > 0
    assert result.tau2 == pytest.approx(tau2, rel=1e-12)
    assert result.estimate == pytest.approx(mu, rel=1e-12)
    assert result.se == pytest.approx(1 / math.sqrt(sum(ws)), rel=1e-12)
    assert result.q == pytest.approx(q, rel=1e-12)


def _small_review(folder: Path, measure: str, rows: str) -> Path:
    folder.mkdir()
    (folder / "review.toml").write_text(
        f"""[review]
title = "Small"
[review.question]
population = "p"
intervention = "i"
comparator = "c"
[[outcomes]]
id = "x"
name = "X"
data_type = "generic"
measure = "{measure}"
better = "lower"
model = {{ method = "DL" }}
""",
        encoding="utf-8",
    )
    (folder / "studies.csv").write_text(
        "id,label,citation,year,source\na,A,A 2001,2001,s\nb,B,B 2002,2002,s\n"
    )
    (folder / "outcomes.csv").write_text("outcome,study,use,kind,source,note,log_estimate,se\n" + rows)
    return folder


def test_no_representable_outcome_is_an_error(tmp_path):
    folder = _small_review(tmp_path / "rom", "ROM", "x,a,yes,quoted,s,,0.1,0.2\nx,b,yes,quoted,s,,0.3,0.1\n")
    with pytest.raises(InputError, match="measure ROM"):
        _quiet(export_review, folder, tmp_path / "rom.rm5")
    assert not (tmp_path / "rom.rm5").exists()
    # `trialsynth run` writes its report all the same, and says why there is no review.rm5.
    from trialsynth.report.review import run_review

    with pytest.warns(TrialsynthWarning, match="review.rm5 not written: .*measure ROM"):
        report = run_review(folder, tmp_path / "out", rm5=True)
    assert report.is_file() and not (report.parent / "review.rm5").exists()


def test_run_review_writes_rm5_beside_the_report(tmp_path):
    from trialsynth.report.review import run_review

    folder = _small_review(tmp_path / "hr", "HR", "x,a,yes,quoted,s,,-0.1,0.2\nx,b,yes,quoted,s,,-0.3,0.1\n")
    report = _quiet(run_review, folder, tmp_path / "out", rm5=True)
    root = DET.parse(report.parent / "review.rm5").getroot()
    data = root.findall("ANALYSES_AND_DATA/COMPARISON/IV_OUTCOME/IV_DATA")
    assert [(d.get("STUDY_ID"), d.get("ESTIMATE"), d.get("SE")) for d in data] == [
        ("STD-a", "-0.1", "0.2"),
        ("STD-b", "-0.3", "0.1"),
    ]
    assert not (_quiet(run_review, folder, tmp_path / "out2").parent / "review.rm5").exists()


def test_cli_export_and_run_write_rm5(tmp_path):
    env_cmd = [sys.executable, "-m", "trialsynth"]
    done = subprocess.run(
        [*env_cmd, "revman", "export", str(EXAMPLES / "bcg"), "-o", str(tmp_path / "bcg.rm5")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout and "not exact in RevMan 5 (see the warnings): analyses 1.1" in done.stdout
    assert "warning: RevMan export: outcome 'tb', primary analysis (REML)" in done.stderr
    assert DET.parse(tmp_path / "bcg.rm5").getroot().tag == "COCHRANE_REVIEW"
    bad = subprocess.run(
        [*env_cmd, "revman", "export", str(EXAMPLES / "bcg"), "-o", str(tmp_path / "bcg.xml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "should end in .rm5" in bad.stderr


def test_cli_run_writes_rm5_unless_told_not_to(tmp_path):
    folder = _small_review(tmp_path / "hr", "HR", "x,a,yes,quoted,s,,-0.1,0.2\nx,b,yes,quoted,s,,-0.3,0.1\n")
    cmd = [sys.executable, "-m", "trialsynth", "run", str(folder), "--no-pdf", "--out"]
    done = subprocess.run([*cmd, str(tmp_path / "on")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert (
        DET.parse(tmp_path / "on" / "review.rm5").getroot().find("ANALYSES_AND_DATA/COMPARISON") is not None
    )
    done = subprocess.run(
        [*cmd, str(tmp_path / "off"), "--no-rm5"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "off" / "report.html").is_file() and not (tmp_path / "off" / "review.rm5").exists()


@pytest.mark.skipif(
    not Path("/work/shared/revman/Fleiss1993.rm5").exists(), reason="the RevMan sample is not on this machine"
)
def test_revman_sample_fleiss_1993_round_trip(tmp_path):
    _quiet(import_revman, Path("/work/shared/revman/Fleiss1993.rm5"), tmp_path / "fleiss")
    (tmp_path / "again").mkdir()
    original, export, again, _ = _round_trip(tmp_path / "fleiss", tmp_path / "again")
    assert [(a.number, a.exact) for a in export.analyses] == [("1.1", True), ("1.2", True)]
    assert _check_every_exact_analysis(original, export, again) == 2
    fleiss = {oa.outcome.id: oa for oa in again.outcomes}["1.1"].primary
    assert math.exp(fleiss.estimate) == pytest.approx(0.8968655609130709, rel=1e-9)  # RevMan 5.0.23's OR


def _means_review(folder: Path, measure: str, model: str) -> Path:
    folder.mkdir()
    (folder / "review.toml").write_text(
        f"""[review]
title = "Means"
[review.question]
population = "p"
intervention = "i"
comparator = "c"
[[outcomes]]
id = "x"
name = "X"
data_type = "continuous"
measure = "{measure}"
better = "lower"
model = {model}
""",
        encoding="utf-8",
    )
    (folder / "studies.csv").write_text(
        "id,label,citation,year,source\na,A,A 2001,2001,s\nb,B,B 2002,2002,s\nc,C,C 2003,2003,s\n"
    )
    header = "outcome,study,use,kind,source,note,mean_treatment,sd_treatment,n_treatment,"
    header += "mean_control,sd_control,n_control\n"
    rows = "x,a,yes,quoted,s,,10,4,20,12,5,22\nx,b,yes,quoted,s,,8.5,3,40,9,3.5,38\n"
    rows += "x,c,yes,quoted,s,,7,2,15,9,2.5,16\n"
    (folder / "outcomes.csv").write_text(header + rows)
    return folder


@pytest.mark.parametrize(
    ("measure", "model", "exact", "message"),
    [
        ("MD", '{ method = "DL" }', True, None),
        ("SMD", '{ method = "FE" }', False, "RevMan's standardised mean difference"),
        ("MD", '{ method = "DL", hk = true }', False, "the Hartung–Knapp adjustment (RevMan 5 has none"),
        (
            "MD",
            '{ method = "PM" }',
            False,
            "the PM estimate of τ² (RevMan 5 estimates τ² by DerSimonian–Laird",
        ),
    ],
)
def test_what_revman_cannot_repeat_is_warned_and_marked(tmp_path, measure, model, exact, message):
    folder = _means_review(tmp_path / "means", measure, model)
    analysis = _quiet(analyse_review, folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TrialsynthWarning)
        export = revman_export(analysis)
    texts = [str(w.message) for w in caught]
    (item,) = export.analyses
    assert item.exact is exact and export.revman.outcomes[0].kind == "CONT"
    if message is None:
        assert texts == []
        (tmp_path / "rt").mkdir()
        original, export, again, _ = _round_trip(folder, tmp_path / "rt")
        assert _check_every_exact_analysis(original, export, again) == 1
    else:
        assert len(texts) == 1 and message in texts[0] and "cannot be represented exactly" in texts[0]
        assert message in item.note


def test_glmm_and_network_reviews_say_what_is_left_out(tmp_path):
    messages = {}
    for name in ("catheter-infections", "smoking-cessation"):
        (tmp_path / name).mkdir()
        _, export, _, messages[name] = _round_trip(EXAMPLES / name, tmp_path / name)
        # Their REML primary is written as DL random effects and marked not exact.
        assert [(a.number, a.model.method, a.exact) for a in export.analyses] == [("1.1", "REML", False)]
    gaps = next(m for m in messages["catheter-infections"] if "not represented" in m)
    assert "sensitivity analysis GLMM UM.FS of outcome 'crbsi' (the binomial–normal model" in gaps
    assert "sensitivity analysis GLMM CM.EL" in gaps
    # metafor's Mantel–Haenszel leaves zero cells alone; RevMan adds 0.5: not the same analysis.
    assert "sensitivity analysis MH of outcome 'crbsi' (RevMan adds 0.5 to the zero cells" in gaps
    gaps = next(m for m in messages["smoking-cessation"] if "not represented" in m)
    assert "network meta-analysis (Smoking cessation: four interventions; RevMan 5 has none)" in gaps


def test_warning_counts_many_analyses_and_the_export_keeps_every_name(tmp_path):
    """The default CRT review has a REML + Hartung–Knapp sensitivity analysis on each of its
    four outcomes in both analysis sets (review.toml): RevMan 5 holds none of the eight. The
    warning counts them; the export's list (and `revman export`'s output) names each one."""
    _, export, _, messages = _round_trip(EXAMPLES / "imaging-guided-crt", tmp_path)
    warning = next(m for m in messages if "not represented" in m)
    assert "sensitivity analysis REML with Hartung–Knapp of 8 analyses (" in warning
    assert "outcome 'death_hfh' (set paper)" not in warning
    full = next(g for g in export.not_represented if g.startswith("sensitivity analysis REML with Hartung"))
    for outcome in ("death_hfh", "response", "nyha", "lvef"):
        for analysis_set in ("paper", "living"):
            assert f"outcome '{outcome}' (set {analysis_set})" in full
