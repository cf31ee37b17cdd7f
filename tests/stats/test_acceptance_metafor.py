"""Acceptance: the command line against metafor and rpact on datasets no other test uses.

tests/fixtures/acceptance/ is written by validation/acceptance_fixtures.R (``make fixtures``)
from metadat datasets (li2007, nielweise2007, gibson2002, baskerville2012, bornmann2007,
dorn2007) with the R calls of the other fixture scripts (it loads their functions):

* ``pool_cases``: ``trialsynth pool --json`` for FE and the eight τ² estimators, with and without
  Hartung–Knapp (estimate, SE, CI, p, τ² and its Q-profile CI, I², H², Q, prediction interval,
  per-study effects and weights), compared as tests/test_against_metafor.py does;
* ``cases``: ``pool --subgroup``, ``pool --moderators``, ``influence`` and ``bias``, compared
  recursively as tests/test_analyses_against_metafor.py does;
* ``tsa``: ``trialsynth tsa --json``: the required information size, D², the fractions and the
  cumulative Z against metafor fits and the published RIS formula (REL_TOL), and the α-spending
  boundaries and the TSA-adjusted CI against rpact (BOUNDARY_TOL of tests/test_tsa.py) where
  rpact is accurate (see the R script).

``trialsynth.stats.batch.fit_batch`` on the pooled inputs stacked is held to the same metafor values.
The Bayesian analysis (``pool --bayes``) has no R oracle installable here (bayesmeta is not
packaged for Debian): it is checked for consistency only (see the test).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.stats.test_against_metafor import SCALAR_KEYS, _compare_value, compare_results, pooled_studies
from tests.stats.test_analyses_against_metafor import _command, _compare, rerun_fixture_script
from tests.stats.test_tsa import BOUNDARY_TOL, CLI_TSA_KEYS
from trialsynth.cli import main

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "acceptance"
SCRIPT = ROOT / "validation" / "acceptance_fixtures.R"
PINNED = json.loads((FIXTURES / "cases.json").read_text(encoding="utf-8"))
POOL_CASES = PINNED["pool_cases"]
CASES = PINNED["cases"]
TSA_CASES = PINNED["tsa"]


def _cli_json(args: list[str]) -> dict:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _pool_args(case: dict) -> list[str]:
    args = ["pool", str(FIXTURES / case["input"]), "--measure", case["measure"], "--method", case["method"]]
    if case["hk"]:
        args += ["--hk", "--hk-variant", case["hk_variant"]]
    return [*args, "--json"]


@pytest.mark.parametrize("case", POOL_CASES, ids=[c["id"] for c in POOL_CASES])
def test_pool_matches_metafor(case):
    problems = compare_results(_cli_json(_pool_args(case)), case["expected"])
    assert not problems, f"{case['id']} ({case['citation']}):\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_analysis_matches_metafor(case):
    args = _command(case)
    args[1] = str(FIXTURES / case["input"])
    problems: list[str] = []
    _compare(_cli_json(args), case["expected"], case["kind"], problems)
    assert not problems, f"{case['id']} ({case['citation']}):\n  " + "\n  ".join(problems[:15])


# ---------------------------------------------------------------------------------------------
# Batch fits: every pooled input stacked (padded with masked-out studies) in one call
# ---------------------------------------------------------------------------------------------
# The fit's scalars that BatchFit carries (k, the τ² CI and convergence are checked elsewhere).
BATCH_KEYS = tuple(k for k in SCALAR_KEYS if k not in ("k", "tau2_ci_lower", "tau2_ci_upper", "converged"))


@pytest.mark.parametrize(
    "method_hk",
    sorted({(c["method"], c["hk"]) for c in POOL_CASES}),
    ids=lambda m: f"{m[0]}{'_hk' if m[1] else ''}",
)
def test_fit_batch_matches_metafor(method_hk):
    from trialsynth.stats.batch import fit_batch

    method, hk = method_hk
    cases = [c for c in POOL_CASES if c["method"] == method and c["hk"] == hk]
    width = max(len(c["expected"]["studies"]) for c in cases)
    yi = np.zeros((len(cases), width))
    vi = np.ones((len(cases), width))
    mask = np.zeros((len(cases), width), dtype=bool)
    for row, case in enumerate(cases):
        studies = case["expected"]["studies"]  # metafor's own per-study effects and variances
        yi[row, : len(studies)] = [s["effect"] for s in studies]
        vi[row, : len(studies)] = [s["variance"] for s in studies]
        mask[row, : len(studies)] = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_batch(yi, vi, mask, method=method, hk=hk, engine="numpy")
    problems = []
    for row, case in enumerate(cases):
        for key in BATCH_KEYS:
            got = float(np.asarray(getattr(fit, key))[row])
            want = case["expected"][key]
            if want is None:
                if not math.isnan(got):
                    problems.append(f"{case['id']}.{key}: got {got!r}, metafor gives NA")
                continue
            problems += [f"{case['id']}.{p}" for p in _compare_value(key, got, want)]
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# Trial sequential analysis
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", TSA_CASES, ids=[c["id"] for c in TSA_CASES])
def test_tsa_matches_metafor_and_rpact(case):
    got = _cli_json(
        [
            "tsa",
            str(FIXTURES / case["input"]),
            "--measure",
            case["measure"],
            "--method",
            case["method"],
            "--alpha",
            str(case["alpha"]),
            "--power",
            str(case["power"]),
            "--control-risk",
            str(case["control_risk"]),
            "--rrr",
            str(case["rrr"]),
            "--diversity",
            "auto",
            "--json",
        ]
    )
    assert set(CLI_TSA_KEYS) <= got.keys()
    expected = case["expected"]
    problems: list[str] = []
    for key in ("ris", "diversity", "information", "fraction", "z", "estimate", "se"):
        _compare(got[key], expected[key], key, problems)
    if "boundary" in expected:
        b = np.array(got["boundary"], dtype=float)
        want = np.array(expected["boundary"], dtype=float)
        if b.shape != want.shape or not np.allclose(b, want, rtol=0, atol=BOUNDARY_TOL):
            problems.append(f"boundary: got {b.tolist()}, rpact gives {want.tolist()}")
        for key in ("adjusted_ci_lower", "adjusted_ci_upper"):
            if abs(got[key] - expected[key]) > BOUNDARY_TOL * expected["se"]:
                problems.append(f"{key}: got {got[key]!r}, expected {expected[key]!r}")
        # The conclusion is read at the last look (tsa module docstring).
        crossed = abs(expected["z"][-1]) >= expected["boundary"][-1]
        assert (got["conclusion"] in ("benefit", "harm")) == crossed, got["conclusion"]
    assert not problems, f"{case['id']}:\n  " + "\n  ".join(problems)


# ---------------------------------------------------------------------------------------------
# Bayesian random effects: consistency only (no oracle installable here)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["li2007", "gibson2002", "dorn2007"])
def test_bayes_is_consistent(name):
    measure = {"li2007": "OR", "gibson2002": "SMD", "dorn2007": "OR"}[name]
    path = str(FIXTURES / "data" / f"{name}.csv")
    args = ["pool", path, "--measure", measure, "--bayes", "--tau-prior", "halfnormal:0.5", "--json"]
    got = _cli_json(args)["posterior"]
    for part in ("mu", "tau", "predictive"):
        p = got[part]
        assert p["ci_lower"] < p["median"] < p["ci_upper"], (part, p)
        assert p["ci_lower"] <= p["mean"] <= p["ci_upper"], (part, p)
    assert got["tau"]["ci_lower"] >= 0
    # The predictive distribution adds τ to μ's uncertainty: it is wider, around the same mean.
    mu, pred = got["mu"], got["predictive"]
    assert pred["ci_upper"] - pred["ci_lower"] > mu["ci_upper"] - mu["ci_lower"]
    assert math.isclose(pred["mean"], mu["mean"], rel_tol=1e-9, abs_tol=1e-12)
    assert 0 < got["p_below_null"] < 1
    # P(μ < 0) is below one half exactly when the posterior median of μ is above 0.
    assert (got["p_below_null"] < 0.5) == (mu["median"] > 0)
    assert got["bf01_tau0"] > 0
    # With the improper uniform prior on μ there is no Bayes factor for μ = 0; with a proper one there is.
    assert got["bf01_mu0"] is None
    proper = _cli_json([*args[:-1], "--mu-prior", "normal:0,4", "--json"])["posterior"]
    assert proper["bf01_mu0"] > 0


# ---------------------------------------------------------------------------------------------
# User errors: a missing or constant moderator/subgroup column is one clear line, exit 2
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "option, column, words",
    [
        ("--subgroup", "nosuchcolumn", "nosuchcolumn"),
        ("--moderators", "nosuchcolumn", "nosuchcolumn"),
        ("--moderators", "score,nosuchcolumn", "nosuchcolumn"),
        ("--subgroup", "constant", "constant"),
        ("--moderators", "constant", "constant"),
    ],
)
def test_bad_moderator_or_subgroup_column_is_one_clear_line(tmp_path, option, column, words):
    source = (FIXTURES / "data" / "baskerville2012.csv").read_text(encoding="utf-8").splitlines()
    lines = [source[0] + ",constant"] + [line + ",same" for line in source[1:]]
    path = tmp_path / "trials.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["pool", str(path), "--measure", "SMD", option, column, "--json"])
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert "\n" not in message and words in message and "Traceback" not in message, message


# ---------------------------------------------------------------------------------------------
# Fixtures are well formed and R still gives them
# ---------------------------------------------------------------------------------------------
def test_fixtures_are_well_formed():
    ids = [c["id"] for c in POOL_CASES + CASES + TSA_CASES]
    assert len(ids) == len(set(ids))
    assert PINNED["generated_by"] == "validation/acceptance_fixtures.R"
    for case in POOL_CASES:
        assert set(case["expected"]) == {*SCALAR_KEYS, "studies"}, case["id"]
        assert case["expected"]["k"] == len(pooled_studies(case["expected"])), case["id"]
    # Every random-effects estimator, with and without Hartung–Knapp, on each of three inputs.
    for name in ("li2007", "gibson2002", "baskerville2012"):
        runs = {(c["method"], c["hk"]) for c in POOL_CASES if c["input"] == f"data/{name}.csv"}
        for method in ("DL", "REML", "PM", "ML", "SJ", "EB", "HE", "HS"):
            assert {(method, False), (method, True)} <= runs, (name, method)


def test_live_acceptance_fixtures_against_R(tmp_path):
    rerun_fixture_script(SCRIPT, CASES, tmp_path)
    fresh = json.loads((tmp_path / "cases.json").read_text(encoding="utf-8"))
    problems: list[str] = []
    _compare(fresh["pool_cases"], POOL_CASES, "pool_cases", problems)
    _compare(fresh["tsa"], TSA_CASES, "tsa", problems)
    assert not problems, problems[:10]
