"""Seconds per network meta-analysis fit: trialsynth against metafor's rma.mv, on the same networks.

Networks of k two- and three-arm trials (mean differences, 10 treatments) are simulated from a fixed
seed and written as arm rows; each system fits the consistency model with one τ² by REML (treatment
effects against the first treatment, their covariance): trialsynth's
:func:`trialsynth.stats.network.network_meta_analysis` without node-splitting, the inconsistency model
or SUCRA draws, and ``rma.mv(yi, V, mods, random = ~ comp | study, rho = 1/2)`` in R
(benchmarks/network_bench.R, timed inside R) when Rscript with metafor is installed. Agreement (τ² and
the effects) is printed; the last line is one JSON object: system → seconds per fit at the largest k.
Run ``python benchmarks/network_bench.py --help``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from _rbench import run_r


def make_network(contrasts: int, seed: int):
    rng = np.random.default_rng(seed)
    names = [f"T{i:02d}" for i in range(10)]
    effect = rng.normal(0, 0.5, 10)
    rows = []
    count = study = 0
    while count < contrasts:
        arms = rng.choice(10, size=3 if study % 5 == 0 else 2, replace=False)
        u = rng.normal(0, 0.3, len(arms))
        for j, a in enumerate(arms):
            n = int(rng.integers(20, 200))
            mean = effect[a] + (u[j] if j else 0.0) + rng.normal(0, 1 / np.sqrt(n))
            rows.append((f"s{study:03d}", names[a], mean, 1.0, n))
        count += len(arms) - 1
        study += 1
    return rows


def fit_trialsynth(rows, repeat: int):
    from trialsynth.stats.network import network_from_arms, network_meta_analysis

    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        data = network_from_arms(
            [r[0] for r in rows],
            [r[1] for r in rows],
            measure="MD",
            mean=[r[2] for r in rows],
            sd=[r[3] for r in rows],
            n=[r[4] for r in rows],
        )
        res = network_meta_analysis(
            data, reference="T00", sucra_draws=0, node_splitting=False, inconsistency=False
        )
        best = min(best, time.perf_counter() - start)
    return best, res.tau2, res.coefficients


def fit_metafor(rows, repeat: int):
    text = "study,treatment,mean,sd,n\n" + "".join(
        f"{r[0]},{r[1]},{r[2]:.17g},{r[3]:.17g},{r[4]}\n" for r in rows
    )
    out = run_r("network_bench.R", text, repeat)
    if out is None:
        return None
    return float(out["seconds"]), float(out["tau2"]), np.array([float(x) for x in out["beta"].split()])

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, nargs="+", default=[50, 200], help="contrasts per network")
    parser.add_argument("--seed", type=int, default=20261205)
    parser.add_argument("--repeat", type=int, default=3, help="fits per system; the fastest is reported")
    args = parser.parse_args(argv)
    seconds: dict[str, float] = {}
    print(f"{'k':>5}{'system':>12}{'seconds':>10}  notes")
    for k in args.k:
        rows = make_network(k, args.seed)
        t_ts, tau2, beta = fit_trialsynth(rows, args.repeat)
        print(f"{k:>5}{'trialsynth':>12}{t_ts:>10.4f}  τ² = {tau2:.6g}")
        seconds["trialsynth"] = t_ts
        mf = fit_metafor(rows, args.repeat)
        if mf is None:
            print("metafor not timed: Rscript with metafor not found", file=sys.stderr)
            continue
        t_mf, tau2_mf, beta_mf = mf
        seconds["metafor"] = t_mf
        print(
            f"{k:>5}{'metafor':>12}{t_mf:>10.4f}  rma.mv REML; |Δτ²| {abs(tau2 - tau2_mf):.1e}, "
            f"max |Δeffect| {np.max(np.abs(beta - beta_mf)):.1e} vs trialsynth"
        )
    print(json.dumps(seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
