"""The batch engine (trialsynth.stats.batch) against one-at-a-time fits and against R's metafor.

* One at a time: every τ² estimator, with and without Hartung–Knapp, on stacks with unequal
  numbers of studies; the compiled kernel must give exactly the bits of the single fit
  (``api.meta_analysis``), because it repeats the numpy engine's operations in numpy's summation
  order (see trialsynth.stats._batch_kernel). Tolerance 0 (EXACT); the Q-profile τ² interval, which
  the numpy engine computes over the padded stack, is held to TAU2_CI_REL_TOL.
* metafor: the pinned fixtures of tests/fixtures/metafor (validation/metafor_fixtures.R), whose
  per-study yi and vi are stacked into one batch per model and fitted at once, compared with
  metafor's results at the tolerances of tests/test_against_metafor.py (1e-6 relative).
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict

import numpy as np
import pytest

from tests.stats.test_against_metafor import CASES, SCALAR_KEYS, _compare_value
from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth.stats.batch import _KERNEL_FIELDS, BatchFit, compiled_available, fit_batch
from trialsynth.stats.meta import meta_analysis

METHODS = ("FE", "DL", "REML", "ML", "PM", "EB", "HE", "SJ", "HS")
ENGINES = [
    "numpy",
    pytest.param("compiled", marks=pytest.mark.skipif(not compiled_available(), reason="numba")),
]
# The τ² interval is found by the numpy engine on the padded stack: its sums include the padding's
# zeros, which regroups the additions; the root of the Q-profile equation moves by ~1e-15 relative
# (measured ≤ 3e-15 here); 1e-12 leaves room without hiding a real difference.
TAU2_CI_REL_TOL = 1e-12

needs_numba = pytest.mark.skipif(not compiled_available(), reason="the compiled engine needs numba")


def _stack(n=400, kmax=11, seed=20261130):
    """Random meta-analyses with 1..kmax studies, heterogeneity from none to large."""
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.005, 0.6, (n, kmax))
    tau2 = rng.choice([0.0, 0.01, 0.1, 0.8], size=(n, 1))
    yi = rng.normal(0.2, np.sqrt(vi + tau2))
    k = rng.integers(1, kmax + 1, size=n)
    mask = np.arange(kmax) < k[:, None]
    # studies scattered, not only leading: shuffle each row's mask
    mask = np.take_along_axis(mask, rng.permuted(np.tile(np.arange(kmax), (n, 1)), axis=1), axis=1)
    yi = np.where(mask, yi, np.nan)
    vi = np.where(mask, vi, np.nan)
    return yi, vi, mask


FIELDS = (*_KERNEL_FIELDS, "converged")
#: Tail probabilities: the single fit computes normal and χ² tails of a few values in plain Python
#: (trialsynth._core.dist, so that a small `pool` loads no scipy), the compiled batch through
#: scipy.special; the two agree to 1e-12 relative (tests/_core/test_dist.py), not bit for bit.
#: Everything else (estimates, SEs, τ², CIs, weights) must be identical.
TAIL_FIELDS = ("p_value", "q_p_value")
TAIL_REL = 1e-12


@needs_numba
@pytest.mark.parametrize("hk", [False, True])
@pytest.mark.parametrize("method", METHODS)
def test_compiled_batch_equals_one_at_a_time(method, hk):
    yi, vi, mask = _stack()
    fit = fit_batch(yi, vi, mask, method=method, hk=hk, weights=True, tau2_ci=True, engine="compiled")
    assert fit.engine == "compiled"
    for i in range(yi.shape[0]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TrialsynthWarning)  # k = 1, k = 2 with HK: expected
            one = meta_analysis(yi[i][mask[i]], vi[i][mask[i]], method=method, hk=hk)
        k = int(mask[i].sum())
        for name in FIELDS:
            got = getattr(fit, name)[i].item()
            want = getattr(one, name)
            if name == "df" and not (hk and k >= 2):
                want = math.nan if want is None else want
            if name in TAIL_FIELDS:  # see TAIL_REL
                assert math.isclose(got, want, rel_tol=TAIL_REL) or (math.isnan(got) and math.isnan(want))
                continue
            assert got == want or (math.isnan(got) and math.isnan(want)), (i, k, name, got, want)
        weights = fit.weights[i][mask[i]]
        assert np.array_equal(weights, [s.weight for s in one.studies]), i
        assert np.isnan(fit.weights[i][~mask[i]]).all()
        if k >= 2 and method != "FE":
            for name in ("tau2_ci_lower", "tau2_ci_upper"):
                got, want = getattr(fit, name)[i], getattr(one, name)
                assert math.isclose(got, want, rel_tol=TAU2_CI_REL_TOL, abs_tol=1e-300), (
                    i,
                    name,
                    got,
                    want,
                )


@needs_numba
def test_batch_shape_and_iterations():
    yi, vi, mask = _stack(n=60)
    flat = fit_batch(yi, vi, mask, method="REML", hk=True)
    cube = fit_batch(yi.reshape(3, 4, 5, -1), vi.reshape(3, 4, 5, -1), mask.reshape(3, 4, 5, -1), hk=True)
    assert cube.estimate.shape == (3, 4, 5)
    np.testing.assert_array_equal(cube.estimate.ravel(), flat.estimate)
    np.testing.assert_array_equal(cube.iterations.ravel(), flat.iterations)
    # one row alone gives the same bits as inside a stack (no dependence on the neighbours or threads)
    alone = fit_batch(yi[17:18], vi[17:18], mask[17:18], hk=True)
    assert alone.estimate[0] == flat.estimate[17] and alone.se[0] == flat.se[17]
    assert flat.converged.all()
    assert (flat.iterations[flat.tau2 > 0] >= 1).all()
    assert (flat.iterations[flat.tau2 == 0] == 0).all()


def _fixture_batches():
    """Inverse-variance fixture cases grouped by model options, each group one batch."""
    groups = defaultdict(list)
    for case in CASES:
        if case["method"] in ("MH", "PETO"):
            continue
        key = (case["method"], case["hk"], case["hk_variant"] or "knha", case["level"])
        groups[key].append(case)
    return sorted(groups.items())


BATCHES = _fixture_batches()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("options", "cases"), BATCHES, ids=["-".join(map(str, key)) for key, _ in BATCHES])
def test_batch_matches_metafor_fixtures(options, cases, engine):
    method, hk, variant, level = options
    kmax = max(len(c["expected"]["studies"]) for c in cases)
    yi = np.full((len(cases), kmax), np.nan)
    vi = np.full((len(cases), kmax), np.nan)
    for i, case in enumerate(cases):
        studies = case["expected"]["studies"]
        yi[i, : len(studies)] = [s["effect"] for s in studies]
        vi[i, : len(studies)] = [s["variance"] for s in studies]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        fit = fit_batch(
            yi,
            vi,
            method=method,
            hk=hk,
            hk_variant=variant,
            level=level,
            weights=True,
            tau2_ci=True,
            engine=engine,
        )
    problems = []
    for i, case in enumerate(cases):
        want = case["expected"]
        for key in SCALAR_KEYS:
            got = getattr(fit, key)[i].item()
            if isinstance(got, float) and math.isnan(got):
                got = None
            if key == "k":
                got = int(got)
            problems += [f"{case['id']}: {p}" for p in _compare_value(key, got, want[key])]
        for j, s in enumerate(want["studies"]):
            problems += [
                f"{case['id']}: {p}" for p in _compare_value("weight", fit.weights[i, j].item(), s["weight"])
            ]
    assert not problems, "\n".join(problems)


def test_numpy_engine_without_numba_returns_the_same_fields():
    yi, vi, mask = _stack(n=30)
    fit = fit_batch(yi, vi, mask, method="DL", hk=True, engine="numpy")
    assert isinstance(fit, BatchFit) and fit.engine == "numpy"
    assert set(FIELDS) | {"iterations"} <= set(fit.arrays())
    assert fit.weights is None and fit.tau2_ci_lower is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"yi": np.zeros((2, 3)), "vi": np.ones((2, 4))}, "same shape"),
        ({"yi": np.zeros((2, 3)), "vi": np.ones((2, 3)), "mask": np.ones((2, 3))}, "boolean"),
        ({"yi": np.zeros((1, 3)), "vi": np.array([[1.0, 0.0, 1.0]])}, "positive"),
        (
            {"yi": np.array([[0.0, np.nan]]), "vi": np.ones((1, 2)), "mask": np.ones((1, 2), bool)},
            "not finite",
        ),
        ({"yi": np.zeros((1, 3)), "vi": np.ones((1, 3)), "method": "XX"}, "unknown method"),
        ({"yi": np.zeros((1, 3)), "vi": np.ones((1, 3)), "engine": "gpu"}, "unknown engine"),
    ],
)
def test_batch_input_errors(kwargs, message):
    with pytest.raises(InputError, match=message):
        fit_batch(**kwargs)


@pytest.mark.parametrize("engine", ENGINES)
def test_one_study_rows_are_reported_as_the_single_fit(engine):
    """A row with one study: its own estimate with a z interval, as api.meta_analysis shows it."""
    yi = np.array([[0.3, np.nan, np.nan], [0.3, -0.1, 0.5]])
    vi = np.array([[0.04, np.nan, np.nan], [0.04, 0.09, 0.02]])
    fit = fit_batch(yi, vi, method="REML", hk=True, engine=engine)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        one = meta_analysis([0.3], [0.04], method="REML", hk=True)
    assert fit.k[0] == 1 and math.isnan(fit.df[0])
    # metafor's rma with k = 1: tau2 = 0, I2 = 0, H2 = 1, Q = 0 with p = 1 (as the single fit)
    assert (fit.tau2[0], fit.i2[0], fit.h2[0], fit.q[0], fit.q_p_value[0]) == (0.0, 0.0, 1.0, 0.0, 1.0)
    assert (one.tau2, one.i2, one.h2, one.q, one.q_p_value) == (0.0, 0.0, 1.0, 0.0, 1.0)
    assert fit.estimate[0] == one.estimate == 0.3
    assert fit.se[0] == one.se == 0.2
    assert fit.ci_lower[0] == one.ci_lower and fit.ci_upper[0] == one.ci_upper
    assert fit.df[1] == 2.0  # the other row keeps Hartung–Knapp
