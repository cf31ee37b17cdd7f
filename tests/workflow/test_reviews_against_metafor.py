"""The bundled reviews' recomputed results against metafor on the same inputs.

tests/fixtures/reviews_metafor.json is written by validation/review_fixtures.R, which reads
the reviews' own outcomes.csv/studies.csv with base R and fits each outcome's primary
model, its sensitivity analyses, subgroups and cumulative meta-analysis with metafor 3.8
(for the CRT review's RevMan profile, τ² from Q around metafor's rma.mh estimate). When
Rscript is available the script is re-run live and its output compared with the pinned copy.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.rlive import run_r_script
from tests.stats.test_against_metafor import ABS_TOL, REL_TOL
from tests.stats.test_glmm import FLOORS as GLMM_FLOORS
from tests.stats.test_glmm import _tolerance as _glmm_tolerance
from trialsynth.workflow.runner import analyse_review

ROOT = Path(__file__).resolve().parents[2]
PINNED = ROOT / "tests" / "fixtures" / "reviews_metafor.json"
ALL_CASES = json.loads(PINNED.read_text())["cases"]
#: The nested-effects review (school-calendars) is checked in tests/workflow/test_review_multilevel.py.
CASES = [c for c in ALL_CASES if not c.get("multilevel")]


@pytest.fixture(scope="module")
def analyses():
    out = {}
    for name in ("imaging-guided-crt", "bcg", "catheter-infections", "smoking-cessation"):
        for oa in analyse_review(ROOT / "examples" / name).outcomes:
            out[(name, oa.analysis_set, oa.outcome.id)] = oa
    return out


def close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _fit_for(oa, method, hk, glmm=None):
    model = oa.outcome.model
    if model.method == method and model.hk == hk and model.glmm == glmm:
        return oa.primary
    for spec, res in oa.sensitivity:
        if spec.method == method and spec.hk == hk and spec.glmm == glmm:
            return res
    raise AssertionError(f"no {method} (hk={hk}) analysis for {oa.outcome.id}")


def _case_id(c):
    kind = "cumulative" if c.get("cumulative") else "subgroups" if c.get("subgroups") else "fit"
    method = c["method"] + (f"-{c['glmm']}" if c.get("glmm") else "")
    return f"{c['review']}-{c['analysis_set']}-{c['outcome']}-{method}{'-hk' if c['hk'] else ''}-{kind}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_bundled_review_matches_metafor(case, analyses):
    oa = analyses[(case["review"], case["analysis_set"], case["outcome"])]
    if case.get("cumulative"):
        assert [s for s, _ in oa.cumulative] == case["order"]
        for (_, res), est, lo, hi in zip(
            oa.cumulative, case["estimate"], case["ci_lower"], case["ci_upper"], strict=True
        ):
            assert close(res.estimate, est) and close(res.ci_lower, lo) and close(res.ci_upper, hi)
        return
    if case.get("subgroups"):
        ((_, sres),) = [(s, r) for s, r in oa.subgroups if s.column == case["subgroups"]]
        for (level, res), exp in zip(sres.groups, case["groups"], strict=True):
            assert level == exp["level"] and res.k == exp["k"]
            assert close(res.estimate, exp["estimate"]) and close(res.se, exp["se"])
            assert close(res.tau2, exp["tau2"])
        assert close(sres.q_between, case["q_between"])
        assert sres.q_between_df == case["q_between_df"]
        assert close(sres.q_between_p_value, case["q_between_p_value"])
        return
    res = _fit_for(oa, case["method"], case["hk"], case.get("glmm"))
    assert res.k == case["k"]
    assert [s.study for s in res.studies if s.included] == case["studies"]
    tau2 = None if math.isnan(res.tau2) else res.tau2
    if case.get("glmm"):
        _check_glmm(res, case, tau2)
        return
    for key in ("estimate", "se", "ci_lower", "ci_upper", "p_value"):
        assert close(getattr(res, key), case[key]), (key, getattr(res, key), case[key])
    assert close(tau2, case["tau2"])
    if case.get("weights") is not None:  # a GLMM has no study weights
        weights = [s.weight for s in res.studies if s.included]
        assert all(close(w, e) for w, e in zip(weights, case["weights"], strict=True))


def _check_glmm(res, case, tau2):
    """A binomial–normal fit against rma.glmm: the tolerances of tests/stats/test_glmm.py, whose
    docstring justifies them (glmer's bobyqa and nlminb stopping rules, metafor's numerical
    Hessians); the CI bounds move with the SE; p = 2Φ(−|z|) moves by about z²·ε for a relative
    error ε in z (z ≈ 4 here), hence 50 × the z tolerance for the p-value."""
    spec = {"model": case["glmm"], "method": "ML", "dataset": "nielweise2007"}
    for key, tol_key in (("estimate", "estimate"), ("se", "se"), ("ci_lower", "se"), ("ci_upper", "se")):
        tol = _glmm_tolerance(spec, tol_key)
        assert getattr(res, key) == pytest.approx(case[key], rel=tol), key
    assert res.p_value == pytest.approx(case["p_value"], rel=50 * _glmm_tolerance(spec, "z"))
    assert tau2 == pytest.approx(case["tau2"], rel=_glmm_tolerance(spec, "tau2"), abs=GLMM_FLOORS["tau2"])


def test_every_pooled_outcome_is_covered(analyses):
    covered = {(c["review"], c["analysis_set"], c["outcome"]) for c in CASES}
    with_data = {key for key, oa in analyses.items() if oa.primary is not None}
    assert with_data == covered


def test_live_review_fixtures_against_R(tmp_path):
    out = tmp_path / "reviews.json"
    run_r_script(ROOT / "validation" / "review_fixtures.R", out)
    fresh = json.loads(out.read_text())["cases"]
    assert [_case_id(c) for c in fresh] == [_case_id(c) for c in ALL_CASES]
    for new, old in zip(fresh, ALL_CASES, strict=True):
        for key in ("estimate", "se", "ci_lower", "ci_upper", "p_value", "tau2", "q_between"):
            if key in old and not isinstance(old[key], list):
                assert close(new.get(key), old[key]), (key, new.get(key), old[key])
