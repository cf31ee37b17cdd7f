"""Seconds per three-level fit: trialsynth against metafor's rma.mv, on the same effect sizes.

Data sets of k effect sizes (1 to 6 per study) are simulated from a fixed seed with σ² = 0.05
between studies and 0.02 within; each system fits ``~ 1 | study/es_id`` by REML: trialsynth's
:func:`trialsynth.stats.multilevel.fit_multilevel` without and with the profile-likelihood CIs
of both variance components, and with CR2 cluster-robust tests
(:func:`trialsynth.stats.robust.robust`); metafor's ``rma.mv``, ``rma.mv`` + ``confint`` and
``rma.mv`` + ``robust(..., clubSandwich = TRUE)`` (benchmarks/multilevel_bench.R, timed inside R)
when Rscript with metafor is installed (without it, the R side is skipped with a note). The
issue's target: each fit under 1 s for k ≤ 200. Agreement (σ², the estimate) and the ratio
metafor / trialsynth are printed; the last line is one JSON object: system → seconds per fit at
the largest k. Run ``python benchmarks/multilevel_bench.py --help``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from _rbench import run_r


def make_rows(k: int, seed: int):
    """``(study, es_id, yi, vi)`` rows: k effect sizes in studies of 1–6 each."""
    rng = np.random.default_rng(seed)
    rows = []
    study = 0
    while len(rows) < k:
        m = min(int(rng.integers(1, 7)), k - len(rows))
        u = rng.normal(0.2, np.sqrt(0.05))
        for j in range(m):
            vi = float(rng.uniform(0.01, 0.1))
            rows.append(
                (f"s{study:03d}", f"e{j}", u + rng.normal(0, np.sqrt(0.02)) + rng.normal(0, np.sqrt(vi)), vi)
            )
        study += 1
    return rows


def _best(func, repeat: int):
    best, value = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        value = func()
        best = min(best, time.perf_counter() - start)
    return best, value


def fit_trialsynth(rows, repeat: int):
    from trialsynth.stats.multilevel import fit_multilevel
    from trialsynth.stats.robust import robust

    yi = [r[2] for r in rows]
    vi = [r[3] for r in rows]
    levels = [[r[0] for r in rows], [r[1] for r in rows]]

    def fit(profile: bool):
        return fit_multilevel(yi, vi, levels=levels, method="REML", profile=profile)

    plain, res = _best(lambda: fit(False), repeat)
    profile, _ = _best(lambda: fit(True), repeat)
    cr2, _ = _best(lambda: robust(fit(False)), repeat)
    return {"fit": plain, "fit+profile": profile, "fit+CR2": cr2}, res


def fit_metafor(rows, repeat: int):
    text = "study,es_id,yi,vi\n" + "".join(f"{r[0]},{r[1]},{r[2]:.17g},{r[3]:.17g}\n" for r in rows)
    out = run_r("multilevel_bench.R", text, repeat)
    if out is None:
        return None
    seconds = {"fit": float(out["seconds"]), "fit+profile": float(out["seconds_profile"])}
    if "seconds_cr2" in out:
        seconds["fit+CR2"] = float(out["seconds_cr2"])
    return seconds, np.array([float(x) for x in out["sigma2"].split()]), float(out["beta"])

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, nargs="+", default=[50, 200], help="effect sizes per data set")
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument("--repeat", type=int, default=3, help="fits per system; the fastest is reported")
    args = parser.parse_args(argv)
    seconds: dict[str, float] = {}
    print(f"{'k':>5}{'studies':>9}{'what':>13}{'trialsynth s':>14}{'metafor s':>11}{'ratio':>8}  notes")
    for k in args.k:
        rows = make_rows(k, args.seed)
        n_studies = len({r[0] for r in rows})
        ts, res = fit_trialsynth(rows, args.repeat)
        mf = fit_metafor(rows, args.repeat)
        if mf is None:
            print("metafor not timed: Rscript with metafor not found", file=sys.stderr)
        note = f"σ² = {res.sigma2[0]:.4g}, {res.sigma2[1]:.4g}"
        if mf is not None:
            d_s2 = np.max(np.abs(np.array(res.sigma2) - mf[1]))
            d_b = abs(res.coefficients[0].estimate - mf[2])
            note += f"; max |Δσ²| {d_s2:.1e}, |Δestimate| {d_b:.1e} vs metafor"
        for what, t in ts.items():
            t_mf = None if mf is None else mf[0].get(what)
            ratio = "" if t_mf is None else f"{t_mf / t:8.1f}"
            mf_text = "" if t_mf is None else f"{t_mf:11.4f}"
            notes = note if what == "fit" else ""
            print(f"{k:>5}{n_studies:>9}{what:>13}{t:>14.4f}{mf_text:>11}{ratio:>8}  {notes}")
            seconds[f"trialsynth {what}"] = t
            if t_mf is not None:
                seconds[f"metafor {what}"] = t_mf
    print(json.dumps(seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
