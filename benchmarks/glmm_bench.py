"""Seconds per GLMM fit: trialsynth's binomial–normal models against metafor's rma.glmm, same tables.

k trials (default 100) with rare events are simulated from a fixed seed (arms of 50–300, control risk
around 5%, OR 0.7, τ = 0.5 on the log odds ratio); each system fits the random-effects model (τ² by ML)
for UM.RS and CM.EL (``--models``): trialsynth's :func:`trialsynth.stats.glmm.glmm_or` and
``rma.glmm(measure = "OR", model = M, method = "ML")`` in R (benchmarks/glmm_bench.R, timed inside R)
when Rscript with metafor is installed; without it only trialsynth is timed. Prints the fastest of
``--repeat`` fits (``--r-repeat`` for metafor, 1 by default: its fits take minutes at k = 100) in
wall-clock and CPU seconds (on a shared machine the CPU time is the steadier of the two), the ratio
metafor/trialsynth and the agreement of the estimates; the last line is one JSON object: model →
{system: seconds}. Issue 19 asks for one fit under 1 s at k ≤ 100. Run ``python benchmarks/glmm_bench.py
--help``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

import numpy as np
from _rbench import run_r


def make_tables(k: int, seed: int):
    rng = np.random.default_rng(seed)
    n1 = rng.integers(50, 301, k)
    n2 = rng.integers(50, 301, k)
    base = -3.0 + rng.normal(0, 0.5, k)
    theta = np.log(0.7) + rng.normal(0, 0.5, k)
    ai = rng.binomial(n1, 1 / (1 + np.exp(-(base + theta))))
    ci = rng.binomial(n2, 1 / (1 + np.exp(-base)))
    return ai, n1, ci, n2


def fit_trialsynth(tables, model: str, repeat: int):
    from trialsynth._core.errors import TrialsynthWarning
    from trialsynth.stats.glmm import glmm_or

    best = best_cpu = np.inf
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TrialsynthWarning)
            fit = glmm_or(*tables, model=model, method="ML")
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    return best, best_cpu, fit.estimate, fit.tau2


def fit_metafor(tables, model: str, repeat: int):
    rows = zip(*tables, strict=True)
    text = "ai,n1i,ci,n2i\n" + "".join(f"{a},{b},{c},{d}\n" for a, b, c, d in rows)
    out = run_r("glmm_bench.R", text, model, repeat)
    if out is None:
        return None
    return float(out["seconds"]), float(out["cpu"]), float(out["estimate"]), float(out["tau2"])

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, default=100, help="trials")
    parser.add_argument("--models", nargs="+", default=["UM.RS", "CM.EL"])
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument("--repeat", type=int, default=3, help="trialsynth fits; the fastest is reported")
    parser.add_argument(
        "--r-repeat",
        type=int,
        default=1,
        help="metafor fits (minutes each at k = 100)",
    )
    args = parser.parse_args(argv)
    tables = make_tables(args.k, args.seed)
    seconds: dict[str, dict[str, float]] = {}
    print(f"{'model':>6}{'system':>12}{'seconds':>10}{'CPU s':>10}  notes   (k = {args.k})")
    for model in args.models:
        t_ts, cpu_ts, est, tau2 = fit_trialsynth(tables, model, args.repeat)
        seconds[model] = {"trialsynth": t_ts, "trialsynth_cpu": cpu_ts}
        print(f"{model:>6}{'trialsynth':>12}{t_ts:>10.4f}{cpu_ts:>10.4f}  log OR {est:.6f}, τ² {tau2:.6g}")
        mf = fit_metafor(tables, model, args.r_repeat)
        if mf is None:
            print("metafor not timed: Rscript with metafor not found", file=sys.stderr)
            continue
        t_mf, cpu_mf, est_mf, tau2_mf = mf
        seconds[model].update(metafor=t_mf, metafor_cpu=cpu_mf)
        print(
            f"{model:>6}{'metafor':>12}{t_mf:>10.4f}{cpu_mf:>10.4f}  rma.glmm ML; "
            f"{t_mf / t_ts:.1f}× trialsynth's wall-clock time ({cpu_mf / cpu_ts:.1f}× its CPU time); "
            f"|Δ log OR| {abs(est - est_mf):.1e}, |Δτ²| {abs(tau2 - tau2_mf):.1e}"
        )
    print(json.dumps(seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
