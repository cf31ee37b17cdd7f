"""Multilevel and multivariate models against metafor's rma.mv (tests/fixtures/multilevel).

The fixtures are written by validation/multilevel_fixtures.R: metafor 3.8 rma.mv fits of
dat.konstantopoulos2011 (three-level, REML/ML, with the moderator year, z and t tests),
dat.berkey1998 (UN and CS, REML/ML) and two simulated sets, each polished by Newton steps on
metafor's own log-likelihood (numDeriv), with confint() profile CIs and the I² of metafor's FAQ.

Tolerances:
* REL_TOL = 1e-6 (relative) for everything: the house tolerance against metafor at tight
  convergence. Observed agreement is 1e-9 or better, except for konstantopoulos2011_year, whose
  likelihood (year ≈ 1990 uncentred) is so flat and ill-conditioned that metafor's maximiser is only
  determined to ~6e-7 relative; the log-likelihoods agree to 1e-11 there.
* LOGLIK_TOL = 1e-9 (relative) on the log-likelihood itself: at a maximum ℓ is insensitive to
  first order, so it must agree much more tightly than the parameters.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.rlive import run_r_script
from trialsynth._core.errors import InputError
from trialsynth.stats.multilevel import fit_multilevel, fit_multivariate, sampling_covariance

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "multilevel"
SCRIPT = ROOT / "validation" / "multilevel_fixtures.R"
PINNED = json.loads((FIXTURES / "cases.json").read_text(encoding="utf-8"))
CASES = PINNED["cases"]
REL_TOL = 1e-6
LOGLIK_TOL = 1e-9


def dense(triplets, k):
    """The symmetric matrix from its [row, col, value] upper-triangle triplets (1-based)."""
    V = np.zeros((k, k))
    for i, j, v in triplets:
        V[i - 1, j - 1] = V[j - 1, i - 1] = v
    return V


def case_inputs(case):
    inp = case["input"]
    y = np.array(inp["yi"], dtype=float)
    return y, dense(inp["V"], len(y)), np.array(inp["X"], dtype=float), inp


def fit_case(case, *, profile=True):
    y, V, X, inp = case_inputs(case)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if case["struct"] == "nested":
            return fit_multilevel(
                y,
                V,
                X,
                levels=inp["groups"],
                method=case["method"],
                test=case["test"],
                names=inp["names"],
                profile=profile,
            )
        return fit_multivariate(
            y,
            V,
            X,
            study=inp["groups"][0],
            outcome=inp["groups"][1],
            struct=case["struct"],
            method=case["method"],
            test=case["test"],
            names=inp["names"],
            intercept=False,
            profile=profile,
        )


def close(got, want, tol=REL_TOL):
    if want is None:
        return got is None or math.isnan(got)
    return abs(got - want) <= tol * max(abs(want), 1e-12)


@pytest.fixture(scope="module")
def fits():
    return {c["id"]: fit_case(c) for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_matches_metafor(case, fits):
    r = fits[case["id"]]
    e = case["expected"]
    problems = []
    assert r.converged
    if not close(r.loglik, e["loglik"], LOGLIK_TOL):
        problems.append(f"loglik {r.loglik!r} vs {e['loglik']!r}")
    for key in ("aic", "bic", "qe", "qe_p_value", "qm", "qm_p_value"):
        if not close(getattr(r, key), e[key]):
            problems.append(f"{key} {getattr(r, key)!r} vs {e[key]!r}")
    got = list(r.sigma2) if case["struct"] == "nested" else [*r.tau2, *r.rho]
    want = e["sigma2"] if case["struct"] == "nested" else [*e["tau2"], *e["rho"]]
    assert len(got) == len(want)
    problems += [
        f"component {i}: {g!r} vs {w!r}"
        for i, (g, w) in enumerate(zip(got, want, strict=True))
        if not close(g, w)
    ]
    for cg, ce in zip(r.coefficients, e["coefficients"], strict=True):
        assert cg.name == ce["name"]
        for key in ("estimate", "se", "statistic", "p_value", "ci_lower", "ci_upper"):
            if not close(getattr(cg, key), ce[key]):
                problems.append(f"{cg.name}.{key} {getattr(cg, key)!r} vs {ce[key]!r}")
    # Profile-likelihood CIs, in metafor's order (sigma^2.1, sigma^2.2 / tau^2.., rho..).
    assert len(r.components) == len(e["profile_ci"])
    for comp, ce in zip(r.components, e["profile_ci"], strict=True):
        for key in ("ci_lower", "ci_upper"):
            if not close(getattr(comp, key), ce[key]):
                problems.append(f"{comp.name}.{key} {getattr(comp, key)!r} vs {ce[key]!r} ({ce['name']})")
    if e["i2"] is not None:
        if not close(r.typical_variance, e["i2"]["typical_variance"]):
            problems.append("typical sampling variance")
        i2 = [c.i2 for c in r.components if not math.isnan(c.i2)]
        problems += [f"I² {g} vs {w}" for g, w in zip(i2, e["i2"]["i2"], strict=True) if not close(g, w)]
    assert not problems, "\n".join(problems)


def test_i2_levels_sum_to_total(fits):
    r = fits["konstantopoulos2011_reml"]
    # Cheung (2014): I²_total = 100 Σσ² / (Σσ² + s²) = I²₁ + I²₂.
    s2 = r.typical_variance
    assert math.isclose(r.i2, 100 * sum(r.sigma2) / (sum(r.sigma2) + s2), rel_tol=1e-12)
    assert math.isclose(r.i2, sum(c.i2 for c in r.components), rel_tol=1e-12)


def test_json_has_sigma2_outer_first(fits):
    r = fits["konstantopoulos2011_reml"]
    out = r.to_json_dict()
    assert out["sigma2"] == list(r.sigma2)
    assert out["variance_components"][0]["level"] == "study"
    assert out["variance_components"][0]["n_levels"] == 11  # districts
    assert out["variance_components"][1]["n_levels"] == 56
    json.dumps(out, allow_nan=False)


def test_one_level_equals_univariate_reml():
    """With one level per row the nested model is rma(method="REML"): compare with regression.fit_mods."""
    from trialsynth.stats.regression import fit_mods

    case = CASES[0]
    y, V, _, _ = case_inputs(case)
    vi = np.diag(V)
    r = fit_multilevel(y, vi, levels=[[str(i) for i in range(len(y))]], profile=False)
    uni = fit_mods(y, vi, np.ones((len(y), 1)), method="REML")
    assert math.isclose(r.sigma2[0], float(uni["tau2"]), rel_tol=1e-8)
    assert math.isclose(r.coefficients[0].se, float(uni["se"][0]), rel_tol=1e-8)


def test_boundary_component_is_zero_with_a_warning():
    """Data without within-study heterogeneity beyond sampling error: σ²₂ = 0 is the REML maximum."""
    rng = np.random.default_rng(3)
    study = np.repeat(np.arange(12), 3)
    u = rng.normal(0, 0.4, 12)[study]
    vi = np.full(len(study), 0.05)
    y = 0.2 + u + rng.normal(0, 0.05, len(study))  # residual spread far below √vᵢ
    with pytest.warns(Warning, match="boundary"):
        r = fit_multilevel(y, vi, levels=[study.astype(str), np.arange(len(y)).astype(str)], profile=False)
    assert r.sigma2[1] == 0.0 and r.sigma2[0] > 0
    assert r.converged and r.boundary == ("sigma2.2",)


def test_sampling_covariance_and_errors():
    V = sampling_covariance([0.04, 0.09, 0.01], ["a", "a", "b"], rho=0.5)
    assert V[0, 1] == pytest.approx(0.5 * 0.2 * 0.3) and V[0, 2] == 0 and V[2, 2] == 0.01
    with pytest.raises(InputError, match="between −1 and 1"):
        sampling_covariance([0.1, 0.1], ["a", "a"], rho=1.5)
    with pytest.raises(InputError, match="REML or ML"):
        fit_multilevel([0.1, 0.2, 0.3], [0.1, 0.1, 0.1], levels=[["a", "a", "b"]], method="DL")
    with pytest.raises(InputError, match="two outcomes"):
        fit_multivariate([0.1, 0.2, 0.3], [0.1] * 3, study=["a", "b", "c"], outcome=["x"] * 3)


def test_speed_k200():
    """Each fit (without profile CIs) under 1 s for k = 200 effect sizes (issue 20)."""
    rng = np.random.default_rng(1)
    study = np.repeat(np.arange(50), 4)
    vi = rng.uniform(0.01, 0.2, 200)
    y = 0.3 + rng.normal(0, 0.3, 50)[study] + rng.normal(0, 0.15, 200) + rng.normal(0, np.sqrt(vi))
    start = time.perf_counter()
    r = fit_multilevel(y, vi, levels=[study.astype(str), np.arange(200).astype(str)], profile=False)
    assert time.perf_counter() - start < 1.0
    assert r.converged


@pytest.mark.against_R
def test_live_fixture_script_against_R(tmp_path):
    """Re-run validation/multilevel_fixtures.R: metafor and clubSandwich must give the pinned numbers."""
    run_r_script(SCRIPT, tmp_path, timeout=1200)
    fresh = json.loads((tmp_path / "cases.json").read_text(encoding="utf-8"))
    assert [c["id"] for c in fresh["cases"]] == [c["id"] for c in CASES]
    problems: list[str] = []
    _compare(fresh["cases"], CASES, "cases", problems)
    _compare(fresh["univariate"], PINNED["univariate"], "univariate", problems)
    assert not problems, "\n".join(problems[:20])


def _compare(new, old, where, problems):
    if isinstance(old, dict):
        for key in old:
            _compare(new.get(key), old[key], f"{where}.{key}", problems)
    elif isinstance(old, list):
        if not isinstance(new, list) or len(new) != len(old):
            problems.append(f"{where}: length differs")
            return
        for i, (a, b) in enumerate(zip(new, old, strict=True)):
            _compare(a, b, f"{where}[{i}]", problems)
    elif isinstance(old, float) and isinstance(new, int | float):
        if not close(float(new), old):
            problems.append(f"{where}: {new!r} vs pinned {old!r}")
    elif new != old:
        problems.append(f"{where}: {new!r} vs pinned {old!r}")


def _write_konstantopoulos_csv(path):
    case = next(c for c in CASES if c["id"] == "konstantopoulos2011_reml")
    y, V, _, inp = case_inputs(case)
    lines = ["study,es_id,estimate,se"]
    for d, s, yi, vi in zip(inp["groups"][0], inp["groups"][1], y, np.diag(V), strict=True):
        lines.append(f"district {d},{s},{float(yi)!r},{math.sqrt(vi)!r}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return case


def test_cli_pool_multilevel_json(tmp_path):
    """`trialsynth pool --multilevel --robust CR2 --json` on dat.konstantopoulos2011 (se = √vᵢ)."""
    from click.testing import CliRunner

    from trialsynth.cli import main

    csv = tmp_path / "k.csv"
    case = _write_konstantopoulos_csv(csv)
    res = CliRunner().invoke(
        main, ["pool", str(csv), "--measure", "MD", "--multilevel", "--robust", "CR2", "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    e = case["expected"]
    assert all(close(g, w) for g, w in zip(out["sigma2"], e["sigma2"], strict=True))
    assert close(out["estimate"], e["coefficients"][0]["estimate"])
    assert close(out["se"], e["coefficients"][0]["se"])
    assert out["k"] == 56 and out["multilevel"]["k_studies"] == 11
    rob = case["robust"]["coef_test"][0]
    assert close(out["robust"]["coefficients"][0]["se"], rob["se"])
    assert close(out["robust"]["coefficients"][0]["df"], rob["df"])
    assert "tau2" in out and "studies" in out  # today's keys stay


def test_cli_duplicate_study_rows_name_the_option(tmp_path):
    from click.testing import CliRunner

    from trialsynth.cli import main

    csv = tmp_path / "k.csv"
    _write_konstantopoulos_csv(csv)
    res = CliRunner().invoke(main, ["pool", str(csv), "--measure", "MD", "--json"])
    assert res.exit_code == 2
    assert "appears twice" in res.output and "--multilevel" in res.output
