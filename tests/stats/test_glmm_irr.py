"""Poisson–normal and conditional binomial–normal models for rate ratios (trialsynth.stats.glmm.glmm_irr)
against metafor's ``rma.glmm(measure = "IRR", x1i, t1i, x2i, t2i, model = M, method = "EE"|"ML")``.

tests/fixtures/glmm/irr_cases.json is written by validation/glmm_irr_fixtures.R (metafor 3.8-1, lme4;
versions in the file) with the tight controls of validation/glmm_fixtures.R, on metadat's dat.hart1999
(warfarin, strokes per patient-year), dat.nielweise2008 (catheter infections per catheter-day) and a
simulated sparse set (20 trials, several arms without events, one trial without any).

Tolerances are those of tests/stats/test_glmm.py, for the same reasons (imported from there):
1e-6 for fixed-effect fits by glm and everything at an optimum both sides reach; 5e-5 on SE and z
of glmer fits (lme4's finite-difference Hessian), 2e-5 on their estimate and τ²; QE.Wld of UM.RS
1e-2 (5e-2 on the sparse set, where studies whose saturated effect is infinite enter metafor's
statistic at glmer's stopping point and ours at the limit; largest seen 4.7e-2).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pytest

from tests.rlive import run_r_script
from tests.stats.test_glmm import ABS_FLOOR, EXACT, FLOORS, GLMER_FIT, GLMER_SE, SPARSE_WALD, UMRS_WALD
from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth.stats.glmm import glmm_irr

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "glmm" / "irr_cases.json"
SCRIPT = ROOT / "validation" / "glmm_irr_fixtures.R"
PINNED = json.loads(FIXTURE.read_text(encoding="utf-8"))
CASES = PINNED["cases"]


def _tolerance(case: dict, key: str) -> float:
    model, method = case["model"], case["method"]
    glmer = model == "UM.RS" or method == "ML"
    if key == "qe_wald" and model == "UM.RS":
        return SPARSE_WALD if case["dataset"].startswith("sparse") else UMRS_WALD
    if glmer and key in ("se", "z"):
        return GLMER_SE
    if glmer and key in ("estimate", "tau2", "sigma2", "i2", "h2"):
        return GLMER_FIT
    return EXACT


def _fit(case: dict, **kwargs):
    d = PINNED["datasets"][case["dataset"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        return glmm_irr(
            d["x1i"],
            d["t1i"],
            d["x2i"],
            d["t2i"],
            model=case["model"],
            method="FE" if case["method"] == "EE" else "ML",
            **kwargs,
        )


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_irr_models_match_metafor(case):
    assert "error" not in case, case.get("error")
    fit = _fit(case)
    assert fit.converged and fit.measure == "IRR"
    want = case["expected"]
    assert fit.k == want["k"] and fit.qe_df == want["k"] - 1
    problems = []
    for key in ("estimate", "se", "z", "tau2", "sigma2", "qe_wald", "qe_lrt", "i2", "h2"):
        if want.get(key) is None:
            continue
        got, tol = getattr(fit, key), _tolerance(case, key)
        if not abs(got - want[key]) <= tol * abs(want[key]) + FLOORS.get(key, 0.0):
            problems.append(f"{key}: got {got!r}, metafor {want[key]!r}")
    assert not problems, "\n".join(problems)
    assert fit.ci_lower == pytest.approx(fit.estimate - 1.959963984540054 * fit.se, rel=1e-12)


def test_sparse_set_has_zero_arms_and_a_trial_without_events():
    d = PINNED["datasets"]["sparse20"]
    x1, x2 = d["x1i"], d["x2i"]
    assert sum((a == 0) != (b == 0) for a, b in zip(x1, x2, strict=True)) >= 3
    assert sum(a == 0 and b == 0 for a, b in zip(x1, x2, strict=True)) == 1


def test_trials_without_events_are_left_out_with_a_warning():
    with pytest.warns(TrialsynthWarning, match="no events in both arms"):
        fit = glmm_irr([0, 3, 5], [100, 300, 400], [0, 6, 9], [120, 280, 390], model="UM.FS", method="FE")
    assert fit.k == 2 and fit.included == (False, True, True)


def test_fixed_effect_conditional_model_by_hand():
    """One trial, CM.EL FE: x1 | m ~ Bin(m, π), logit π = log(t1/t2) + θ, so the MLE is
    θ̂ = log(x1/x2) − log(t1/t2) and SE² = 1/(m π̂(1 − π̂)) = 1/x1 + 1/x2. Tolerance 1e-6: Newton
    stops once the log-likelihood gains less than 1e-10, which leaves θ within √(2e-10)·SE ≈ 7e-6·SE."""
    fit = glmm_irr([7], [1000.0], [12], [800.0], model="CM.EL", method="FE")
    se = math.sqrt(1 / 7 + 1 / 12)
    assert fit.estimate == pytest.approx(math.log(7 / 12) - math.log(1000 / 800), abs=1e-5 * se)
    assert fit.se == pytest.approx(se, rel=1e-6)


@pytest.mark.parametrize(
    "args, words",
    [
        (([1, 2], [10, 0], [2, 3], [10, 10]), "person-time must be a positive"),
        (([1, -2], [10, 10], [2, 3], [10, 10]), "whole numbers"),
        (([1, 2], [10, 10], [2], [10, 10]), "different lengths"),
    ],
)
def test_bad_rate_inputs_are_input_errors(args, words):
    with pytest.raises(InputError, match=words):
        glmm_irr(*args)


def test_unknown_model_is_an_input_error():
    with pytest.raises(InputError, match="unknown GLMM model"):
        glmm_irr([1, 2], [10, 10], [2, 3], [10, 10], model="XX")


def _csv(tmp_path, name):
    d = PINNED["datasets"][name]
    lines = ["study,events_treatment,person_time_treatment,events_control,person_time_control"]
    rows = zip(d["x1i"], d["t1i"], d["x2i"], d["t2i"], strict=True)
    lines += [f"S{i + 1},{int(a)},{t1:g},{int(c)},{t2:g}" for i, (a, t1, c, t2) in enumerate(rows)]
    path = tmp_path / f"{name}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("model", ["UM.FS", "UM.RS", "CM.EL"])
def test_cli_pool_irr_glmm_matches_metafor(tmp_path, model):
    from click.testing import CliRunner

    from trialsynth.cli.main import main

    path = _csv(tmp_path, "sparse20")
    args = ["pool", str(path), "--measure", "IRR", "--method", "GLMM", "--glmm", model, "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"JSON has {c}"))
    case = next(c for c in CASES if c["id"] == f"sparse20_{model}_ML")
    want = case["expected"]
    assert got["method"] == "GLMM" and got["measure"] == "IRR" and got["k"] == want["k"] == 19
    assert got["estimate"] == pytest.approx(want["estimate"], rel=_tolerance(case, "estimate"))
    assert got["se"] == pytest.approx(want["se"], rel=_tolerance(case, "se"))
    assert got["tau2"] == pytest.approx(want["tau2"], rel=_tolerance(case, "tau2"), abs=ABS_FLOOR)
    assert got["glmm"]["qe_lrt"] == pytest.approx(want["qe_lrt"], rel=EXACT)
    assert any("S20" in c for c in got["corrections"])  # the trial without events, left out


def test_api_meta_analysis_irr_glmm_matches_metafor():
    import trialsynth as ts

    d = PINNED["datasets"]["nielweise2008"]
    table = {
        "study": [f"S{i + 1}" for i in range(len(d["x1i"]))],
        "events_treatment": d["x1i"],
        "person_time_treatment": d["t1i"],
        "events_control": d["x2i"],
        "person_time_control": d["t2i"],
    }
    res = ts.meta_analysis(ts.effects(table, measure="IRR"), method="GLMM", glmm="UM.FS", fixed=True)
    case = next(c for c in CASES if c["id"] == "nielweise2008_UM.FS_EE")
    assert res.estimate == pytest.approx(case["expected"]["estimate"], rel=EXACT)
    assert res.se == pytest.approx(case["expected"]["se"], rel=EXACT)


def test_live_glmm_irr_fixtures_against_R(tmp_path):
    """Re-run validation/glmm_irr_fixtures.R (seconds) and check it gives the pinned values again."""
    run_r_script(SCRIPT, tmp_path)
    fresh = json.loads((tmp_path / "irr_cases.json").read_text(encoding="utf-8"))
    assert fresh["datasets"] == PINNED["datasets"]
    for new, old in zip(fresh["cases"], CASES, strict=True):
        assert new["id"] == old["id"] and ("error" in new) == ("error" in old)
        for key, want in old.get("expected", {}).items():
            got = new["expected"][key]
            if want is None:
                assert got is None, (new["id"], key)
            else:
                assert got == pytest.approx(want, rel=1e-6, abs=1e-9), (new["id"], key)
