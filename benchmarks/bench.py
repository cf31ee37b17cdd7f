"""Fits per second of REML + Hartung–Knapp meta-analyses: trialsynth against its peers.

One run, one data set: N meta-analyses of k studies (default k = 10), vᵢ ~ U(0.01, 0.5),
yᵢ ~ N(0, vᵢ + τ²) with τ² = 0.05, from a fixed seed. A fit is the estimate, SE, CI, p-value,
τ², I² and Q, as ``trialsynth pool`` reports them (no τ² interval). Systems timed:

* ``trialsynth_batch``: :func:`trialsynth.stats.batch.fit_batch` on all N at once (compiled engine;
  the first call, which loads or compiles the kernel, is not timed; best of ``--repeat`` runs);
* ``trialsynth_loop``: the single-fit engine (:func:`trialsynth.stats.pooling.fit_arrays`) called once
  per meta-analysis, no τ² interval (a first, untimed call loads or compiles the τ² solver);
* ``statsmodels``: ``combine_effects`` per meta-analysis with ``conf_int(use_t=True)``; it has no
  REML, so Paule–Mandel ("iterated") with its WLS/Hartung–Knapp interval is timed;
* ``pymare``: ``VarianceBasedLikelihoodEstimator(method="REML")`` (Knapp–Hartung by default) on
  all its meta-analyses at once as parallel datasets, with ``get_fe_stats`` and
  ``get_heterogeneity_stats``;
* ``metafor``: ``rma(yi, vi, method="REML", test="knha")`` in a loop in R (benchmarks/metafor_bench.R),
  timed inside R, when ``Rscript`` with metafor is installed.

Each peer fits the first n of the same N meta-analyses (n set per system so that each runs a few
seconds); agreement with trialsynth on those is printed (largest absolute difference of the
estimate and τ²). The last line printed is one JSON object: system → fits per second.
Run with ``make bench`` (installs the ``bench`` extra) or ``python benchmarks/bench.py --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def make_data(n: int, k: int, seed: int, tau2: float = 0.05):
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.5, (n, k))
    yi = rng.normal(0.0, np.sqrt(vi + tau2))
    return yi, vi


def bench_batch(yi, vi, repeat: int):
    from trialsynth.stats.batch import fit_batch

    fit_batch(yi[:100], vi[:100], method="REML", hk=True)  # load or compile the kernel
    best = best_cpu = np.inf
    fit = None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fit = fit_batch(yi, vi, method="REML", hk=True)
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    return best, best_cpu, fit


def bench_loop(yi, vi):
    from trialsynth.stats.pooling import fit_arrays
    from trialsynth.stats.tau2 import compile_solver

    compile_solver()  # a loop of fits uses the compiled solver (a small pool would not)
    fit_arrays(yi[0], vi[0], method="REML", hk=True)  # load or compile the τ² solver, untimed
    est = np.empty(len(yi))
    tau2 = np.empty(len(yi))
    start = time.perf_counter()
    for i in range(len(yi)):
        f = fit_arrays(yi[i], vi[i], method="REML", hk=True)
        est[i], tau2[i] = f["estimate"], f["tau2"]
    return time.perf_counter() - start, est, tau2


def bench_statsmodels(yi, vi):
    from statsmodels.stats.meta_analysis import combine_effects

    est = np.empty(len(yi))
    tau2 = np.empty(len(yi))
    start = time.perf_counter()
    for i in range(len(yi)):
        res = combine_effects(yi[i], vi[i], method_re="iterated")
        res.conf_int(use_t=True)
        _ = (res.sd_eff_w_re_hksj, res.i2, res.q)
        est[i], tau2[i] = res.mean_effect_re, res.tau2
    return time.perf_counter() - start, est, tau2


def bench_pymare(yi, vi):
    import pymare
    from pymare.estimators import VarianceBasedLikelihoodEstimator

    start = time.perf_counter()
    dataset = pymare.Dataset(y=yi.T, v=vi.T)
    fitted = VarianceBasedLikelihoodEstimator(method="REML").fit_dataset(dataset)
    summary = fitted.summary()
    fe = summary.get_fe_stats()
    summary.get_heterogeneity_stats()
    seconds = time.perf_counter() - start
    return seconds, np.ravel(fe["est"]), np.ravel(fitted.params_["tau2"])


def bench_metafor(yi, vi):
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    script = Path(__file__).with_name("metafor_bench.R")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.csv"
        out = Path(tmp) / "out.csv"
        k = yi.shape[1]
        header = ",".join([f"y{j + 1}" for j in range(k)] + [f"v{j + 1}" for j in range(k)])
        np.savetxt(data, np.hstack([yi, vi]), delimiter=",", header=header, comments="", fmt="%.17g")
        proc = subprocess.run(
            [rscript, str(script), str(data), str(len(yi)), str(out)],
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if proc.returncode != 0:
            print(f"metafor: Rscript failed, not timed: {proc.stderr.strip()[-300:]}", file=sys.stderr)
            return None
        lines = dict(line.split(" ", 1) for line in proc.stdout.strip().splitlines())
        res = np.genfromtxt(out, delimiter=",", names=True)
    return float(lines["seconds"]), res["estimate"], res["tau2"], res["converged"], lines["metafor"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="meta-analyses for the batch engine")
    parser.add_argument("--k", type=int, default=10, help="studies per meta-analysis")
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--repeat", type=int, default=3, help="batch runs; the fastest is reported")
    parser.add_argument("--loop-n", type=int, default=3000, help="fits for trialsynth's single-fit loop")
    parser.add_argument("--statsmodels-n", type=int, default=3000)
    parser.add_argument("--pymare-n", type=int, default=20000)
    parser.add_argument("--metafor-n", type=int, default=1000)
    args = parser.parse_args(argv)

    yi, vi = make_data(args.n, args.k, args.seed)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"data: {args.n} meta-analyses, k = {args.k}, seed {args.seed}; {platform.platform()}, "
        f"{os.cpu_count()} CPUs, load average {load} (other work on the machine slows every system)"
    )
    rates: dict[str, float] = {}
    rows = []

    seconds, cpu, fit = bench_batch(yi, vi, args.repeat)
    ncpu = os.cpu_count() or 1
    converged = bool(fit.converged.all())
    rates["trialsynth_batch"] = args.n / seconds
    rows.append(
        (
            "trialsynth_batch",
            args.n,
            seconds,
            f"REML+HK, {fit.engine} engine, all converged: {converged}, "
            f"{int((fit.n_local_maxima >= 2).sum())} likelihoods with 2+ local maxima; "
            f"{cpu / args.n * 1e6:.2f} CPU µs per fit, i.e. {args.n / cpu * ncpu:,.0f} fits/s "
            f"on {ncpu} idle CPUs",
        )
    )

    def agreement(name, n, est, tau2):
        d_est = np.nanmax(np.abs(est - fit.estimate[:n]))
        d_tau = np.nanmax(np.abs(tau2 - fit.tau2[:n]))
        return f"max |Δestimate| {d_est:.1e}, max |Δτ²| {d_tau:.1e} vs trialsynth"

    n = min(args.loop_n, args.n)
    seconds, est, tau2 = bench_loop(yi[:n], vi[:n])
    rates["trialsynth_loop"] = n / seconds
    rows.append(("trialsynth_loop", n, seconds, "REML+HK one at a time; " + agreement("loop", n, est, tau2)))

    try:
        n = min(args.statsmodels_n, args.n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seconds, est, tau2 = bench_statsmodels(yi[:n], vi[:n])
        rates["statsmodels"] = n / seconds
        pm = __import__("trialsynth.stats.batch", fromlist=["fit_batch"]).fit_batch(
            yi[:n], vi[:n], method="PM", hk=True
        )
        rows.append(
            (
                "statsmodels",
                n,
                seconds,
                f"PM (no REML) + HKSJ CI; max |Δτ²| {np.nanmax(np.abs(tau2 - pm.tau2)):.1e} vs trialsynth PM",
            )
        )
    except ImportError:
        print("statsmodels not installed: pip install 'trialsynth[bench]'", file=sys.stderr)

    try:
        n = min(args.pymare_n, args.n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seconds, est, tau2 = bench_pymare(yi[:n], vi[:n])
        rates["pymare"] = n / seconds
        rows.append(
            (
                "pymare",
                n,
                seconds,
                "REML + Knapp-Hartung, parallel datasets; " + agreement("pymare", n, est, tau2),
            )
        )
    except ImportError:
        print("PyMARE not installed: pip install 'trialsynth[bench]'", file=sys.stderr)

    n = min(args.metafor_n, args.n)
    mf = bench_metafor(yi[:n], vi[:n])
    if mf is not None:
        seconds, est, tau2, conv, version = mf
        rates["metafor"] = n / seconds
        ok = conv == 1
        rows.append(
            (
                "metafor",
                n,
                seconds,
                f"metafor {version} rma REML knha (defaults), converged {int(ok.sum())}/{n}; "
                + agreement("metafor", n, np.where(ok, est, np.nan), np.where(ok, tau2, np.nan)),
            )
        )
    else:
        print("metafor not timed: Rscript with metafor not found", file=sys.stderr)

    ref = rates.get("metafor")
    ref_pymare = rates.get("pymare")
    print(f"{'system':<18}{'fits':>10}{'seconds':>10}{'fits/s':>14}{'× metafor':>12}{'× PyMARE':>11}  notes")
    for name, n, seconds, note in rows:
        ratio = f"{rates[name] / ref:,.1f}" if ref else "—"
        ratio_pymare = f"{rates[name] / ref_pymare:,.1f}" if ref_pymare else "—"
        print(f"{name:<18}{n:>10,}{seconds:>10.3f}{rates[name]:>14,.0f}{ratio:>12}{ratio_pymare:>11}  {note}")
    print(json.dumps(rates))
    return 0


if __name__ == "__main__":
    sys.exit(main())
