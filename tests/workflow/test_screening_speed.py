"""The screening queue reads only what changed: the incremental view of a stage agrees with
the state computed from scratch after every kind of change, a screening step reads a bounded
number of rows (no record is loaded and the model is not refitted without a new decision),
and the rankings fitted ahead of time are those a fit after the decision gives.

Timings are not tested (benchmarks/screening.py prints them)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import scipy.sparse as sp

import trialsynth.io.records.store as store_module
import trialsynth.workflow.screening.session as session_module
from tests.screening_data import RECORDS, make_review
from trialsynth.io.records.store import RecordStore, ScreeningView, open_store
from trialsynth.workflow.screening.rank import fit_logistic, rank_unlabelled
from trialsynth.workflow.screening.session import ScreeningSession

# twelve records: the six of the screening tests and six more, so queues stay long
MORE = tuple(
    (f"{t} (extension {k})", f"{a} Follow-up {k}.", au, y + 1, j)
    for k, (t, a, au, y, j) in enumerate(RECORDS)
)


@pytest.fixture
def review(tmp_path):
    return make_review(tmp_path / "review", RECORDS + MORE)


def _summary(states) -> list[tuple]:
    return [
        (
            s.record_id,
            s.status,
            s.decision,
            s.reason,
            tuple((d.id, d.reviewer, d.decision) for d in s.decisions),
        )
        for s in states
    ]


def _states(view: ScreeningView) -> list[tuple]:
    return _summary(view.state(i) for i in view.ids)


def _fresh(store: RecordStore, stage: str) -> list[tuple]:
    return _summary(store.screening(stage))


def test_the_incremental_view_agrees_with_the_state_from_scratch_after_every_change(review):
    rng = np.random.default_rng(7)
    with open_store(review) as store:
        ids = [r.id for r in store.records()]
        views = {stage: ScreeningView(stage) for stage in ("title_abstract", "full_text")}
        changes = 0
        seen: set[tuple[str, str, int]] = set()

        def check() -> None:
            for stage, view in views.items():
                view.refresh(store)
                assert _states(view) == _fresh(store, stage)
                seen.update((stage, s.status, len(view.ids)) for s in store.screening(stage))
                counts = {k: sum(1 for s in store.screening(stage) if s.status == k) for k in view.counts}
                assert {**view.counts, "pending": view.pending()} == counts

        check()
        for _ in range(120):
            what = rng.choice(["decide", "decide", "decide", "withdraw", "resolve", "unresolve", "pair", "n"])
            record = int(rng.choice(ids))
            reviewer = str(rng.choice(["ann", "bob", "cy"]))
            stage = str(rng.choice(["title_abstract", "full_text"]))
            if what == "decide":
                decision = str(rng.choice(["include", "exclude", "maybe"]))
                reason = (
                    str(rng.choice(["Wrong population", "Wrong outcomes"])) if decision == "exclude" else ""
                )
                store.add_decision(record, stage, reviewer, decision, reason=reason)
            elif what == "withdraw":
                live = store.decisions()
                if live:
                    store.withdraw("decision", live[int(rng.integers(len(live)))].id, reviewer)
            elif what == "resolve":
                store.resolve(record, stage, "include", reviewer)
            elif what == "unresolve":
                live = store.resolutions()
                if live:
                    store.withdraw("resolution", int(live[0]["id"]), reviewer)  # type: ignore[arg-type]
            elif what == "pair":
                a, b = sorted(int(x) for x in rng.choice(ids, size=2, replace=False))
                store.add_pairs([(a, b, "fuzzy", 0.9)])
                pair = next(p for p in store.pairs() if (p.record_a, p.record_b) == (a, b))
                store.decide_pair(pair.id, str(rng.choice(["duplicate", "not_duplicate"])), reviewer)
            else:
                store.set_reviewers_required(int(rng.integers(1, 4)))
            changes += 1
            check()
        assert changes == 120
        # the run went through every state at both stages, and the stages changed size
        for stage in views:
            assert {"pending", "agreed", "conflict", "resolved"} <= {s for st, s, _ in seen if st == stage}
            assert len({n for st, _, n in seen if st == stage}) > 2


def test_a_screening_step_reads_only_what_changed(review, monkeypatch):
    session = ScreeningSession(review, "ann")
    with open_store(review) as store:
        by_title = {r.title: r.id for r in store.records()}
    session.decide(by_title[RECORDS[0][0]], "include")
    session.decide(by_title[RECORDS[1][0]], "exclude")
    assert session.status()[0].ordering == "model"  # features built, model fitted
    session._ahead.join()  # and the models for the record shown fitted ahead of time

    counts = {"records": 0, "texts": 0, "decision rows": 0, "fits": 0, "record rows": 0}
    real_decision, real_rank, real_record = (
        store_module._decision,
        session_module.rank_unlabelled,
        RecordStore.record,
    )

    def count(name, real):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(RecordStore, "records", count("records", RecordStore.records))
    monkeypatch.setattr(RecordStore, "record_texts", count("texts", RecordStore.record_texts))
    monkeypatch.setattr(RecordStore, "record", count("record rows", real_record))
    monkeypatch.setattr(store_module, "_decision", count("decision rows", real_decision))
    monkeypatch.setattr(session_module, "rank_unlabelled", count("fits", real_rank))

    # no new decision: the same ranking, nothing read again, no refit
    before = dict(counts)
    session.status()
    session.progress()
    session.queue()
    assert counts["records"] == counts["texts"] == counts["fits"] == 0
    assert counts["decision rows"] == before["decision rows"]
    # one step: the decision just made is the only decision row read back (plus the one the
    # store returns on writing it), at most the next record is read, and the two models the
    # reviewer's next decision can call for are fitted while the record is shown (not after)
    front = {"fits": 0}

    def ranked(*args, **kwargs):
        if threading.current_thread() is threading.main_thread():
            front["fits"] += 1
        return real_rank(*args, **kwargs)

    monkeypatch.setattr(session_module, "rank_unlabelled", count("fits", ranked))
    session._ahead.join()
    for _ in range(4):
        counts.update(dict.fromkeys(counts, 0))
        nxt = session.next()
        session.decide(nxt.record.id, "exclude")
        assert session.status()[0].ordering == "model"
        session._ahead.join()  # the fits for the record now shown
        assert counts["records"] == 0 and counts["texts"] == 0
        assert counts["decision rows"] <= 2
        assert counts["record rows"] <= 1
        assert counts["fits"] == 2 and front["fits"] == 0
    session.close()


def test_rankings_fitted_ahead_of_time_are_those_fitted_after_the_decision(review):
    with open_store(review) as store:
        by_title = {r.title: r.id for r in store.records()}
    with ScreeningSession(review, "ann") as live:
        live.decide(by_title[RECORDS[0][0]], "include")
        live.decide(by_title[RECORDS[3][0]], "exclude")
        for step in range(6):
            nxt = live.next()
            live.decide(nxt.record.id, "exclude" if step % 3 else "include")
            queue, how = live.queue()
            with ScreeningSession(review, "ann") as fresh:  # a new session fits from scratch
                fresh_queue, fresh_how = fresh.queue()
            assert how.ordering == fresh_how.ordering == "model"
            assert [r.id for r in queue] == [r.id for r in fresh_queue]


def test_terms_absent_from_the_labelled_records_do_not_enter_the_fit():
    # rank_unlabelled fits on the terms of the labelled rows only; the coefficients of the
    # other terms are exactly zero, and the rest is the fit on every term (the minimiser is
    # unique: the penalised objective is strictly convex)
    x = sp.csr_matrix(
        np.array(
            [
                [0.6, 0.8, 0.0, 0.0, 0.0],
                [0.0, 0.6, 0.8, 0.0, 0.0],
                [0.8, 0.0, 0.6, 0.0, 0.0],
                [0.0, 0.0, 0.0, 0.6, 0.8],
                [0.0, 0.0, 0.0, 0.0, 1.0],
            ]
        )
    )
    labels = {0: 1, 1: 0, 2: 1}
    order, fit = rank_unlabelled(x, labels, model="logistic")
    full = fit_logistic(x[[0, 1, 2]], [1, 0, 1])
    assert fit.coef[3] == 0.0 and fit.coef[4] == 0.0
    assert full.coef[3] == 0.0 and full.coef[4] == 0.0
    np.testing.assert_allclose(fit.coef[:3], full.coef[:3], rtol=0, atol=1e-9)  # optimiser tolerance
    assert fit.intercept == pytest.approx(full.intercept, abs=1e-9)
    assert order == [3, 4]  # both scores are the intercept alone: ties keep row order
