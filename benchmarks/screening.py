"""Time screening steps on a large synthetic review.

Usage: python benchmarks/screening.py [--records 20000] [--steps 40] [--decided 500]
       [--other 10000] [--folder DIR]

Builds a review folder with N synthetic records (seeded: titles and abstracts drawn from a
vocabulary, one record in ten about the review's topic), lets a second reviewer decide
``--other`` of them and the benchmarked reviewer ``--decided`` of them (written straight
into the store in one transaction), then times ``--steps`` screening steps of a
:class:`~trialsynth.workflow.screening.session.ScreeningSession`: one step is what the terminal and
the web page do per record, ``status()`` (the next record and the progress counts) followed
by ``decide()``. Prints milliseconds per step (median, mean, max), first with the decisions
made back to back, then with a pause for reading each record (``--read-ms``, not timed),
during which the session fits the model for the coming decision ahead of time. The
prioritisation model is on (the reviewer has both include and exclude decisions).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from trialsynth._core.errors import TrialsynthWarning
from trialsynth.io.records.store import NewRecord, open_store
from trialsynth.workflow.screening.session import ScreeningSession

TOPIC = "randomized cardiac resynchronization lead placement echocardiography guided trial heart failure"


def make_records(n: int, rng: np.random.Generator) -> tuple[list[NewRecord], np.ndarray]:
    vocabulary = [f"w{i}" for i in range(60000)]
    topic = TOPIC.split()
    relevant = rng.random(n) < 0.1
    records = []
    for i in range(n):
        words = [vocabulary[j] for j in rng.zipf(1.2, size=160) % len(vocabulary)]
        if relevant[i]:
            words[::9] = [topic[k % len(topic)] for k in range(len(words[::9]))]
        title = " ".join(words[:12])
        abstract = " ".join(words[12:])
        records.append(
            NewRecord(
                line=1 + 20 * i,
                raw=f"TY  - JOUR\nTI  - {title}\nER  - ",
                fields={"TI": [title], "AB": [abstract]},
                title=title,
                abstract=abstract,
                authors=(f"Author{i}, A.",),
                year=2000 + i % 25,
                journal="Journal",
            )
        )
    return records, relevant


def build(folder: Path, n: int, other: int, decided: int, reviewer: str, seed: int = 20261130) -> np.ndarray:
    rng = np.random.default_rng(seed)
    records, relevant = make_records(n, rng)
    with open_store(folder) as store:
        store.add_import(
            file_name="synthetic.ris",
            sha256=f"synthetic-{n}-{seed}",
            format="ris",
            database="MEDLINE",
            records=records,
        )
        ids = [i for i, _kind in store.record_kinds()]
        rows = [
            (ids[i], "title_abstract", "other reviewer", "include" if relevant[i] else "exclude", "", "", "t")
            for i in range(other)
        ] + [
            (ids[i], "title_abstract", reviewer, "include" if relevant[i] else "exclude", "", "", "t")
            for i in range(n - decided, n)
        ]
        with store.transaction() as db:
            db.executemany(
                "INSERT INTO decisions(record_id, stage, reviewer, decision, reason, note, decided_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
    return relevant


def run_steps(
    session: ScreeningSession, relevant: np.ndarray, steps: int, read_s: float
) -> tuple[list[float], list[float], str, list[float]]:
    """Time ``steps`` steps (status, then decide); ``read_s`` seconds of reading in between
    (not timed). Returns the status and decide times in ms, the last ordering and the CPU
    time of each step in ms (all of the process's threads, so a fit ahead of time under way
    in the background counts too: an upper bound on a loaded machine, where wall time is not
    a fair measure)."""
    status_ms, decide_ms, cpu_ms = [], [], []
    ordering = ""
    for _ in range(steps):
        c0 = time.process_time()
        t0 = time.perf_counter()
        nxt, _progress = session.status()
        t1 = time.perf_counter()
        cs = time.process_time()
        if nxt.record is None:
            break
        ordering = nxt.ordering
        time.sleep(read_s)
        label = "include" if relevant[nxt.record.id - 1] else "exclude"
        t2 = time.perf_counter()
        c1 = time.process_time()
        session.decide(nxt.record.id, label)
        t3 = time.perf_counter()
        status_ms.append((t1 - t0) * 1000)
        decide_ms.append((t3 - t2) * 1000)
        # the reading pause is not counted (the fit ahead of time runs in it, on its own thread;
        # what of it overlaps status() or decide() is)
        cpu_ms.append((time.process_time() - c1 + cs - c0) * 1000)
    return status_ms, decide_ms, ordering, cpu_ms


def report(title: str, status_ms: list[float], decide_ms: list[float], cpu_ms: list[float]) -> None:
    print(title)
    steps = [a + b for a, b in zip(status_ms, decide_ms, strict=True)]
    for name, values in (("status", status_ms), ("decide", decide_ms), ("step", steps), ("CPU", cpu_ms)):
        median, mean, top = statistics.median(values), statistics.fmean(values), max(values)
        print(
            f"  {name:>6}: median {median:7.1f} ms  mean {mean:7.1f} ms  max {top:7.1f} ms  "
            f"({len(values)} steps)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--decided", type=int, default=500)
    parser.add_argument("--other", type=int, default=10000)
    parser.add_argument("--read-ms", type=float, default=1000.0)
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args(argv)
    if not 0 < args.decided < args.records or not 0 <= args.other <= args.records:
        parser.error("need 0 < --decided < --records and 0 <= --other <= --records")
    warnings.simplefilter("ignore", TrialsynthWarning)  # synthetic texts: the fit may stop early
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        relevant = build(folder, args.records, args.other, args.decided, "benchmark")
        print(f"built {args.records} records in {time.perf_counter() - start:.1f} s")
        session = ScreeningSession(folder, "benchmark")
        start = time.perf_counter()
        session.status()
        print(
            f"first status (reads the stage, TF-IDF features): {(time.perf_counter() - start) * 1000:.0f} ms"
        )
        print(
            f"{args.records} records, {args.other} decided by another reviewer, "
            f"{args.decided} by this one, then one step after another:"
        )
        status_ms, decide_ms, ordering, cpu_ms = run_steps(session, relevant, args.steps, 0.0)
        report(
            f"decisions back to back (the model is fitted after each; ordering: {ordering})",
            status_ms,
            decide_ms,
            cpu_ms,
        )
        status_ms, decide_ms, ordering, cpu_ms = run_steps(session, relevant, args.steps, args.read_ms / 1000)
        report(
            f"with {args.read_ms:.0f} ms of reading per record, not timed (the models for both "
            f"decisions are fitted while the reviewer reads; ordering: {ordering}; CPU: "
            "decide and status, without the reading pause)",
            status_ms,
            decide_ms,
            cpu_ms,
        )
        session.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
