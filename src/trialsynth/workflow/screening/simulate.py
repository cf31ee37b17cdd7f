"""Simulation of prioritised screening on a labelled set, and the work it saves.

A simulation replays screening on records whose final decisions are known: it starts from a
few prior records (by default one included and one excluded, drawn with the seed), trains the
model of :mod:`trialsynth.workflow.screening.model` on the labels revealed so far, "screens" the
``batch`` records it ranks highest, reveals their labels, retrains, and so on until every
included record has been found (the order of the rest then changes no measure below).

Measures, with N records of which n are included, screened in the simulated order:

* **records to recall R**: k_R, the number screened (priors included) when ⌈R·n⌉ included
  records have been found;
* **work saved over sampling** (Cohen et al., *J Am Med Inform Assoc* 2006;13:206–219,
  WSS@R = (TN + FN)/N − (1 − R)): the records left unscreened once recall R is reached, as a
  share of all, minus the share that random sampling would leave at that recall:
  WSS@R = (N − k_R)/N − (1 − R); reported at R = 95 % and 100 %;
* **relevant records found** after screening the first ⌈10 % · N⌉ records (RRF@10), a share of n;
* the **recall curve**: the position in the order at which each included record was found.

The random baseline is the expected k_R when the records after the same priors come in a
random order: with p priors holding a included records, the m′ = ⌈R·n⌉ − a-th of the
n′ = n − a included records among the N′ = N − p others sits on average at position
m′(N′ + 1)/(n′ + 1) (the expected m′-th order statistic of n′ positions drawn from N′), so
E[k_R] = p + m′(N′ + 1)/(n′ + 1), and E[WSS@R] = (N − E[k_R])/N − (1 − R) ≈ 0.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trialsynth._core.errors import InputError, read_user_file
from trialsynth.workflow.screening.model import C_SVM, screening_features
from trialsynth.workflow.screening.rank import rank_unlabelled
from trialsynth.workflow.screening.stopping import StopOutcome, simulate_stop

__all__ = [
    "LabelledSet",
    "SimulationResult",
    "expected_random_records",
    "read_labelled",
    "records_to_recall",
    "simulate",
    "work_saved",
]

_LABEL_COLUMNS = ("label", "label_included", "included")


@dataclass(frozen=True)
class LabelledSet:
    """Records with known final decisions: ``titles``, ``abstracts``, ``labels`` (1 included)."""

    titles: tuple[str, ...]
    abstracts: tuple[str, ...]
    labels: tuple[int, ...]
    file: str = ""


def read_labelled(path: str | Path) -> LabelledSet:
    """Read a labelled set: a CSV with columns ``title``, ``abstract`` and ``label`` (or
    ``label_included`` / ``included``) holding 1 (included) or 0 (excluded)."""
    path = Path(path)
    try:
        text = read_user_file(path).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("the file is not UTF-8 text", file=str(path)) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().casefold() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    label_column = next((c for c in _LABEL_COLUMNS if c in header), None)
    missing = [c for c in ("title", "abstract") if c not in header]
    if label_column is None:
        missing.append("label")
    if missing:
        raise InputError(
            f"the labelled set needs the columns title, abstract and label; missing: {', '.join(missing)}",
            file=str(path),
        )
    titles, abstracts, labels = [], [], []
    for row_number, row in enumerate(reader, start=2):
        if None in row:
            raise InputError("the row has more fields than the header", file=str(path), row=row_number)
        value = (row.get(label_column) or "").strip()
        if value not in ("0", "1"):
            raise InputError(
                f"the label is 1 (included) or 0 (excluded), not '{value}'",
                file=str(path),
                row=row_number,
                column=label_column,
            )
        titles.append(row.get("title") or "")
        abstracts.append(row.get("abstract") or "")
        labels.append(int(value))
    if not labels:
        raise InputError("the labelled set has no records", file=str(path))
    return LabelledSet(tuple(titles), tuple(abstracts), tuple(labels), str(path))


def _target(recall: float, n_included: int) -> int:
    # ⌈R·n⌉, with R·n rounded first so that 0.95 · 20 counts as 19, not 19.000000000000004
    return math.ceil(round(recall * n_included, 9))


def records_to_recall(labels_in_order: Sequence[int] | np.ndarray, recall: float = 0.95) -> int:
    """k_R: how many records, screened in this order, until ⌈R·n⌉ included ones are found."""
    labels = np.asarray(labels_in_order)
    target = _target(recall, int(labels.sum()))
    if target == 0:
        return 0
    return int(np.searchsorted(np.cumsum(labels), target) + 1)


def work_saved(labels_in_order: Sequence[int] | np.ndarray, recall: float = 0.95) -> float:
    """WSS@R = (N − k_R)/N − (1 − R) (Cohen et al. 2006) for records screened in this order."""
    n = len(labels_in_order)
    return (n - records_to_recall(labels_in_order, recall)) / n - (1 - recall)


def expected_random_records(
    prior_labels: Sequence[int], n_records: int, n_included: int, recall: float
) -> float:
    """E[k_R] when the records after these priors (screened first, in this order) come in a
    random order: p + m′(N′ + 1)/(n′ + 1) (see the module's docstring)."""
    target = _target(recall, n_included)
    found = np.cumsum(np.asarray(prior_labels, dtype=int))
    if found.size and found[-1] >= target:
        return float(np.searchsorted(found, target) + 1) if target else 0.0
    p = len(prior_labels)
    a = int(found[-1]) if found.size else 0
    m, n_rest, inc_rest = target - a, n_records - p, n_included - a
    return p + m * (n_rest + 1) / (inc_rest + 1)


@dataclass(frozen=True)
class SimulationResult:
    """One simulated screening. ``order`` holds the row numbers (0-based) in screening order,
    priors first; ``include_positions`` the 1-based positions at which included records
    were found (the recall curve: after position ``include_positions[j]``, j + 1 of
    ``n_included`` are found)."""

    n_records: int
    n_included: int
    seed: int
    n_prior_included: int
    n_prior_excluded: int
    batch: int
    c: float
    prior: tuple[int, ...]
    order: tuple[int, ...]
    include_positions: tuple[int, ...]
    records_to_95: int
    records_to_100: int
    wss95: float
    wss100: float
    rrf10: float
    random_records_to_95: float
    random_wss95: float
    stop: StopOutcome | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "n_records": self.n_records,
            "n_included": self.n_included,
            "seed": self.seed,
            "prior_included": self.n_prior_included,
            "prior_excluded": self.n_prior_excluded,
            "batch": self.batch,
            "C": self.c,
            "prior_rows": list(self.prior),
            "records_to_95": self.records_to_95,
            "records_to_100": self.records_to_100,
            "wss95": self.wss95,
            "wss100": self.wss100,
            "rrf10": self.rrf10,
            "random": {"records_to_95": self.random_records_to_95, "wss95": self.random_wss95},
            "recall_curve": [
                {"screened": k, "recall": (j + 1) / self.n_included}
                for j, k in enumerate(self.include_positions)
            ],
            "stop_rule": None if self.stop is None else self.stop.to_dict(),
            "order": list(self.order),
        }


def simulate(
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    seed: int = 0,
    n_prior_included: int = 1,
    n_prior_excluded: int = 1,
    batch: int = 1,
    c: float = C_SVM,
    stop_rule: tuple[float, float] | None = None,
) -> SimulationResult:
    """Replay prioritised screening on ``texts`` (title and abstract of each record) with
    known ``labels`` (1 included, 0 excluded); see the module's docstring. With ``stop_rule``
    = (recall target, confidence), also replays the stopping rule of
    :mod:`trialsynth.workflow.screening.stopping` on the ranked order (its random sample
    drawn with the same seed) and reports where it stops."""
    y = np.asarray(labels, dtype=int)
    n = y.size
    if n != len(texts) or not np.all((y == 0) | (y == 1)):
        raise InputError("one label (0 or 1) per record is needed")
    if batch < 1 or n_prior_included < 1 or n_prior_excluded < 1:
        raise InputError("the batch and the numbers of prior records must be at least 1")
    included, excluded = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if included.size < n_prior_included or excluded.size < n_prior_excluded:
        raise InputError(
            f"the labelled set has {included.size} included and {excluded.size} excluded records; "
            f"the simulation starts from {n_prior_included} included and {n_prior_excluded} excluded"
        )
    rng = np.random.default_rng(seed)
    prior = np.concatenate(
        [
            rng.choice(included, n_prior_included, replace=False),
            rng.choice(excluded, n_prior_excluded, replace=False),
        ]
    )
    prior = rng.permutation(prior)
    features = screening_features(list(texts))
    order = [int(i) for i in prior]
    known = {i: int(y[i]) for i in order}
    start = None
    remaining_includes = int(y.sum()) - int(y[prior].sum())
    while remaining_includes > 0:
        ranked = rank_unlabelled(features, known, c=c, start=start)
        if ranked is None:  # cannot happen: the priors hold both labels
            raise RuntimeError("the simulation lost its prior labels")
        ranking, fit = ranked
        start = np.concatenate([fit.coef, [fit.intercept]])
        for i in ranking[:batch]:
            order.append(i)
            known[i] = int(y[i])
            remaining_includes -= int(y[i])
        if remaining_includes == 0:
            order += [i for i in ranking[batch:]]
    seen = set(order)
    order += [i for i in range(n) if i not in seen]
    in_order = y[order]
    positions = tuple(int(k) + 1 for k in np.flatnonzero(in_order == 1))
    n_inc = int(y.sum())
    k95 = records_to_recall(in_order, 0.95)
    random_k95 = expected_random_records(y[prior], n, n_inc, 0.95)
    first_tenth = math.ceil(round(0.10 * n, 9))
    return SimulationResult(
        n_records=n,
        n_included=n_inc,
        seed=seed,
        n_prior_included=n_prior_included,
        n_prior_excluded=n_prior_excluded,
        batch=batch,
        c=c,
        prior=tuple(int(i) for i in prior),
        order=tuple(order),
        include_positions=positions,
        records_to_95=k95,
        records_to_100=records_to_recall(in_order, 1.0),
        wss95=work_saved(in_order, 0.95),
        wss100=work_saved(in_order, 1.0),
        rrf10=float(in_order[:first_tenth].sum()) / n_inc,
        random_records_to_95=random_k95,
        random_wss95=(n - random_k95) / n - 0.05,
        stop=None
        if stop_rule is None
        else simulate_stop(
            in_order,
            target=stop_rule[0],
            confidence=stop_rule[1],
            rng=np.random.default_rng([seed, 0x5709]),
        ),
    )
