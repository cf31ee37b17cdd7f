"""Binomial–normal models (trialsynth.stats.glmm) against metafor's rma.glmm.

tests/fixtures/glmm/cases.json is written by validation/glmm_fixtures.R (metafor 3.8-1, lme4,
BiasedUrn; R and package versions are recorded in the file) with tight controls: glm to 1e-12,
glmer's bobyqa to rhoend 1e-10, nlminb to a relative 1e-10, integrate to a relative 1e-12.

Tolerances (relative, with an absolute floor for values near zero), each measured on the
fixtures and justified:

* 1e-6 for everything fitted by IWLS/nlminb/bobyqa to an optimum both sides reach (estimates,
  τ², σ², QE.LRT, I², H²) and for the standard errors of the fixed-effect fits (glm's Fisher
  information is exact);
* 5e-5 on standard errors (and z) of fits made with glmer (random effects, and UM.RS throughout):
  lme4's ``vcov`` inverts a Hessian it takes by central finite differences with step 1e-4 over
  (θ, β); ours inverts a Hessian accurate to ~1e-8. Largest difference seen: 2.6e-5
  (nielweise2007 UM.RS ML). τ² and the estimate of the glmer random-effects fits: 2e-5 (bobyqa's
  stopping rule; largest seen 5.7e-6);
* QE.Wld of UM.RS: 1e-2. metafor takes the covariance of the saturated model's k − 1 study
  effects from lme4's finite-difference Hessian over k + 2 parameters; the statistic amplifies its
  error (largest seen 4e-3). With zero cells (the simulated sets) studies whose saturated effect is
  infinite enter metafor's Wald statistic at glm's/glmer's stopping point, ours at the limit (zero
  weight): 5e-2 there (largest seen 2.6e-2);
* CM.EL: metafor's standard errors come from numDeriv's Hessian of its own density (5e-3; largest
  seen 2.9e-3, collins1985a). Ours are the exact observed information, checked separately against
  BiasedUrn's noncentral hypergeometric density (an implementation independent of metafor) to 1e-9.
  Its estimate and τ²: 2e-5 (nlminb's relative tolerance 1e-10 on the log-likelihood).
  QE.Wld of CM.EL on dat.bcg is not compared: metafor gives 268.6 where the Wald statistic of its
  own saturated model, with the information computed by BiasedUrn, is 163.09 (ours), a numerical
  problem of metafor's density for tables with hundreds of events.

* dat.bcg UM.FS and UM.RS random effects: glmer's PIRLS cannot reach tolPwrss 1e-12 on tables of
  10^5 participants, so the script refits them with its default (1e-7), marked "retry". Its
  deviance is then noisy at ~1e-7, which moves the optimum along the flat direction: our Laplace
  log-likelihood at metafor's UM.RS estimate, the other parameters re-maximised, is only 7.1e-8
  below our maximum although the estimates differ by 9e-5 relative; and the finite-difference
  Hessian (step 1e-4) of a deviance with 1e-7 noise is off by ~1e-7/1e-8 in curvature units.
  Tolerances for these cases: estimate 2e-4, τ², σ², I², H² 1e-3, SE and z 1e-2 (largest seen
  3.7e-3, UM.RS SE).

Cases where metafor fails with the tight controls (recorded as errors in the fixture) check that
our fit converges; sparse16 CM.EL ML, where metafor reports τ² = 3e-5 with an SE of 4e-7 (a
degenerate Hessian at the boundary), is compared on the estimate only.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.rlive import run_r_script
from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth.stats import glmm
from trialsynth.stats.glmm import glmm_or, glmm_proportion

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "glmm"
SCRIPT = ROOT / "validation" / "glmm_fixtures.R"
PINNED = json.loads((FIXTURES / "cases.json").read_text(encoding="utf-8"))
OR_CASES = PINNED["or_cases"]
SPARSE = ("sparse16", "sparse30")
R_PACKAGES = ("metafor", "metadat", "lme4", "BiasedUrn", "numDeriv")

EXACT = 1e-6
GLMER_SE = 5e-5
GLMER_FIT = 2e-5
UMRS_WALD = 1e-2
SPARSE_WALD = 5e-2
CMEL_SE = 5e-3
CMEL_FIT = 2e-5
RETRY_ESTIMATE = 2e-4
RETRY_FIT = 1e-3
RETRY_SE = 1e-2
ABS_FLOOR = 1e-6
# Absolute floors for quantities that can be (near) zero: τ² and σ² near the boundary, where the
# optimisers' stopping rules act on the absolute scale; I² (percent) moves 100/s² times as much.
FLOORS = {"tau2": ABS_FLOOR, "sigma2": ABS_FLOOR, "i2": 1e-3}


def _tolerance(case: dict, key: str) -> float | None:
    """Relative tolerance for one quantity of one case (None: not compared; see the docstring)."""
    model, method, sparse = case["model"], case["method"], case["dataset"] in SPARSE
    if case.get("controls") == "retry" and key != "qe_wald":
        return RETRY_SE if key in ("se", "z") else RETRY_FIT if key != "estimate" else RETRY_ESTIMATE
    glmer = model == "UM.RS" or (method == "ML" and model in ("UM.FS", "CM.AL"))
    if key == "qe_wald":
        if model == "CM.EL" and case["dataset"] == "bcg":
            return None
        if sparse:
            return SPARSE_WALD
        if model == "UM.RS":
            return UMRS_WALD
        return CMEL_SE if model == "CM.EL" else EXACT
    if model == "CM.EL":
        if key in ("se", "z"):
            return CMEL_SE
        return CMEL_FIT
    if glmer and key in ("se", "z"):
        return GLMER_SE
    if glmer and method == "ML" and key in ("estimate", "tau2", "i2", "h2", "sigma2"):
        return GLMER_FIT
    return EXACT


def _fit(case: dict):
    data = PINNED["datasets"][case["dataset"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        return glmm_or(
            data["ai"],
            data["n1i"],
            data["ci"],
            data["n2i"],
            model=case["model"],
            method="FE" if case["method"] == "EE" else "ML",
        )


@pytest.mark.parametrize("case", OR_CASES, ids=[c["id"] for c in OR_CASES])
def test_or_models_match_metafor(case):
    fit = _fit(case)
    assert fit.converged
    if "error" in case:  # metafor could not fit this one with tight controls
        assert math.isfinite(fit.estimate) and math.isfinite(fit.se)
        return
    expected = case["expected"]
    assert fit.k == expected["k"]
    keys = ("estimate", "se", "z", "tau2", "sigma2", "qe_wald", "qe_lrt", "i2", "h2")
    if case["id"] == "sparse16_CM.EL_ML":
        keys = ("estimate",)
    problems = []
    for key in keys:
        want = expected.get(key)
        if want is None:
            continue
        tol = _tolerance(case, key)
        if tol is None:
            continue
        got = getattr(fit, key)
        if not abs(got - want) <= tol * abs(want) + FLOORS.get(key, 0.0):
            problems.append(f"{key}: got {got!r}, metafor {want!r} (rel {abs(got - want) / abs(want):.1e})")
    assert not problems, "\n".join(problems)
    # p-values and intervals follow from the estimate and its SE as metafor's (z test, 95%).
    assert fit.ci_lower == pytest.approx(fit.estimate - 1.959963984540054 * fit.se, rel=1e-12)
    assert fit.qe_df == expected["k"] - 1


@pytest.mark.parametrize("name", sorted(PINNED["exact"]))
def test_noncentral_hypergeometric_against_biasedurn(name):
    """Our log-space density and information against BiasedUrn (precision 1e-15), large tables too."""
    data = PINNED["datasets"][name]
    a, n1, c, n2 = (np.asarray(data[k], dtype=float) for k in ("ai", "n1i", "ci", "n2i"))
    keep = ~(((a == 0) & (c == 0)) | ((a == n1) & (c == n2)))
    a, n1, c, n2 = a[keep], n1[keep], c[keep], n2[keep]
    dist = glmm._NoncentralHypergeometric(a, n1, n2, a + c)
    for point in PINNED["exact"][name]:
        lam = np.full(a.size, point["theta"])
        assert dist.logpmf(lam).sum() == pytest.approx(point["loglik"], rel=1e-9)
        assert dist.mean_var(lam)[1].sum() == pytest.approx(point["information"], rel=1e-9)


def test_cm_el_fixed_effect_se_is_the_exact_information():
    """CM.EL FE: SE² = 1/Σ Var(A_i) at the estimate (Fisher information of the conditional likelihood)."""
    data = PINNED["datasets"]["nielweise2007"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        fit = glmm_or(data["ai"], data["n1i"], data["ci"], data["n2i"], model="CM.EL", method="FE")
    a, n1, c, n2 = (np.asarray(data[k], dtype=float) for k in ("ai", "n1i", "ci", "n2i"))
    keep = ~((a == 0) & (c == 0))
    dist = glmm._NoncentralHypergeometric(a[keep], n1[keep], n2[keep], (a + c)[keep])
    info = dist.mean_var(np.full(int(keep.sum()), fit.estimate))[1].sum()
    assert fit.se == pytest.approx(1 / math.sqrt(info), rel=1e-7)


@pytest.mark.parametrize("name", sorted(PINNED["proportions"]))
@pytest.mark.parametrize("method", ["EE", "ML"])
def test_proportion_glmm_matches_metafor(name, method):
    data = PINNED["proportions"][name]
    want = data["glmm"][method]
    fit = glmm_proportion(data["xi"], data["ni"], method="FE" if method == "EE" else "ML")
    assert fit.k == want["k"]
    for key in ("estimate", "se", "z", "tau2", "qe_wald", "qe_lrt", "i2", "h2"):
        tol = GLMER_SE if (method == "ML" and key in ("se", "z")) else GLMER_FIT if method == "ML" else EXACT
        floor = FLOORS.get(key, 0.0)
        assert getattr(fit, key) == pytest.approx(want[key], rel=tol, abs=floor), key


def test_double_zero_tables_are_dropped_with_a_warning():
    with pytest.warns(TrialsynthWarning, match="no events"):
        fit = glmm_or([0, 3, 5], [20, 30, 40], [0, 6, 9], [20, 30, 40], model="CM.AL", method="FE")
    assert fit.k == 2 and fit.included == (False, True, True)


def test_one_fit_is_fast_for_100_trials():
    import time

    rng = np.random.default_rng(1)
    n1 = rng.integers(50, 300, 100).astype(float)
    n2 = rng.integers(50, 300, 100).astype(float)
    p = 1 / (1 + np.exp(-(-3 + rng.normal(0, 0.5, 100))))
    a = rng.binomial(n1.astype(int), p * 0.7).astype(float)
    c = rng.binomial(n2.astype(int), p).astype(float)
    for model in ("UM.FS", "CM.AL", "CM.EL", "UM.RS"):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TrialsynthWarning)
            fit = glmm_or(a, n1, c, n2, model=model, method="ML")
        elapsed = time.perf_counter() - start
        assert fit.converged, model
        # Under a second on an idle core; generous here because the machine is shared.
        assert elapsed < 5.0, (model, elapsed)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"model": "XX"}, "unknown GLMM model"),
        ({"method": "REML"}, "unknown GLMM method"),
    ],
)
def test_bad_options_are_input_errors(kwargs, words):
    with pytest.raises(InputError, match=words):
        glmm_or([1, 2], [10, 10], [2, 3], [10, 10], **kwargs)


def test_bad_counts_are_input_errors():
    with pytest.raises(InputError, match="more events"):
        glmm_or([11, 2], [10, 10], [2, 3], [10, 10])
    with pytest.raises(InputError, match="not estimable"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TrialsynthWarning)
            glmm_or([0, 0], [10, 10], [0, 0], [10, 10])


def test_fixtures_are_well_formed():
    assert PINNED["generated_by"] == "validation/glmm_fixtures.R"
    ids = [c["id"] for c in OR_CASES]
    assert len(ids) == len(set(ids)) == 5 * 4 * 2
    # The simulated sets do what they are for: zero cells, all-zero arms, double-zero trials.
    for name in SPARSE:
        d = PINNED["datasets"][name]
        a, c = np.asarray(d["ai"]), np.asarray(d["ci"])
        assert ((a == 0) ^ (c == 0)).sum() >= 3 and ((a == 0) & (c == 0)).sum() >= 1


def test_live_glmm_fixtures_against_R(tmp_path):
    """Re-run validation/glmm_fixtures.R (several minutes: CM.EL with tight integration) and
    check it gives the pinned values again."""
    run_r_script(SCRIPT, tmp_path)
    fresh = json.loads((tmp_path / "cases.json").read_text(encoding="utf-8"))
    assert fresh["datasets"] == PINNED["datasets"]
    for new, old in zip(fresh["or_cases"], OR_CASES, strict=True):
        assert new["id"] == old["id"]
        assert ("error" in new) == ("error" in old), new["id"]
        for key, want in old.get("expected", {}).items():
            got = new["expected"][key]
            if want is None:
                assert got is None, (new["id"], key)
            else:
                assert got == pytest.approx(want, rel=1e-6, abs=1e-9), (new["id"], key)


# ---------------------------------------------------------------------------------------------
# Single-arm proportion measures (escalc, rma, predict with back-transformation)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(PINNED["proportions"]))
@pytest.mark.parametrize("measure", ["PR", "PLO", "PAS", "PFT"])
def test_proportion_measures_match_escalc_and_rma(name, measure):
    from trialsynth.stats.pooling import fit_arrays
    from trialsynth.stats.proportions import back_transform, proportion_effects

    data = PINNED["proportions"][name]
    want = data["measures"][measure]
    eff = proportion_effects(data["xi"], data["ni"], measure)
    np.testing.assert_allclose(eff.yi, want["yi"], rtol=1e-12)
    np.testing.assert_allclose(eff.vi, want["vi"], rtol=1e-12)
    for method, fit_want in want["fits"].items():
        fit = fit_arrays(eff.yi, eff.vi, method="FE" if method == "EE" else method)
        assert float(fit["estimate"]) == pytest.approx(fit_want["estimate"], rel=1e-6), method
        for key in ("pred", "pred_ci_lower", "pred_ci_upper"):
            y = {"pred": fit["estimate"], "pred_ci_lower": fit["ci_lower"], "pred_ci_upper": fit["ci_upper"]}[
                key
            ]
            got = float(back_transform(y, measure, ni=data["ni"]))
            assert got == pytest.approx(fit_want[key], rel=1e-6, abs=1e-12), (method, key)


@pytest.mark.parametrize("name", sorted(PINNED["proportions"]))
def test_miller_back_transformation_matches_transf_ipft_hm(name):
    from trialsynth.stats.proportions import back_transform

    data = PINNED["proportions"][name]["ipft_hm"]
    ni = PINNED["proportions"][name]["ni"]
    np.testing.assert_allclose(back_transform(data["x"], "PFT", ni=ni), data["p"], rtol=1e-12, atol=1e-15)


def test_study_cis_by_hand():
    """Clopper–Pearson: x = 0 of 10 gives [0, 1 − 0.025^(1/10)]; Wilson for 3 of 10 by the formula."""
    from trialsynth.stats.proportions import study_ci

    lo, hi = study_ci([0], [10])
    assert lo[0] == 0.0 and hi[0] == pytest.approx(1 - 0.025 ** (1 / 10), rel=1e-12)
    lo, hi = study_ci([10], [10])
    assert lo[0] == pytest.approx(0.025 ** (1 / 10), rel=1e-12) and hi[0] == 1.0
    z = 1.959963984540054
    p, n = 0.3, 10
    centre = (p + z**2 / 20) / (1 + z**2 / 10)
    half = z * math.sqrt(p * (1 - p) / n + z**2 / 400) / (1 + z**2 / 10)
    lo, hi = study_ci([3], [10], method="wilson")
    assert (lo[0], hi[0]) == pytest.approx((centre - half, centre + half), rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Command line: trialsynth pool --method GLMM
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["UM.FS", "UM.RS", "CM.EL", "CM.AL"])
@pytest.mark.parametrize("fixed", [False, True])
def test_cli_pool_glmm_matches_metafor(tmp_path, model, fixed):
    from click.testing import CliRunner

    from trialsynth.cli.main import main

    data = PINNED["datasets"]["nielweise2007"]
    lines = ["study,events_treatment,n_treatment,events_control,n_control"]
    lines += [
        f"S{i + 1},{int(a)},{int(n1)},{int(c)},{int(n2)}"
        for i, (a, n1, c, n2) in enumerate(zip(data["ai"], data["n1i"], data["ci"], data["n2i"], strict=True))
    ]
    path = tmp_path / "trials.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ["pool", str(path), "--measure", "OR", "--method", "GLMM", "--glmm", model, "--json"]
    result = CliRunner().invoke(main, [*args, "--fixed"] if fixed else args)
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"JSON has {c}"))
    case = next(c for c in OR_CASES if c["id"] == f"nielweise2007_{model}_{'EE' if fixed else 'ML'}")
    want = case["expected"]
    assert got["method"] == "GLMM" and got["k"] == want["k"] == 17
    assert got["estimate"] == pytest.approx(want["estimate"], rel=_tolerance(case, "estimate"))
    assert got["se"] == pytest.approx(want["se"], rel=_tolerance(case, "se"))
    assert got["glmm"]["qe_lrt"] == pytest.approx(want["qe_lrt"], rel=_tolerance(case, "qe_lrt"))
    assert (got["tau2"] is None) == fixed
    assert any("S15" in c for c in got["corrections"])  # the double-zero trial, left out


@pytest.mark.parametrize("measure", ["PR", "PLO", "PAS", "PFT"])
@pytest.mark.parametrize("method", ["EE", "REML", "DL"])
def test_cli_pool_proportions_match_rma(tmp_path, measure, method):
    """``events, n`` rows pooled by inverse variance as metafor's rma(escalc(measure, xi, ni))."""
    from click.testing import CliRunner

    from trialsynth.cli.main import main

    data = PINNED["proportions"]["rare"]  # zero counts and one study with only events
    lines = ["study,events,n"] + [
        f"P{i + 1},{int(x)},{int(n)}" for i, (x, n) in enumerate(zip(data["xi"], data["ni"], strict=True))
    ]
    path = tmp_path / "props.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ["pool", str(path), "--measure", measure, "--method", "FE" if method == "EE" else method, "--json"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"JSON has {c}"))
    want = data["measures"][measure]["fits"][method]
    assert got["estimate"] == pytest.approx(want["estimate"], rel=1e-6)
    assert got["se"] == pytest.approx(want["se"], rel=1e-6)
    np.testing.assert_allclose(
        [s["effect"] for s in got["studies"]], data["measures"][measure]["yi"], rtol=1e-12
    )
