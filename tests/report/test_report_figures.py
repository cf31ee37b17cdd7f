"""The report's figures beyond the forest plot: leave-one-out forest, and the contour-enhanced
funnel plot with trim and fill when ten or more trials are pooled. Trim and fill is compared
with metafor (tests/fixtures/metafor_analyses/cases.json, case "bias bcg RR REML report", made
by validation/metafor_fixtures_analyses.R: trimfill(rma(yi, vi, measure="RR")) on dat.bcg)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.stats.test_against_metafor import ABS_TOL, REL_TOL
from trialsynth.report.review import run_review
from trialsynth.workflow.runner import FUNNEL_MIN_TRIALS

ROOT = Path(__file__).resolve().parents[2]
CASES = json.loads((ROOT / "tests" / "fixtures" / "metafor_analyses" / "cases.json").read_text())["cases"]


def _metafor_trimfill() -> dict:
    case = next(
        c
        for c in CASES
        if c["kind"] == "bias" and c["input"].endswith("bcg.csv") and c["measure"] == "RR"
        and c["method"] == "REML" and c.get("tag") == "report"
    )
    return case["expected"]["trimfill"]


@pytest.fixture(scope="module")
def bcg(tmp_path_factory):
    out = tmp_path_factory.mktemp("bcg")
    report = run_review(ROOT / "examples" / "bcg", out)
    return out, report.read_text(encoding="utf-8"), json.loads((out / "results.json").read_text())


def test_bcg_trim_and_fill_matches_metafor(bcg):
    _, html, doc = bcg
    tf = doc["outcomes"][0]["trim_and_fill"]
    want = _metafor_trimfill()
    assert tf["k0"] == want["k0"] == 1 and tf["side"] == want["side"] == "right"
    for key in ("estimate", "se", "ci_lower", "ci_upper", "p_value", "tau2"):
        assert math.isclose(tf[key], want[key], rel_tol=REL_TOL, abs_tol=ABS_TOL), key
    assert math.isclose(tf["estimate_natural"], math.exp(want["estimate"]), rel_tol=REL_TOL)
    # The report's sentence, from metafor's numbers at two decimals.
    sentence = (
        f"1 trial was imputed on the right side; adjusted RR {math.exp(want['estimate']):.2f} "
        f"({math.exp(want['ci_lower']):.2f} to {math.exp(want['ci_upper']):.2f}), p &lt; .001."
    )
    lead = "Trim and fill (Duval &amp; Tweedie 2000; L0 estimator; model: random effects (REML)): "
    assert lead + sentence in html


def test_bcg_report_has_funnel_and_leave_one_out_figures_captioned(bcg):
    out, html, _ = bcg
    for stem in ("funnel-main-tb", "leave-one-out-main-tb"):
        for ext in ("svg", "png", "pdf"):
            assert (out / "figures" / f"{stem}.{ext}").stat().st_size > 0
        assert f"figures/{stem}.svg" in html
    assert "<figcaption>Contour-enhanced funnel plot (Peters et al. 2008)" in html
    assert "trials imputed by trim and fill. Model: random effects (REML)." in html
    assert "<figcaption>Leave-one-out meta-analysis: each row pools all trials but the one named" in html
    # Every figure of the report has a caption.
    assert html.count("<figure") == html.count("<figcaption>") >= 6


def test_fewer_than_ten_trials_no_funnel_and_says_why(tmp_path):
    html = run_review(ROOT / "examples" / "imaging-guided-crt", tmp_path / "crt").read_text(encoding="utf-8")
    assert FUNNEL_MIN_TRIALS == 10
    assert not list((tmp_path / "crt" / "figures").glob("funnel-*"))
    assert f"with fewer than {FUNNEL_MIN_TRIALS} pooled trials, funnel-plot asymmetry cannot be told" in html


def test_bcg_report_draws_the_subgroup_forest(tmp_path, monkeypatch):
    # What the report drew, captured at save time: one subtotal diamond per allocation group
    # at that group's pooled RR (results.json), then the total; captioned with the model.
    import trialsynth.plots as plots

    drawn = {}
    real = plots.save_figure

    def capture(fig, path, *args, **kwargs):
        drawn[Path(path).name] = fig.trialsynth
        return real(fig, path, *args, **kwargs)

    monkeypatch.setattr(plots, "save_figure", capture)
    out = tmp_path / "bcg"
    html = run_review(ROOT / "examples" / "bcg", out).read_text(encoding="utf-8")
    doc = json.loads((out / "results.json").read_text())
    meta = drawn["forest-main-tb-by-allocation"]
    groups = doc["outcomes"][0]["subgroups"][0]["groups"]
    subtotals = [d for d in meta["diamonds"] if d["role"] == "subtotal"]
    levels = ["random", "alternate", "systematic"]
    assert [d["label"] for d in subtotals] == [g["level"] for g in groups] == levels
    for d, g in zip(subtotals, groups, strict=True):
        want = (g["ci_lower"], g["estimate"], g["ci_upper"])
        assert (d["lower"], d["centre"], d["upper"]) == pytest.approx(want, rel=1e-12)
    total = next(d for d in meta["diamonds"] if d["role"] == "total")
    assert total["centre"] == pytest.approx(doc["outcomes"][0]["estimate"])
    assert "<figcaption>Forest plot by Method of allocation: each subgroup pooled on its own" in html
    assert "figures/forest-main-tb-by-allocation.svg" in html


@pytest.mark.parametrize("folder", ["examples/imaging-guided-crt", "tests/fixtures/reviews/rob-example"])
def test_every_analysis_figure_caption_names_its_model(folder, tmp_path):
    import re

    html = run_review(ROOT / folder, tmp_path / "out").read_text(encoding="utf-8")
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", html, re.S)
    assert len(captions) == html.count("<figure")
    # The flow diagram and the per-trial RoB 2 judgements do not depend on a model.
    analysed = [c for c in captions if not c.startswith(("PRISMA 2020", "Risk of bias of each trial"))]
    assert len(analysed) >= 4
    named = ("Model: random effects (", "Model: fixed effect (", "Weights from: random effects (")
    assert [c[:80] for c in analysed if not any(n in c for n in named)] == []
