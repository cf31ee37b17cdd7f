"""Network meta-analysis (trialsynth.stats.network) against metafor, hand algebra and identities.

tests/fixtures/network/ is written by validation/network_fixtures.R from metadat's dat.senn2013 (mean
differences, placebo the reference) and dat.hasselblad1998 (log odds ratios with 1/2 added to every
cell, as the metafor documentation's example; no contact the reference) with metafor's rma.mv: REML,
ML and the fixed-effect model; predict() for every ordered pair (the league table), node-splitting
models and the design-by-treatment interaction model, built there from the definitions of the module
docstring.
"""

from __future__ import annotations

import csv
import json
import math
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.special import ndtr

from tests.rlive import run_r_script
from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth.stats.network import (
    network_from_arms,
    network_from_contrasts,
    network_meta_analysis,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "network"
SCRIPT = ROOT / "validation" / "network_fixtures.R"
PINNED = json.loads((FIXTURES / "cases.json").read_text(encoding="utf-8"))
CASES = PINNED["cases"]

# metafor's optimiser (nlminb, rel.tol 1e-12, or BFGS at 1e-14) stops where the flat one-parameter
# likelihood no longer changes in double precision: its τ² is within 4e-7 (relative) of the root of the
# analytic score that trialsynth finds (the two log-likelihoods agree to 1e-14). 1e-6 (relative) is the
# project's tolerance against metafor. A quantity near zero that is a sum of larger terms (a CI bound
# est − z·se, a prediction bound with √(se² + τ²)) carries the error of those terms, so it is compared on
# their scale (``scale``: the SE, or the interval's half-width), with an absolute floor of 1e-8 (effects
# on scales of order 1).
REL_TOL = 1e-6
ABS_TOL = 1e-8


def _close(got, want, scale: float = 0.0) -> bool:
    return abs(got - want) <= REL_TOL * max(abs(want), abs(scale)) + ABS_TOL


def read_rows(name: str) -> list[dict[str, str]]:
    with open(FIXTURES / "data" / name, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def load(case_input: str, measure: str):
    rows = read_rows(Path(case_input).name)
    study = [r["study"] for r in rows]
    treatment = [r["treatment"] for r in rows]
    n = [float(r["n"]) for r in rows]
    if measure in ("OR", "RR"):
        # The metafor documentation's example for dat.hasselblad1998 adds 1/2 to every cell of every arm;
        # the simulated network has it added to the arms of studies with a zero cell (as the R script).
        events = [float(r["events"]) for r in rows]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TrialsynthWarning)
            return network_from_arms(
                study,
                treatment,
                measure=measure,
                events=events,
                n=n,
                to="all" if measure == "OR" else "only0",
            )
    mean = [float(r["mean"]) for r in rows]
    sd = [float(r["sd"]) for r in rows]
    return network_from_arms(study, treatment, measure=measure, mean=mean, sd=sd, n=n)


def fit_case(case, **options):
    return network_meta_analysis(
        load(case["input"], case["measure"]), reference=case["reference"], method=case["method"], **options
    )


@pytest.fixture(scope="module", params=CASES, ids=[c["id"] for c in CASES])
def fitted(request):
    case = request.param
    return case, fit_case(case)


def test_model_matches_metafor(fitted):
    case, res = fitted
    want = case["expected"]
    problems = []
    assert list(res.treatments) == case["treatments"]
    assert res.n_contrasts == want["k_contrasts"]
    for key, got in (("tau2", res.tau2), ("logLik", res.logLik), ("QE", res.q_total)):
        if not _close(got, want[key]):
            problems.append(f"{key}: {got!r} vs metafor {want[key]!r}")
    assert res.q_total_df == want["QE_df"]
    for i, (g, w) in enumerate(zip(res.coefficients, want["coefficients"], strict=True)):
        if not _close(g, w):
            problems.append(f"coefficient {i}: {g!r} vs {w!r}")
    vc = np.array(want["vcov"])
    bad = ~np.isclose(res.covariance, vc, rtol=REL_TOL, atol=ABS_TOL)
    if bad.any():
        problems.append(f"vcov differs at {np.argwhere(bad).tolist()}")
    assert not problems, "\n".join(problems)


def test_league_table_matches_metafor_predict(fitted):
    case, res = fitted
    want = case["expected"]["league"]
    assert len(res.league) == len(want) == len(res.treatments) * (len(res.treatments) - 1)
    problems = []
    for w in want:
        g = res.comparison(w["treatment_1"], w["treatment_2"])
        for key in ("estimate", "se", "ci_lower", "ci_upper"):
            if not _close(getattr(g, key), w[key], w["se"]):
                problems.append(
                    f"{w['treatment_1']} vs {w['treatment_2']} {key}: {getattr(g, key)!r} vs {w[key]!r}"
                )
    # Against the reference: the prediction interval (a new study's contrast: se² + τ²) as predict().
    for e in res.effects:
        w = next(x for x in want if x["treatment_1"] == e.treatment and x["treatment_2"] == res.reference)
        for key in ("estimate", "se", "ci_lower", "ci_upper", "pi_lower", "pi_upper"):
            if not _close(getattr(e, key), w[key], (w["pi_upper"] - w["pi_lower"]) / 2):
                problems.append(f"{e.treatment} {key}: {getattr(e, key)!r} vs {w[key]!r}")
    assert not problems, "\n".join(problems[:20])


def test_node_splitting_matches_metafor(fitted):
    case, res = fitted
    want = case["expected"]["node_splits"]
    got = {(s.treatment_1, s.treatment_2): s for s in res.node_splits}
    assert set(got) == {(w["treatment_1"], w["treatment_2"]) for w in want}
    problems = []
    for w in want:
        g = got[(w["treatment_1"], w["treatment_2"])]
        assert g.k_direct == w["k_direct"]
        for key in (
            "direct",
            "direct_se",
            "indirect",
            "indirect_se",
            "difference",
            "difference_se",
            "z",
            "p_value",
            "tau2",
        ):
            scale = {
                "direct": w["direct_se"],
                "indirect": w["indirect_se"],
                "difference": w["difference_se"],
                "z": 1.0,
            }.get(key, 0.0)
            if not _close(getattr(g, key), w[key], scale):
                problems.append(
                    f"{g.treatment_1} vs {g.treatment_2} {key}: {getattr(g, key)!r} vs {w[key]!r}"
                )
        # The split's pieces are consistent: difference = direct − indirect.
        assert math.isclose(g.difference, g.direct - g.indirect, rel_tol=1e-9, abs_tol=1e-12)
    assert not problems, "\n".join(problems[:20])


def test_design_by_treatment_matches_metafor(fitted):
    case, res = fitted
    want = case["expected"]["design_by_treatment"]
    assert res.inconsistency_df == want["df"]
    assert res.q_within_df == want["q_within_df"]
    for got, key in (
        (res.inconsistency_chi2, "chi2"),
        (res.inconsistency_p, "p_value"),
        (res.inconsistency_tau2, "tau2"),
        (res.q_within, "q_within"),
    ):
        assert _close(got, want[key]), (key, got, want[key])
    # Krahn et al. 2013: Q_total = Q_within + Q_between with additive degrees of freedom.
    assert math.isclose(res.q_total, res.q_within + res.q_between, rel_tol=1e-12)
    assert res.q_total_df == res.q_within_df + res.q_between_df
    if case["method"] == "FE":
        # Without τ² the Wald test of the design-by-treatment terms is Q_between.
        assert math.isclose(res.inconsistency_chi2, res.q_between, rel_tol=1e-9)


def test_p_scores_by_hand_from_metafor_coefficients(fitted):
    """P_i = (1/(T−1)) Σ_{j≠i} Φ((d_j − d_i)/se_ij), lower better (Rücker & Schwarzer 2015, eq. 2),
    computed here from metafor's coefficients and covariance (the reference's effect is 0)."""
    case, res = fitted
    b = np.concatenate([[0.0], case["expected"]["coefficients"]])
    c = np.zeros((len(b), len(b)))
    c[1:, 1:] = np.array(case["expected"]["vcov"])
    t = len(b)
    for i, name in enumerate(case["treatments"]):
        total = 0.0
        for j in range(t):
            if j != i:
                total += float(ndtr((b[j] - b[i]) / math.sqrt(c[i, i] + c[j, j] - 2 * c[i, j])))
        got = next(r for r in res.ranking if r.treatment == name)
        assert math.isclose(got.p_score, total / (t - 1), rel_tol=REL_TOL, abs_tol=ABS_TOL), name
    # 'higher is better' turns every probability round: P_higher = 1 − P_lower.
    higher = network_meta_analysis(
        load(case["input"], case["measure"]),
        reference=case["reference"],
        method=case["method"],
        better="higher",
        sucra_draws=0,
        node_splitting=False,
        inconsistency=False,
    )
    for lo, hi in zip(res.ranking, higher.ranking, strict=True):
        assert math.isclose(lo.p_score + hi.p_score, 1.0, rel_tol=1e-12)


def test_sucra_is_the_p_score_up_to_monte_carlo_error(fitted):
    """Under the normal sampling distribution SUCRA = (T − E[rank])/(T − 1) equals the P-score exactly
    (Rücker & Schwarzer 2015); the simulated value differs by Monte Carlo error only: 5 standard errors,
    the SE from each treatment's simulated rank distribution."""
    _, res = fitted
    t = len(res.treatments)
    for r in res.ranking:
        probs = np.array(r.rank_probabilities)
        assert math.isclose(probs.sum(), 1.0, rel_tol=1e-12)
        ranks = np.arange(1, t + 1)
        assert math.isclose(float(probs @ ranks), r.mean_rank, rel_tol=1e-12)
        sd_rank = math.sqrt(float(probs @ (ranks - r.mean_rank) ** 2))
        mc_se = sd_rank / (t - 1) / math.sqrt(res.sucra_draws)
        assert abs(r.sucra - r.p_score) <= 5 * mc_se + 1e-12, (r.treatment, r.sucra, r.p_score, mc_se)
    # Each rank is held by exactly one treatment in every draw.
    cols = np.array([r.rank_probabilities for r in res.ranking]).sum(axis=0)
    assert np.allclose(cols, 1.0, rtol=0, atol=1e-12)


def by_id(case_id: str) -> dict:
    return next(c for c in CASES if c["id"] == case_id)


def test_sucra_is_reproducible_with_its_seed():
    case = by_id("hasselblad1998_REML")
    a = fit_case(case, seed=7, sucra_draws=20_000, node_splitting=False)
    b = fit_case(case, seed=7, sucra_draws=20_000, node_splitting=False)
    c = fit_case(case, seed=8, sucra_draws=20_000, node_splitting=False)
    assert [r.sucra for r in a.ranking] == [r.sucra for r in b.ranking]
    assert [r.sucra for r in a.ranking] != [r.sucra for r in c.ranking]


def test_contrast_rows_give_the_arm_level_fit():
    """senn2013 as contrast rows (every pair of the three-arm study's arms, SE from the arms): the arm
    variances recovered by least squares are exact for three arms, so the fit is the same."""
    rows = read_rows("senn2013_contrasts.csv")
    data = network_from_contrasts(
        [r["study"] for r in rows],
        [r["treatment_1"] for r in rows],
        [r["treatment_2"] for r in rows],
        [float(r["estimate"]) for r in rows],
        [float(r["se"]) for r in rows],
        measure="MD",
    )
    case = next(c for c in CASES if c["id"] == "senn2013_REML")
    got = network_meta_analysis(data, reference="placebo", sucra_draws=0)
    arms = fit_case(case, sucra_draws=0)
    assert math.isclose(got.tau2, arms.tau2, rel_tol=1e-10)
    assert math.isclose(got.logLik, arms.logLik, rel_tol=1e-10)
    assert np.allclose(got.coefficients, arms.coefficients, rtol=1e-10, atol=1e-13)
    assert np.allclose(got.covariance, arms.covariance, rtol=1e-10, atol=1e-15)
    assert _close(got.tau2, case["expected"]["tau2"])


def test_four_arm_contrast_rows_give_the_arm_level_fit():
    """The simulated risk-ratio network as contrast rows (every pair; a four-arm and three-arm trials):
    least squares recovers the arm variances exactly, so the fit is the arm-level one (and metafor's)."""
    rows = read_rows("simulated_rr_contrasts.csv")
    data = network_from_contrasts(
        [r["study"] for r in rows],
        [r["treatment_1"] for r in rows],
        [r["treatment_2"] for r in rows],
        [float(r["log_estimate"]) for r in rows],
        [float(r["se"]) for r in rows],
        measure="RR",
    )
    assert max(len(s.arms) for s in data.studies) == 4
    case = by_id("simulated_rr_REML")
    got = network_meta_analysis(data, reference="A", sucra_draws=0, node_splitting=False)
    assert _close(got.tau2, case["expected"]["tau2"])
    assert np.allclose(got.coefficients, case["expected"]["coefficients"], rtol=REL_TOL, atol=ABS_TOL)
    assert _close(got.logLik, case["expected"]["logLik"])


def test_two_treatments_are_a_pairwise_meta_analysis():
    """With two treatments and two-arm studies the model is the usual random-effects model: REML τ² and
    the pooled log odds ratio equal trialsynth's pairwise pool (itself checked against metafor)."""
    from trialsynth.stats.effects import binary_effects
    from trialsynth.stats.meta import meta_analysis

    ev_t, n_t = [12, 30, 7, 45, 20], [100, 210, 60, 300, 150]
    ev_c, n_c = [20, 41, 9, 60, 18], [98, 205, 62, 310, 149]
    study, treatment, events, n = [], [], [], []
    for i in range(5):
        study += [f"s{i}", f"s{i}"]
        treatment += ["control", "drug"]
        events += [ev_c[i], ev_t[i]]
        n += [n_c[i], n_t[i]]
    net = network_meta_analysis(
        network_from_arms(study, treatment, measure="OR", events=events, n=n), reference="control"
    )
    eff = binary_effects(ev_t, n_t, ev_c, n_c, "OR")
    pair = meta_analysis(eff.yi, eff.vi, method="REML")
    assert math.isclose(net.tau2, pair.tau2, rel_tol=1e-7, abs_tol=1e-12)
    assert math.isclose(net.effects[0].estimate, pair.estimate, rel_tol=1e-7)
    assert math.isclose(net.effects[0].se, pair.se, rel_tol=1e-7)
    assert net.node_splits == ()  # no indirect evidence anywhere
    assert net.inconsistency_df == 0 and net.inconsistency_chi2 != net.inconsistency_chi2  # NaN: no test


def test_json_has_no_nan_and_the_documented_keys():
    res = fit_case(by_id("hasselblad1998_REML"))
    text = json.dumps(res.to_json_dict(), allow_nan=False)
    data = json.loads(text)
    for key in ("effects", "league_table", "tau2", "p_scores", "inconsistency", "ranking", "edges"):
        assert key in data
    assert {"estimate", "se", "ci_lower", "ci_upper"} <= set(data["effects"][0])
    fe = json.loads(json.dumps(fit_case(by_id("senn2013_FE")).to_json_dict(), allow_nan=False))
    assert fe["tau2"] is None


def test_baseline_order_does_not_change_the_fit():
    """The likelihood is invariant to which arm is a study's baseline and to the order of the rows."""
    case = next(c for c in CASES if c["id"] == "hasselblad1998_REML")
    rows = read_rows("hasselblad1998_arms.csv")[::-1]
    data = network_from_arms(
        [r["study"] for r in rows],
        [r["treatment"] for r in rows],
        measure="OR",
        events=[float(r["events"]) for r in rows],
        n=[float(r["n"]) for r in rows],
        to="all",
    )
    res = network_meta_analysis(data, reference="no_contact", sucra_draws=0)
    assert _close(res.tau2, case["expected"]["tau2"])
    assert np.allclose(res.coefficients, case["expected"]["coefficients"], rtol=REL_TOL, atol=ABS_TOL)


def test_other_reference_is_a_reparametrisation():
    case = next(c for c in CASES if c["id"] == "senn2013_REML")
    a = fit_case(case, sucra_draws=0, node_splitting=False)
    data = load(case["input"], "MD")
    b = network_meta_analysis(data, reference="metformin", sucra_draws=0, node_splitting=False)
    assert math.isclose(a.tau2, b.tau2, rel_tol=1e-9)
    for c in a.league:
        d = b.comparison(c.treatment_1, c.treatment_2)
        assert math.isclose(c.estimate, d.estimate, rel_tol=1e-8, abs_tol=1e-12)
        assert math.isclose(c.se, d.se, rel_tol=1e-8)


def test_multi_arm_covariance_is_the_shared_arm_variance():
    data = network_from_arms(
        ["s", "s", "s"],
        ["A", "B", "C"],
        measure="MD",
        mean=[1.0, 2.0, 4.0],
        sd=[2.0, 3.0, 1.0],
        n=[10.0, 20.0, 5.0],
    )
    (s,) = data.studies
    assert s.arms == ("A", "B", "C")
    assert np.allclose(s.y, [1.0, 3.0])
    assert np.allclose(s.v, [[0.4 + 0.45, 0.4], [0.4, 0.4 + 0.2]])


def test_zero_cells_are_corrected_per_study_with_a_warning():
    with pytest.warns(TrialsynthWarning, match="continuity correction"):
        data = network_from_arms(
            ["s", "s", "t", "t"], ["A", "B", "A", "B"], measure="OR", events=[0, 5, 3, 4], n=[20, 20, 30, 30]
        )
    assert data.corrected == ("s",)
    a = np.log(0.5 / 20.5)
    b = np.log(5.5 / 15.5)
    assert math.isclose(data.studies[0].y[0], b - a, rel_tol=1e-12)
    with pytest.warns(TrialsynthWarning, match="left out"):
        data = network_from_arms(
            ["s", "s", "t", "t"], ["A", "B", "A", "B"], measure="OR", events=[0, 0, 3, 4], n=[20, 20, 30, 30]
        )
    assert data.dropped == ("s",) and len(data.studies) == 1


@pytest.mark.parametrize(
    "build, words",
    [
        (
            lambda: network_from_arms(["s", "s"], ["A", "A"], measure="MD", mean=[1, 2], sd=[1, 1], n=[5, 5]),
            "more than one arm",
        ),
        (
            lambda: network_meta_analysis(
                network_from_arms(
                    ["s", "s", "t", "t"],
                    ["A", "B", "C", "D"],
                    measure="MD",
                    mean=[1, 2, 3, 4],
                    sd=[1] * 4,
                    n=[5] * 4,
                )
            ),
            "not connected",
        ),
        (
            lambda: network_from_contrasts(
                ["s", "s"], ["B", "C"], ["A", "A"], [1.0, 2.0], [0.5, 0.5], measure="MD"
            ),
            "every pair",
        ),
        (
            lambda: network_meta_analysis(
                network_from_arms(["s", "s"], ["A", "B"], measure="MD", mean=[1, 2], sd=[1, 1], n=[5, 5]),
                reference="Z",
            ),
            "reference treatment 'Z'",
        ),
        (
            lambda: network_from_arms(["s", "s"], ["A", "B"], measure="HR", mean=[1, 2], sd=[1, 1], n=[5, 5]),
            "measure 'HR'",
        ),
    ],
)
def test_input_errors_are_one_clear_line(build, words):
    with pytest.raises(InputError, match=words) as info:
        build()
    assert "\n" not in str(info.value)


def test_speed_two_hundred_contrasts_under_a_second():
    """A simulated network of 10 treatments, 200 contrasts (including three-arm trials): the full fit
    (τ² by REML, league table, P-scores) under 1 s; node-splitting and the inconsistency model refit the
    model once per split, each under 1 s (the issue's bound is per fit)."""
    rng = np.random.default_rng(1)
    names = [f"T{i}" for i in range(10)]
    effects = rng.normal(0, 0.5, 10)
    study, treatment, mean, sd, n = [], [], [], [], []
    contrasts = 0
    s = 0
    while contrasts < 200:
        arms = rng.choice(10, size=3 if s % 5 == 0 else 2, replace=False)
        u = rng.normal(0, 0.3)
        for a in arms:
            study.append(f"s{s}")
            treatment.append(names[a])
            mean.append(effects[a] + u * (a != arms[0]) + rng.normal(0, 0.1))
            sd.append(1.0)
            n.append(float(rng.integers(20, 200)))
        contrasts += len(arms) - 1
        s += 1
    data = network_from_arms(study, treatment, measure="MD", mean=mean, sd=sd, n=n)
    start = time.perf_counter()
    res = network_meta_analysis(data, reference="T0", node_splitting=False, inconsistency=False)
    assert time.perf_counter() - start < 1.0
    assert res.n_contrasts == contrasts and res.converged
    start = time.perf_counter()
    full = network_meta_analysis(data, reference="T0", sucra_draws=0)
    per_fit = (time.perf_counter() - start) / (len(full.node_splits) + 2)
    assert per_fit < 1.0


# ---------------------------------------------------------------------------------------------------
# The fixtures are R's: re-run the script live
# ---------------------------------------------------------------------------------------------------
@pytest.mark.against_R
def test_live_network_fixtures_against_R(tmp_path):
    run_r_script(SCRIPT, tmp_path)
    fresh = json.loads((tmp_path / "cases.json").read_text(encoding="utf-8"))
    assert [c["id"] for c in fresh["cases"]] == [c["id"] for c in CASES]

    def compare(a, b, path):
        if isinstance(a, dict):
            assert set(a) == set(b), path
            for k in a:
                compare(a[k], b[k], f"{path}.{k}")
        elif isinstance(a, list):
            assert len(a) == len(b), path
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                compare(x, y, f"{path}[{i}]")
        elif isinstance(a, float):
            assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (path, a, b)
        else:
            assert a == b, path

    compare(fresh["cases"], CASES, "cases")
    compare(fresh["documented"], PINNED["documented"], "documented")
    for name in sorted(p.name for p in (FIXTURES / "data").iterdir()):
        assert (tmp_path / "data" / name).read_bytes() == (FIXTURES / "data" / name).read_bytes(), name


def test_fixtures_are_well_formed():
    assert PINNED["generated_by"] == "validation/network_fixtures.R"
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)) == 9
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for c in CASES:
            assert c["expected"]["design_by_treatment"]["df"] > 0
            assert c["expected"]["node_splits"]


def test_two_arm_contrasts_are_the_pairwise_effect_sizes():
    """Each measure's two-arm contrast is trialsynth.stats.effects' (itself checked against escalc)."""
    from trialsynth.stats.effects import binary_effects, continuous_effects

    for measure in ("OR", "RR"):
        with pytest.warns(TrialsynthWarning, match="continuity correction"):
            data = network_from_arms(
                ["s", "s", "t", "t"],
                ["C", "T", "C", "T"],
                measure=measure,
                events=[0, 4, 5, 9],
                n=[30, 31, 40, 42],
            )
        want = binary_effects([4, 9], [31, 42], [0, 5], [30, 40], measure)
        assert np.allclose([s.y[0] for s in data.studies], want.yi, rtol=1e-12)
        assert np.allclose([s.v[0, 0] for s in data.studies], want.vi, rtol=1e-12)
    for measure in ("MD", "SMD"):
        data = network_from_arms(
            ["s", "s"], ["C", "T"], measure=measure, mean=[5.0, 3.5], sd=[2.0, 2.5], n=[25, 27]
        )
        want = continuous_effects(3.5, 2.5, 27, 5.0, 2.0, 25, measure)
        assert math.isclose(data.studies[0].y[0], float(want.yi), rel_tol=1e-12)
        assert math.isclose(data.studies[0].v[0, 0], float(want.vi), rel_tol=1e-12)


def test_smd_multi_arm_covariance_by_hand():
    """Cov(g_1, g_2) = 1/n_b + g_1 g_2 / (2N) (Gleser & Olkin 2009, eq. 19.19), N the study's size."""
    from trialsynth.stats.effects import continuous_effects

    data = network_from_arms(
        ["s"] * 3, ["A", "B", "C"], measure="SMD", mean=[5.0, 4.0, 3.0], sd=[2.0, 2.2, 1.8], n=[20, 22, 24]
    )
    (s,) = data.studies
    g = continuous_effects([4.0, 3.0], [2.2, 1.8], [22, 24], 5.0, 2.0, 20, "SMD")
    assert np.allclose(s.y, g.yi, rtol=1e-12)
    assert np.allclose(np.diag(s.v), g.vi, rtol=1e-12)
    assert math.isclose(s.v[0, 1], 1 / 20 + g.yi[0] * g.yi[1] / (2 * 66), rel_tol=1e-12)


def test_homogeneous_network_has_tau2_zero_and_is_the_fixed_effect_fit():
    """Where the REML score is negative at τ² = 0 the estimate is 0 exactly and the fit is the FE one."""
    study = ["a", "a", "b", "b", "c", "c", "d", "d"]
    treatment = ["A", "B", "A", "C", "B", "C", "A", "B"]
    mean = [0.0, 1.0, 0.0, 2.0, 1.0, 2.0, 0.0, 1.0]
    data = network_from_arms(study, treatment, measure="MD", mean=mean, sd=[1.0] * 8, n=[50.0] * 8)
    re = network_meta_analysis(data, sucra_draws=0)
    fe = network_meta_analysis(data, method="FE", sucra_draws=0)
    assert re.tau2 == 0.0 and re.converged
    assert np.allclose(re.coefficients, fe.coefficients, rtol=1e-12)
    assert np.allclose(re.coefficients, [1.0, 2.0], rtol=1e-12)
    assert re.q_total == pytest.approx(0.0, abs=1e-20)


@pytest.mark.parametrize("sd, n", [(0.0, 20.0), (1.0, 0.0)])
def test_zero_variance_arm_is_an_input_error(sd, n):
    with pytest.raises(InputError, match=r"study 's'.*positive variances"):
        network_from_arms(["s", "s"], ["A", "B"], measure="MD", mean=[1.0, 2.0], sd=[sd, sd], n=[n, n])


@pytest.mark.parametrize("case_id", ["senn2013_REML", "hasselblad1998_ML", "simulated_rr_REML"])
def test_tau2_is_the_global_maximum_of_the_likelihood(case_id):
    """No τ² on a dense grid over [0, 50 τ̂] has a higher (restricted) log-likelihood than τ̂."""
    from trialsynth.stats.network import _Blocks, _design_rows, _ordered

    case = by_id(case_id)
    res = fit_case(case, sucra_draws=0, node_splitting=False, inconsistency=False)
    order = res.treatments
    columns = {t: i for i, t in enumerate(order[1:])}
    studies = [_ordered(s, order) for s in load(case["input"], case["measure"]).studies]
    blocks = _Blocks(
        [s.y for s in studies],
        [s.v for s in studies],
        [_design_rows(s.arms, columns, len(columns)) for s in studies],
    )
    best = blocks.fit(res.tau2, case["method"])["ll"]
    assert math.isclose(best, res.logLik, rel_tol=1e-14)
    grid = np.linspace(0.0, 50 * res.tau2, 2001)
    lls = blocks.loglik_grid(grid, case["method"])
    assert lls.max() <= best + 1e-12
    # The batched grid evaluation is the single-τ² one.
    for t in grid[::400]:
        assert math.isclose(
            blocks.loglik_grid(np.array([t]), case["method"])[0],
            blocks.fit(t, case["method"])["ll"],
            rel_tol=1e-12,
        )
    # The score (derivative of the log-likelihood) is zero at the estimate.
    assert abs(blocks.score(res.tau2, case["method"])) < 1e-8 * abs(
        blocks.score(res.tau2 / 2, case["method"])
    )


def test_result_arrays_are_read_only():
    res = fit_case(by_id("senn2013_FE"), sucra_draws=0, node_splitting=False)
    with pytest.raises(ValueError):
        res.coefficients[0] = 1.0


@pytest.mark.parametrize("name", ["senn2013", "hasselblad1998"])
def test_matches_metafors_documented_construction(name):
    """The metafor documentation builds these networks with to.wide(), escalc() and contrmat() against a
    reference arm (validation/network_fixtures.R fits that construction too): the same τ² and effects.
    (Its REML log-likelihood differs by the constant ½ log|XᵀX|, which depends on the studies' baselines.)"""
    doc = PINNED["documented"][name]
    res = fit_case(by_id(f"{name}_REML"), sucra_draws=0, node_splitting=False, inconsistency=False)
    assert _close(res.tau2, doc["tau2"])
    got = {e.treatment: e.estimate for e in res.effects}
    for treatment, b in zip(doc["treatments"], doc["coefficients"], strict=True):
        assert _close(got[treatment], b), treatment


def test_tau2_far_above_the_sampling_variances_is_found():
    """Huge trials (tiny sampling variances) with widely spread results: τ² is ~10⁵ times the typical
    sampling variance; the search range reaches it (it spans the contrasts' spread) and the score is 0."""
    from trialsynth.stats.network import _Blocks, _design_rows

    rng = np.random.default_rng(3)
    study, treatment, mean = [], [], []
    for i in range(12):
        a, b = ("A", "B") if i % 3 == 0 else (("A", "C") if i % 3 == 1 else ("B", "C"))
        study += [f"s{i}", f"s{i}"]
        treatment += [a, b]
        mean += [0.0, {"B": 1.0, "C": 2.0}[b] - {"A": 0.0, "B": 1.0}[a] + rng.normal(0, 1.0)]
    data = network_from_arms(study, treatment, measure="MD", mean=mean, sd=[1.0] * 24, n=[1e6] * 24)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrialsynthWarning)
        res = network_meta_analysis(data, sucra_draws=0, node_splitting=False, inconsistency=False)
    assert res.converged and res.tau2 > 1e4 * 2e-6
    columns = {"B": 0, "C": 1}
    blocks = _Blocks(
        [s.y for s in data.studies],
        [s.v for s in data.studies],
        [_design_rows(s.arms, columns, 2) for s in data.studies],
    )
    assert abs(blocks.score(res.tau2, "REML")) < 1e-8 * abs(blocks.score(res.tau2 / 2, "REML"))
