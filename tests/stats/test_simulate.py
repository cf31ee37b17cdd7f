"""Simulation studies (trialsynth.stats.simulate, ``trialsynth simulate``).

What is checked, and against what:

* the replication streams are the documented ones: data rebuilt here from numpy's
  ``SeedSequence(seed, spawn_key=(scenario, replication))`` by the recipe of docs/simulate.md;
* the summaries are the textbook formulas (Morris, White & Crowther, Stat Med 2019, Table 6),
  recomputed here with :func:`math.fsum` from one-at-a-time fits (``api.meta_analysis``);
* theory: with τ² = 0 and known variances the fixed-effect estimate is N(θ, 1/Σwᵢ), so its bias is
  0, its MSE is 1/Σwᵢ and its z interval covers with probability 0.95 exactly; the simulated values
  must lie within Z_MC Monte Carlo standard errors of these;
* identical results (every bit) whatever the chunk size, with local worker processes, and on a
  Dask ``LocalCluster`` of two worker processes on 127.0.0.1.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth.cli import main
from trialsynth.stats.meta import meta_analysis
from trialsynth.stats.simulate import COLUMNS, generate, load_spec, run_simulation, spec_from_dict

# Monte Carlo tolerance: |simulated − theory| ≤ Z_MC · MCSE. With three quantities checked on a fixed
# seed, 4 standard errors make a false alarm from chance alone improbable (two-sided p ≈ 6e-5 each),
# while a wrong formula (e.g. a t instead of a z interval, or a variance off by a factor) is
# many standard errors away at 4000 replications.
Z_MC = 4.0
# Summaries recomputed here divide math.fsum's correctly rounded sum by n (two roundings); ours
# divides the exact sum once: they may differ in the last bit.
SUMMARY_REL_TOL = 4e-16

SPEC = {
    "seed": 20261130,
    "replications": 40,
    "chunk_size": 16,
    "estimator": [{"method": "REML", "hk": True}, {"method": "DL"}, {"method": "FE"}],
    "scenario": [
        {
            "name": "normal",
            "data": "normal",
            "k": [3, 6],
            "tau2": 0.04,
            "effect": 0.25,
            "vi": {"distribution": "uniform", "low": 0.02, "high": 0.3},
        },
        {
            "name": "binary",
            "data": "binary",
            "k": 5,
            "tau2": 0.1,
            "effect": -0.4,
            "control_risk": {"distribution": "uniform", "low": 0.01, "high": 0.15},
            "n_per_arm": {"distribution": "integers", "low": 10, "high": 60},
        },
    ],
}


SPEC_TOML = """
seed = 20261130
replications = 40
chunk_size = 16

[[estimator]]
method = "REML"
hk = true

[[estimator]]
method = "DL"

[[estimator]]
method = "FE"

[[scenario]]
name = "normal"
data = "normal"
k = [3, 6]
tau2 = 0.04
effect = 0.25
vi = { distribution = "uniform", low = 0.02, high = 0.3 }

[[scenario]]
name = "binary"
data = "binary"
k = 5
tau2 = 0.1
effect = -0.4
control_risk = { distribution = "uniform", low = 0.01, high = 0.15 }
n_per_arm = { distribution = "integers", low = 10, high = 60 }
"""


def test_toml_spec_reads_as_the_dict(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text(SPEC_TOML, encoding="utf-8")
    spec = load_spec(path)
    assert spec == replace(spec_from_dict(SPEC), source=str(path))
    assert [s.name for s in spec.scenarios] == [
        "normal (k=3, tau2=0.04, effect=0.25)",
        "normal (k=6, tau2=0.04, effect=0.25)",
        "binary",
    ]


def test_streams_are_the_documented_seedsequence_recipe():
    spec = spec_from_dict(SPEC)
    yi, vi, mask = generate(spec, 1, 5, 9)  # scenario 1: normal with k = 6
    for row, r in enumerate(range(5, 9)):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(20261130, spawn_key=(1, r))))
        v = rng.uniform(0.02, 0.3, 6)
        z = rng.standard_normal(12)
        np.testing.assert_array_equal(vi[row], v)
        np.testing.assert_array_equal(yi[row], 0.25 + math.sqrt(0.04) * z[:6] + np.sqrt(v) * z[6:])
    assert mask.all()
    # binary: counts from the documented draws, log OR with 0.5 added to tables with a zero cell
    yi, vi, mask = generate(spec, 2, 0, 3)
    for r in range(3):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(20261130, spawn_key=(2, r))))
        p0 = rng.uniform(0.01, 0.15, 5)
        n = rng.integers(10, 60, 5, endpoint=True)
        theta = -0.4 + math.sqrt(0.1) * rng.standard_normal(5)
        p1 = 1 / (1 + np.exp(-(np.log(p0 / (1 - p0)) + theta)))
        a, c = rng.binomial(n, p1), rng.binomial(n, p0)
        for j in range(5):
            # Double-zero tables too: kept with 0.5 added to each cell (metafor's rma, drop00 = FALSE).
            cells = np.array([a[j], n[j] - a[j], c[j], n[j] - c[j]], dtype=float)
            if (cells == 0).any():
                cells += 0.5
            assert mask[r, j]
            assert math.isclose(
                yi[r, j], math.log(cells[0] * cells[3] / (cells[1] * cells[2])), rel_tol=1e-15
            )
            assert math.isclose(vi[r, j], (1 / cells).sum(), rel_tol=1e-15)


@pytest.mark.parametrize("double_zero", [None, "keep", "drop"])
def test_binary_double_zero_tables_follow_the_scenario(double_zero):
    # Control risk 0.002 and 10 per arm: most tables have no events in either arm. Kept (the
    # default, as metafor's rma: drop00 = FALSE) each is log((0.5·10.5)/(10.5·0.5)) = 0 with
    # variance 1/0.5 + 1/10.5 + 1/0.5 + 1/10.5 (hand algebra); "drop" (RevMan 5) leaves them out
    # of the mask.
    raw = {
        "seed": 7,
        "replications": 4,
        "estimator": [{"method": "FE"}],
        "scenario": [
            {
                "data": "binary", "k": 6, "tau2": 0, "effect": 0,
                "control_risk": 0.002, "n_per_arm": 10,
                **({"double_zero": double_zero} if double_zero else {}),
            }
        ],
    }  # fmt: skip
    spec = spec_from_dict(raw)
    assert spec.scenarios[0].double_zero == (double_zero or "keep")
    yi, vi, mask = generate(spec, 0, 0, 4)
    double = np.zeros_like(mask)
    for r in range(4):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(7, spawn_key=(0, r))))
        theta = 0.0 + 0.0 * rng.standard_normal(6)
        p1 = 1 / (1 + np.exp(-(np.log(0.002 / 0.998) + theta)))
        a, c = rng.binomial(np.full(6, 10), p1), rng.binomial(np.full(6, 10), 0.002)
        double[r] = (a == 0) & (c == 0)
    assert double.sum() >= 10  # the scenario does make double zeros
    if double_zero == "drop":
        assert not mask[double].any()
    else:
        assert mask[double].all()
        np.testing.assert_allclose(yi[double], 0.0, atol=1e-15)
        np.testing.assert_allclose(vi[double], 2 / 0.5 + 2 / 10.5, rtol=1e-15)
    with pytest.raises(InputError, match="double_zero must be 'keep' or 'drop'"):
        spec_from_dict({**raw, "scenario": [{**raw["scenario"][0], "double_zero": "maybe"}]})


def _by_hand(spec, s, label):
    """bias, MSE, coverage, CI width and the MCSEs from single fits, by Morris et al. (2019) Table 6."""
    sc = spec.scenarios[s]
    est = next(e for e in spec.estimators if e.label == label)
    yi, vi, mask = generate(spec, s, 0, spec.replications)
    errs, covered, widths, tau_errs = [], 0, [], []
    for i in range(spec.replications):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TrialsynthWarning)
            fit = meta_analysis(yi[i][mask[i]], vi[i][mask[i]], method=est.method, hk=est.hk)
        errs.append(fit.estimate - sc.effect)
        covered += fit.ci_lower <= sc.effect <= fit.ci_upper
        widths.append(fit.ci_upper - fit.ci_lower)
        if est.method != "FE":
            tau_errs.append(fit.tau2 - sc.tau2)
    n = len(errs)
    bias = math.fsum(errs) / n
    mse = math.fsum(e * e for e in errs) / n
    out = {
        "bias": bias,
        "bias_mcse": math.sqrt(math.fsum((e - bias) ** 2 for e in errs) / (n * (n - 1))),
        "mse": mse,
        "mse_mcse": math.sqrt(math.fsum((e * e - mse) ** 2 for e in errs) / (n * (n - 1))),
        "coverage": covered / n,
        "coverage_mcse": math.sqrt((covered / n) * (1 - covered / n) / n),
        "ci_width": math.fsum(widths) / n,
    }
    if tau_errs:
        out["tau2_bias"] = math.fsum(tau_errs) / n
        out["tau2_mse"] = math.fsum(t * t for t in tau_errs) / n
    return out


def test_summaries_are_the_textbook_formulas_over_single_fits():
    spec = spec_from_dict(SPEC)
    result = run_simulation(spec)
    assert [tuple(r) for r in result.rows] == [COLUMNS] * len(result.rows)
    assert len(result.rows) == 3 * 3
    for row in result.rows:
        s = [sc.name for sc in spec.scenarios].index(row["scenario"])
        want = _by_hand(spec, s, row["estimator"])
        assert row["replications"] == row["estimable"] == row["converged"] == 40
        for key, value in want.items():
            # MCSEs: the hand versions subtract the rounded mean; 1e-12 covers that rounding.
            tol = 1e-12 if key.endswith("mcse") else SUMMARY_REL_TOL
            assert math.isclose(row[key], value, rel_tol=tol, abs_tol=1e-300), (
                row["scenario"],
                row["estimator"],
                key,
            )
        if row["method"] == "FE":
            assert math.isnan(row["tau2_bias"]) and math.isnan(row["tau2_mse"])


def test_fixed_effect_with_known_variances_matches_theory():
    vi = 0.1
    k = 5
    spec = spec_from_dict(
        {
            "seed": 11,
            "replications": 4000,
            "chunk_size": 4000,
            "estimator": [{"method": "FE"}],
            "scenario": [{"name": "theory", "k": k, "tau2": 0.0, "effect": 0.3, "vi": vi}],
        }
    )
    (row,) = run_simulation(spec).rows
    var = vi / k  # 1/Σw with w = 1/vi
    assert abs(row["bias"]) <= Z_MC * row["bias_mcse"]
    assert abs(row["mse"] - var) <= Z_MC * row["mse_mcse"]
    assert abs(row["coverage"] - 0.95) <= Z_MC * math.sqrt(0.95 * 0.05 / 4000)
    # every CI has the same width 2·z·√(vi/k)
    assert math.isclose(row["ci_width"], 2 * 1.959963984540054 * math.sqrt(var), rel_tol=1e-14)


def test_identical_whatever_the_chunking_and_process_workers():
    spec = spec_from_dict(SPEC)
    base = run_simulation(spec).rows
    assert run_simulation(spec, chunk_size=7).rows == base
    assert run_simulation(spec, chunk_size=1000).rows == base
    assert run_simulation(spec, chunk_size=9, workers=2).rows == base


def test_identical_on_a_dask_localcluster_of_two_worker_processes(tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = spec_from_dict(SPEC)
    base = run_simulation(spec).rows
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        assert len(client.scheduler_info()["workers"]) == 2
        rows = run_simulation(spec, client=client, chunk_size=11).rows
        assert cluster.scheduler.address.startswith("tcp://127.0.0.1:")
        # the command line, sent to the same cluster by its address
        spec_file = tmp_path / "study.toml"
        spec_file.write_text(SPEC_TOML, encoding="utf-8")
        args = ["simulate", str(spec_file), "--scheduler", cluster.scheduler.address, "--chunk-size", "13"]
        res = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out"), "--no-plot", "--no-progress"])
        assert res.exit_code == 0, res.output
    assert rows == base
    written = json.loads((tmp_path / "out" / "simulation.json").read_text(encoding="utf-8"))["results"]
    assert written == [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in base
    ]


def test_cli_writes_table_json_and_plot(tmp_path):
    spec_file = tmp_path / "study.toml"
    spec_file.write_text(
        """seed = 3
replications = 30
chunk_size = 8

[[estimator]]
method = "REML"
hk = true

[[estimator]]
method = "PM"

[[scenario]]
name = "small"
k = 4
tau2 = 0.1
effect = 0.0
vi = { distribution = "chi2", df = 3, scale = 0.1 }
""",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    res = CliRunner().invoke(
        main, ["simulate", str(spec_file), "--out", str(out), "--workers", "1", "--no-progress"]
    )
    assert res.exit_code == 0, res.output
    assert "REML+HK" in res.output and "PM" in res.output
    for name in ("simulation.csv", "simulation.json", "simulation.svg", "simulation.png", "simulation.pdf"):
        assert (out / name).is_file(), name
    lines = (out / "simulation.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].split(",") == list(COLUMNS) and len(lines) == 3


def test_cli_progress_without_deprecated_click_api(tmp_path):
    """--progress (the default) used click.get_text_stream, which click deprecates (8.5 here;
    removed in click 9): every run warned, and failed under -W error (found by mypy: the module
    attribute is typed ``object``). The bar itself (rich, on a terminal only) is tested in
    tests/cli/test_progress.py; here stderr is not a terminal, so nothing is drawn."""
    spec_file = tmp_path / "study.toml"
    spec_file.write_text(
        """seed = 1
replications = 4

[[estimator]]
method = "DL"

[[scenario]]
name = "tiny"
k = 3
tau2 = 0.1
effect = 0.0
vi = { distribution = "chi2", df = 3, scale = 0.1 }
""",
        encoding="utf-8",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        res = CliRunner().invoke(
            main, ["simulate", str(spec_file), "--out", str(tmp_path / "out"), "--workers", "1", "--no-plot"]
        )
    assert res.exit_code == 0, (res.output, res.exception)
    assert "replications" not in res.stdout and "Deprecat" not in res.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"replications": 0}, "replications must be positive"),
        ({"colour": 1}, "unknown key"),
        ({"estimator": [{"method": "XYZ"}]}, "method must be one of"),
        ({"estimator": [{"method": "DL"}, {"method": "dl"}]}, "distinct"),
        ({"scenario": [{"k": 3, "tau2": 0.1, "effect": 0}]}, "normal data take 'vi'"),
        ({"scenario": [{"k": 3, "tau2": -1, "effect": 0, "vi": 0.1}]}, "tau2 must not be negative"),
        (
            {"scenario": [{"k": 3, "tau2": 0, "effect": 0, "vi": {"distribution": "uniform", "low": 0}}]},
            "takes high, low",
        ),
        ({"scenario": [{"k": 3, "tau2": 0, "effect": 0, "vi": -0.1}]}, "values must lie"),
        (
            {
                "scenario": [
                    {"data": "binary", "k": 3, "tau2": 0, "effect": 0, "control_risk": 1.5, "n_per_arm": 10}
                ]
            },
            "values must lie",
        ),
        ({"scenario": [{"data": "counts", "k": 3, "tau2": 0, "effect": 0}]}, "data must be one of"),
    ],
)
def test_spec_errors_are_input_errors(change, message):
    with pytest.raises(InputError, match=message):
        spec_from_dict({**SPEC, **change}, file="study.toml")


def test_cli_bad_spec_exits_2(tmp_path):
    spec_file = tmp_path / "bad.toml"
    spec_file.write_text("seed = 1\nreplications = 'many'\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["simulate", str(spec_file), "--no-progress"])
    assert res.exit_code == 2
    assert "bad.toml: 'scenario' is required" in res.output


def test_simulation_plot_draws_the_rows_and_reference_lines():
    """What was drawn: each panel's markers sit at the rows' values, ±2 MCSE bars, and the
    dashed references at bias 0 and at the nominal coverage 0.95."""
    from trialsynth.plots import simulation_plot

    def row(scenario, estimator, bias, coverage):
        return {
            "scenario": scenario,
            "estimator": estimator,
            "bias": bias,
            "bias_mcse": 0.01,
            "mse": 0.02,
            "mse_mcse": 0.001,
            "coverage": coverage,
            "coverage_mcse": 0.005,
            "ci_width": 0.5,
            "ci_width_mcse": 0.002,
        }

    rows = [row("A", "DL", 0.10, 0.91), row("A", "REML+HK", -0.05, 0.95), row("B", "DL", 0.02, 0.93)]
    fig = simulation_plot(rows, level=95)
    assert fig.trialsynth["scenarios"] == ["A", "B"] and fig.trialsynth["estimators"] == ["DL", "REML+HK"]
    bias_ax, _, coverage_ax, _ = fig.axes
    def markers(ax):
        return sorted(x for line in ax.lines if line.get_linestyle() == "None" for x in line.get_xdata())

    assert markers(bias_ax) == [-0.05, 0.02, 0.10]
    assert markers(coverage_ax) == [0.91, 0.93, 0.95]
    refs = [line.get_xdata()[0] for line in bias_ax.lines if line.get_linestyle() == "--"]
    assert refs == [0.0]
    refs = [line.get_xdata()[0] for line in coverage_ax.lines if line.get_linestyle() == "--"]
    assert refs == [0.95]
    # error bars: ±2 MCSE around the bias of 0.10 (DL, scenario A)
    segments = [seg for coll in bias_ax.collections for seg in coll.get_segments()]
    assert any(abs(seg[0][0] - 0.08) < 1e-12 and abs(seg[1][0] - 0.12) < 1e-12 for seg in segments)
