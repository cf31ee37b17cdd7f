"""Issue 15, ``run``: a review folder built from a data set the other tests never use
(metadat's dat.nielweise2007: 18 catheter trials, rare events, one double-zero trial), checked
against metafor (``validation/issue15_fixtures.R``, pinned in tests/fixtures/issue15/):

* leave-one-out lists only the trials the analysis pooled (metafor's leave1out of rma.mh);
* a subgroup level, a cumulative step or a whole outcome with no poolable trial is reported as
  not estimable, by name, and the rest of the review is written;
* ``[[moderators]]`` runs the meta-regression and Egger's/Begg's tests appear with ≥ 10 trials
  (dat.bcg, against metafor's rma(mods = ~ ablat), regtest and ranktest);
* report wording: enough digits for a rare-event risk difference, the trim-and-fill model,
  the fixed-effect prediction interval.
"""

from __future__ import annotations

import csv
import json
import shutil
import warnings
from pathlib import Path

import pytest

from trialsynth._core.errors import TrialsynthWarning
from trialsynth.workflow.runner import analyse_review

ROOT = Path(__file__).resolve().parents[2]
BCG = ROOT / "src" / "trialsynth" / "examples" / "bcg"
CASES = {c["id"]: c for c in json.loads((ROOT / "tests/fixtures/issue15/cases.json").read_text())["cases"]}
REL = 1e-8


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture(scope="module")
def nielweise(tmp_path_factory) -> Path:
    """dat.nielweise2007 as a review folder: OR by Mantel–Haenszel; Yucel 2004 (0/118 vs 0/105)
    alone in subgroup 'systematic' and first in the cumulative order; a second outcome whose
    two trials are both double-zero; a third, the risk difference."""
    folder = tmp_path_factory.mktemp("review") / "nielweise"
    shutil.copytree(BCG, folder)
    d = CASES["nielweise_or"]["data"]
    names = d["study"]
    ids = [n.split()[0].lower().replace("-", "") + n.split()[1] for n in names]
    studies = []
    for i, (sid, name) in enumerate(zip(ids, names, strict=True)):
        year = "1990" if name == "Yucel 2004" else name.split()[1]
        group = "systematic" if name == "Yucel 2004" else ("random" if i % 2 else "alternate")
        studies.append(
            [
                sid,
                name,
                f"{name} (dat.nielweise2007)",
                year,
                "RCT",
                group,
                str(10 + i),
                str(i + 1),
                "metadat::dat.nielweise2007",
                "quoted",
                "",
            ]
        )
    _write_csv(
        folder / "studies.csv",
        [
            "id",
            "label",
            "citation",
            "year",
            "design",
            "allocation",
            "latitude",
            "trial",
            "source",
            "kind",
            "note",
        ],
        studies,
    )
    rows = []
    for i, sid in enumerate(ids):
        counts = [f"{d[k][i]:g}" for k in ("ai", "n1i", "ci", "n2i")]
        for outcome in ("crbsi", "crbsi_rd"):
            rows.append([outcome, sid, "yes", *counts, "randomised", "quoted", "CRBSI", "metadat", ""])
    for j, sid in enumerate(ids):  # an outcome whose two trials with data have no events at all
        if j < 2:
            rows.append(
                ["none", sid, "yes", "0", "50", "0", "50", "randomised", "quoted", "none", "made up", ""]
            )
        else:
            rows.append(["none", sid, "no", "", "", "", "", "", "", "", "made up", "not reported"])
    _write_csv(
        folder / "outcomes.csv",
        [
            "outcome",
            "study",
            "use",
            "events_treatment",
            "n_treatment",
            "events_control",
            "n_control",
            "denominator",
            "kind",
            "definition",
            "source",
            "note",
        ],
        rows,
    )
    toml = folder / "review.toml"
    _replace(toml, 'model = { method = "REML", hk = false,', 'model = { method = "MH", hk = false,')
    _replace(toml, 'id = "tb"', 'id = "crbsi"')
    _replace(toml, 'measure = "RR"', 'measure = "OR"')
    text = toml.read_text(encoding="utf-8")
    start = text.index("[[subgroups]]")
    extra = (
        '[[outcomes]]\nid = "crbsi_rd"\nname = "CRBSI (risk difference)"\ndata_type = "binary"\n'
        'measure = "RD"\nbetter = "lower"\n\n'
        '[[outcomes]]\nid = "none"\nname = "No events"\ndata_type = "binary"\nmeasure = "OR"\n'
        'better = "lower"\n\n'
    )
    toml.write_text(text[:start] + extra + text[start:], encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def analysis(nielweise):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        return analyse_review(nielweise)


def _outcome(analysis, oid):
    return next(oa for oa in analysis.outcomes if oa.outcome.id == oid)


def test_primary_mh_odds_ratio_matches_metafor(analysis):
    exp = CASES["nielweise_or"]["expected"]
    res = _outcome(analysis, "crbsi").primary
    assert res.estimate == pytest.approx(exp["estimate"], rel=REL)
    assert res.se == pytest.approx(exp["se"], rel=REL)
    assert res.q == pytest.approx(exp["q"], rel=REL)


def test_leave_one_out_lists_only_the_pooled_trials(analysis):
    exp = CASES["nielweise_or"]["expected"]
    oa = _outcome(analysis, "crbsi")
    labels = {s.id: s.label for s in analysis.review.studies}
    omitted = [labels[s] for s, _ in oa.leave_one_out]
    assert omitted == exp["loo_omitted"] and len(omitted) == exp["k_pooled"] == 17
    assert "Yucel 2004" not in omitted
    for (_, r), est, se in zip(oa.leave_one_out, exp["loo_estimate"], exp["loo_se"], strict=True):
        assert r.estimate == pytest.approx(est, rel=REL)
        assert r.se == pytest.approx(se, rel=REL)


def test_not_estimable_subgroup_level_and_cumulative_step_are_named(analysis):
    oa = _outcome(analysis, "crbsi")
    ((_sub, sres),) = oa.subgroups
    assert [lvl for lvl, _ in sres.groups] == ["alternate", "random"]
    assert sres.not_estimable == ("systematic",)
    assert any("subgroup 'systematic'" in m and "not estimable" in m for m in oa.messages)
    # Yucel 2004 (0/118 vs 0/105) comes first by year: the first cumulative step has nothing to pool;
    # with Bach 1996 (0/116 vs 3/117) added, the MH odds ratio is 0 (no discordant events in one
    # arm): not estimable either. The 16 later steps are reported.
    assert len(oa.cumulative) == 16 and oa.cumulative[0][0] == "george1997"
    for step in ("yucel2004", "bach1996"):
        assert any(f"cumulative step adding '{step}'" in m and "not estimable" in m for m in oa.messages)


def test_an_outcome_with_no_poolable_trial_does_not_abort_the_review(analysis):
    oa = _outcome(analysis, "none")
    assert oa.primary is None
    assert any(m.startswith("not estimable:") for m in oa.messages)
    assert _outcome(analysis, "crbsi").primary is not None


def test_run_writes_the_review_with_the_not_estimable_parts_named(nielweise, tmp_path):
    from trialsynth.report.review import run_review

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        report = run_review(nielweise, tmp_path / "out")
    html = report.read_text(encoding="utf-8")
    assert "subgroup &#39;systematic&#39;" in html or "subgroup 'systematic'" in html
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    by_id = {
        o["outcome"]: o
        for o in results["outcomes"]
        if o["analysis_set"] == results["outcomes"][0]["analysis_set"]
    }
    assert by_id["none"]["pooled"] is False
    rd = by_id["crbsi_rd"]
    # A rare-event risk difference is printed with enough digits to be read, not "0.00 (0.00 to 0.00)".
    assert "RD = −0.0" in html or "RD = -0.0" in html
    assert "0.00 (0.00 to 0.00)" not in html
    assert rd["result"]["pi_lower"] is None and "fixed-effect model" in rd["result"]["pi_note"]
    # MH with a moderator: the meta-regression falls back to inverse-variance fixed effect, says so.
    mr = by_id["crbsi"]["meta_regression"]
    assert mr and mr[0]["method"] == "FE"
    assert any("fixed effect used in place of MH" in m for m in by_id["crbsi"]["messages"])


def test_bcg_run_reports_meta_regression_and_small_study_tests_as_metafor():
    exp = CASES["bcg_run"]["expected"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        oa = analyse_review(BCG).outcomes[0]
    ((mod, reg),) = oa.meta_regressions
    assert mod.column == "latitude"
    (b0, b1) = reg.coefficients
    assert b0.estimate == pytest.approx(exp["intercept"], rel=1e-6)  # REML: iterative, 1e-6
    assert b1.estimate == pytest.approx(exp["slope"], rel=1e-6)
    assert b1.se == pytest.approx(exp["slope_se"], rel=1e-6)
    assert reg.qm == pytest.approx(exp["qm"], rel=1e-6)
    assert reg.tau2 == pytest.approx(exp["tau2"], rel=1e-6)
    assert reg.r2 == pytest.approx(exp["r2"], rel=1e-6)
    tests = oa.small_study
    assert tests["k"] == 13
    assert tests["egger"].statistic == pytest.approx(exp["egger_z"], rel=1e-6)
    assert tests["egger"].p_value == pytest.approx(exp["egger_p"], rel=1e-6)
    assert tests["begg"].tau == pytest.approx(exp["begg_tau"], rel=REL)
    assert tests["begg"].p_value == pytest.approx(exp["begg_p"], rel=REL)


def test_trim_and_fill_sentence_says_z_when_the_refit_drops_hartung_knapp(tmp_path):
    """Trim and fill refits with a z test (as metafor's trimfill) even when the primary model
    uses Hartung–Knapp: the report must say so, not name Hartung–Knapp for that refit."""
    from dataclasses import replace

    from trialsynth.report.html import _funnel_figure
    from trialsynth.stats.meta import meta_analysis
    from trialsynth.workflow.runner import trim_fill_for

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        oa = analyse_review(BCG).outcomes[0]
    res = oa.primary
    yi, vi = [s.yi for s in res.studies], [s.vi for s in res.studies]
    hk_res = meta_analysis(
        yi, vi, labels=[s.study for s in res.studies], measure="RR", method="REML", hk=True
    )
    oa_hk = replace(oa, primary=hk_res)
    tf = trim_fill_for(oa_hk)
    assert tf.k0 > 0 and tf.test == "z"
    (tmp_path / "figures").mkdir()
    note = _funnel_figure(oa_hk, hk_res, tmp_path, "tb")["funnel_note"]
    assert "with Hartung–Knapp" not in note
    assert "refitted with a z test and interval (no Hartung–Knapp adjustment)" in note
