"""Prioritised screening side by side: trialsynth against ASReview's default model.

Usage: python benchmarks/screening_vs_asreview.py [FILE.csv ...] [--seeds 5] [--first-seed 0]
       [--tools trialsynth,asreview] [--json OUT.json]

For every labelled set (by default the two in ``../shared/screening/``: columns title,
abstract, label_included) and every seed, trialsynth's
:func:`~trialsynth.workflow.screening.simulate.simulate`
draws the prior records (one included, one excluded) with the seed; ASReview 3.0.8's
simulation (its Python API: ``Simulate`` with the ``elas_u4`` cycle, a linear SVM on TF-IDF
1–2-grams with balanced sample weights, the default model of ASReview LAB 2 and 3) is started
from the SAME prior rows, with numpy's global seed set to the seed. Both screen one record per
retraining until the last included record is found.

Printed per set and tool: the mean over the seeds (and the range) of WSS@95, RRF@10 (share
of the included records found in the first 10 % screened, priors counted), records screened
to the last include, and seconds per run; then one line per run. The last line is JSON.
The trialsynth lines count its convergence warnings. ASReview needs the ``bench`` extra
(``pip install -e '.[bench]'``); without it only trialsynth runs.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
import warnings
from pathlib import Path

import numpy as np

from trialsynth.workflow.screening.simulate import read_labelled, records_to_recall, simulate, work_saved

# ../shared/screening next to the repository (or next to a folder holding it, for a worktree)
SHARED = next(
    (
        p / "shared" / "screening"
        for p in Path(__file__).resolve().parents[1:]
        if (p / "shared" / "screening").is_dir()
    ),
    Path(__file__).resolve().parents[2] / "shared" / "screening",
)
DEFAULT_FILES = ("nudging.csv", "ppi.csv")


def measures(labels: np.ndarray, order: list[int]) -> dict[str, float]:
    """WSS@95, RRF@10 and records to the last include of a screening ``order`` (row indices,
    priors first; rows not in it come after, in any order: the measures do not depend on it
    once every include is found)."""
    n = labels.size
    seen = set(order)
    full = list(order) + [i for i in range(n) if i not in seen]
    in_order = labels[full]
    tenth = math.ceil(round(0.10 * n, 9))
    return {
        "wss95": work_saved(in_order, 0.95),
        "rrf10": float(in_order[:tenth].sum()) / float(labels.sum()),
        "last_include": records_to_recall(in_order, 1.0),
    }


def run_trialsynth(titles, abstracts, labels, seed: int) -> tuple[list[int], list[int]]:
    texts = [f"{t}\n{a}" for t, a in zip(titles, abstracts, strict=True)]
    result = simulate(texts, labels.tolist(), seed=seed)
    return list(result.order), list(result.prior)


def run_asreview(titles, abstracts, labels, seed: int, prior: list[int]) -> list[int]:
    import pandas as pd
    from asreview.learner import ActiveLearningCycle
    from asreview.models.models import get_ai_config
    from asreview.simulation.simulate import Simulate

    np.random.seed(seed)  # noqa: NPY002 (what `asreview simulate --seed` does: LinearSVC draws from it)
    frame = pd.DataFrame({"title": list(titles), "abstract": list(abstracts)})
    cycle = ActiveLearningCycle.from_meta(get_ai_config("elas_u4")["value"])
    sim = Simulate(frame, labels, cycle, print_progress=False)
    sim.label(prior)
    sim.review()
    return [int(i) for i in sim._results["record_id"].to_numpy()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--tools", default="trialsynth,asreview")
    parser.add_argument("--json", type=Path, default=None, help="Also write every run to this file.")
    args = parser.parse_args(argv)
    files = args.files or [SHARED / f for f in DEFAULT_FILES]
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if "asreview" in tools:
        try:
            import asreview  # noqa: F401
        except ImportError:
            print("asreview is not installed (pip install -e '.[bench]'): trialsynth only")
            tools = [t for t in tools if t != "asreview"]
    runs = []
    for path in files:
        data = read_labelled(path)
        labels = np.asarray(data.labels, dtype=int)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                order, prior = run_trialsynth(data.titles, data.abstracts, labels, seed)
            elapsed = time.perf_counter() - t0
            ours_warned = sum(1 for w in caught if "converge" in str(w.message))
            row = {"set": path.name, "seed": seed, "prior": prior}
            if "trialsynth" in tools:
                runs.append(
                    {
                        **row,
                        "tool": "trialsynth",
                        "seconds": elapsed,
                        "warnings": ours_warned,
                        **measures(labels, order),
                    }
                )
                print(_line(runs[-1]), flush=True)
            if "asreview" in tools:
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    order = run_asreview(data.titles, data.abstracts, labels, seed, prior)
                runs.append(
                    {
                        **row,
                        "tool": "asreview",
                        "seconds": time.perf_counter() - t0,
                        "warnings": None,
                        **measures(labels, order),
                    }
                )
                print(_line(runs[-1]), flush=True)
    print()
    print(table(runs))
    summary = summarise(runs)
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "summary": summary}, indent=1))
    print(json.dumps(summary))
    return 0


def _line(run: dict) -> str:
    return (
        f"  {run['set']:<14} seed {run['seed']:<3} {run['tool']:<11} WSS@95 {run['wss95']:.3f}  "
        f"RRF@10 {run['rrf10']:.3f}  last include {run['last_include']:>5}  {run['seconds']:6.1f} s"
        f"  priors {run['prior']}"
    )


def summarise(runs: list[dict]) -> list[dict]:
    out = []
    for key in dict.fromkeys((r["set"], r["tool"]) for r in runs):
        group = [r for r in runs if (r["set"], r["tool"]) == key]
        entry = {"set": key[0], "tool": key[1], "runs": len(group)}
        if key[1] == "trialsynth":
            entry["convergence_warnings"] = sum(r["warnings"] for r in group)
        for m in ("wss95", "rrf10", "last_include", "seconds"):
            values = [r[m] for r in group]
            entry[m] = statistics.fmean(values)
            entry[m + "_min"] = min(values)
            entry[m + "_max"] = max(values)
        out.append(entry)
    return out


def table(runs: list[dict]) -> str:
    """A Markdown table of the means (and ranges) over the seeds."""
    cols = ("set", "tool", "WSS@95 mean (range)", "RRF@10 mean (range)", "last include mean (range)", "s/run")
    rows = [
        (
            e["set"],
            e["tool"],
            f"{e['wss95']:.3f} ({e['wss95_min']:.3f}–{e['wss95_max']:.3f})",
            f"{e['rrf10']:.3f} ({e['rrf10_min']:.3f}–{e['rrf10_max']:.3f})",
            f"{e['last_include']:.1f} ({e['last_include_min']}–{e['last_include_max']})",
            f"{e['seconds']:.1f}",
        )
        for e in summarise(runs)
    ]
    widths = [max(len(c), *(len(r[j]) for r in rows)) for j, c in enumerate(cols)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
