"""A screening session: the logic shared by the terminal and the web page.

One reviewer screens one stage (``title_abstract`` or ``full_text``) of one review. The
session serves the next record (ranked by the relevance model once the reviewer has made at
least one include and one exclude decision at the stage, before that in import order),
records decisions, withdraws the last one (undo), skips records for the rest of the session,
counts progress, and lists and resolves conflicts.

Independent screening: a reviewer is never shown the other reviewers' decisions while
screening, and the model that ranks a reviewer's records is trained on that reviewer's own
decisions only (``maybe`` counting as include: a record in doubt is ranked as a relevant one).
Conflicts (disagreements, or any ``maybe``) are settled afterwards by a third reviewer or by
the reviewers together (consensus); the resolution records which.

A session keeps one connection to the record store, used under the session's lock (so it can
serve a web page from several threads); every write is one of the store's transactions, so a
session survives being killed. It reads the store afresh on every call (other reviewers may
screen at the same time), but only what was added since its previous call.
"""

from __future__ import annotations

import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from trialsynth._core.errors import InputError
from trialsynth.io.records.store import (
    DECISIONS,
    STAGES,
    Decision,
    Record,
    RecordStore,
    ScreeningView,
    connect_store,
    open_store,
)
from trialsynth.stats.agreement import two_rater_agreement
from trialsynth.workflow.screening.model import screening_features
from trialsynth.workflow.screening.rank import rank_unlabelled, warn_unconverged
from trialsynth.workflow.screening.sampling import (
    SamplingPlan,
    StoppingState,
    load_plan,
    plans,
    start_plan,
    stopping_state,
)

__all__ = [
    "DEFAULT_EXCLUSION_REASONS",
    "Conflict",
    "Next",
    "Progress",
    "ScreeningSession",
    "cohen_kappa",
    "exclusion_reasons",
    "screening_agreement",
    "screening_stopping",
    "screening_summary",
]

#: Reasons for excluding a report at full text, used when review.toml has no
#: ``[screening] exclusion_reasons``.
DEFAULT_EXCLUSION_REASONS = (
    "Wrong population",
    "Wrong intervention",
    "Wrong comparator",
    "Wrong outcomes",
    "Wrong study design (not a randomized trial)",
    "Duplicate report",
    "Full text not retrievable",
    "Ongoing trial without results",
)
_SCREENING_KEYS = ("exclusion_reasons",)


def exclusion_reasons(review_dir: str | Path) -> tuple[str, ...]:
    """The review's list of full-text exclusion reasons: ``[screening] exclusion_reasons``
    of review.toml (a list of distinct, non-empty texts), else :data:`DEFAULT_EXCLUSION_REASONS`."""
    path = Path(review_dir) / "review.toml"
    if not path.is_file():
        return DEFAULT_EXCLUSION_REASONS
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"review.toml cannot be read ({exc})", file=str(path)) from None
    table = data.get("screening")
    if table is None:
        return DEFAULT_EXCLUSION_REASONS
    if not isinstance(table, dict):
        raise InputError("[screening] must be a table", file=str(path))
    for key in table:
        if key not in _SCREENING_KEYS:
            raise InputError(
                f"unknown key '{key}' in [screening]; the keys allowed are: {', '.join(_SCREENING_KEYS)}",
                file=str(path),
            )
    reasons = table.get("exclusion_reasons")
    if reasons is None:
        return DEFAULT_EXCLUSION_REASONS
    if not isinstance(reasons, list) or not reasons or not all(isinstance(r, str) for r in reasons):
        raise InputError("[screening] exclusion_reasons must be a non-empty list of texts", file=str(path))
    cleaned = [r.strip() for r in reasons]
    if any(not r for r in cleaned):
        raise InputError("[screening] exclusion_reasons has an empty reason", file=str(path))
    seen: set[str] = set()
    for r in cleaned:
        if r.casefold() in seen:
            raise InputError(f"[screening] exclusion_reasons lists '{r}' twice", file=str(path))
        seen.add(r.casefold())
    return tuple(cleaned)


@dataclass(frozen=True)
class Progress:
    """Counts for one reviewer at one stage. ``total``: records that go through the stage;
    ``decided``: those this reviewer decided (``include``/``exclude``/``maybe`` split them);
    ``remaining``: those left for this reviewer (``skipped`` of them set aside in this
    session); ``pending``/``agreed``/``conflicts``/``resolved``: the records' states with
    all reviewers' decisions (see :meth:`RecordStore.screening`)."""

    stage: str
    reviewer: str
    total: int
    decided: int
    include: int
    exclude: int
    maybe: int
    remaining: int
    skipped: int
    pending: int
    agreed: int
    conflicts: int
    resolved: int
    reviewers_required: int


@dataclass(frozen=True)
class Next:
    """The next record for the reviewer (``None`` when nothing is left) and how the queue is
    ordered: ``ordering`` is ``model`` (ranked by the relevance model, trained on
    ``trained_include`` include/maybe and ``trained_exclude`` exclude decisions),
    ``import`` (import order: the model needs one include and one exclude first),
    ``sample`` (the random-sampling phase of the stopping rule: the records in the order
    drawn, see :mod:`trialsynth.workflow.screening.sampling`) or ``undo`` (the record whose
    decision was just withdrawn comes back first)."""

    record: Record | None
    ordering: str
    trained_include: int
    trained_exclude: int


@dataclass(frozen=True)
class Conflict:
    """A record in conflict at a stage, with every reviewer's current decision."""

    record: Record
    decisions: tuple[Decision, ...]


@dataclass(frozen=True)
class _Snapshot:
    ids: tuple[int, ...]
    view: ScreeningView
    mine: dict[int, Decision]
    open_ids: list[int]
    required: int


class ScreeningSession:
    """One reviewer's screening of one stage of the review in ``review_dir``."""

    def __init__(
        self,
        review_dir: str | Path,
        reviewer: str,
        stage: str = "title_abstract",
        *,
        reasons: tuple[str, ...] | None = None,
        rank: bool = True,
    ) -> None:
        if stage not in STAGES:
            raise InputError(f"the screening stage is 'title_abstract' or 'full_text', not '{stage}'")
        if not reviewer or not reviewer.strip():
            raise InputError("say who is screening: --reviewer NAME (or TRIALSYNTH_REVIEWER)")
        self.review_dir = Path(review_dir)
        self.reviewer = reviewer.strip()
        self.stage = stage
        self.reasons = exclusion_reasons(review_dir) if reasons is None else tuple(reasons)
        self.rank = rank
        self.skipped: dict[int, int] = {}  # record id → when it was skipped (a counter)
        self._skips = 0
        self._front: int | None = None
        self._features: tuple[tuple[int, ...], sp.csr_matrix] | None = None
        self._rows: dict[int, int] = {}  # record id → row of the feature matrix
        # rankings of the records without this reviewer's decision (record ids, most probably
        # included first, and the fit), by the labels the model was fitted on
        self._fits: dict[object, tuple[np.ndarray, Any] | None] = {}
        self._fit_lock = threading.Lock()
        self._warm: tuple[tuple[int, ...], np.ndarray] | None = None  # the latest fit's (β, b)
        self._shown_key: object = None
        self._generation = 0  # counts the decisions made: fits ahead for an earlier one stop
        self._ahead: threading.Thread | None = None
        self._records: dict[int, Record] = {}
        self._view = ScreeningView(stage)
        self._lock = threading.RLock()
        self._connection: RecordStore | None = None
        with self._store():
            pass  # the store must exist: refuse a review without records at once

    @contextmanager
    def _store(self) -> Iterator[RecordStore]:
        # one connection for the session (opening and closing one per call costs more than
        # a screening step); every write is still its own transaction
        with self._lock:
            if self._connection is None:
                self._connection = connect_store(self.review_dir, create=False, threads=True)
            yield self._connection

    def close(self) -> None:
        """Close the session's connection to the record store (reopened if used again),
        after the fit ahead of time under way, if any, has finished."""
        self._generation += 1
        if self._ahead is not None:
            self._ahead.join()
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def __enter__(self) -> ScreeningSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the queue
    def _snapshot(self, store: RecordStore) -> _Snapshot:
        """Where the stage stands: the stage's records (import order), this reviewer's
        current decisions on them, and the records this reviewer still has to decide: not
        resolved, without this reviewer's decision and decided by fewer reviewers than
        required (a record with one reviewer's ``maybe`` is already a conflict, but still
        needs its second independent reviewer). The session's view of the stage reads only
        what the store gained since the previous call."""
        view = self._view
        view.refresh(store)
        members = view.members
        mine = {i: d for i, d in view.by_reviewer.get(self.reviewer, {}).items() if i in members}
        closed = view.closed()
        open_ids = [i for i in view.ids if i not in closed and i not in mine]
        return _Snapshot(view.ids, view, mine, open_ids, view.required)

    def _record(self, store: RecordStore, record_id: int) -> Record:
        # records never change once imported, so they are kept for the session
        if record_id not in self._records:
            self._records[record_id] = store.record(record_id)
        return self._records[record_id]

    def _feature_matrix(self, store: RecordStore, ids: tuple[int, ...]) -> sp.csr_matrix:
        # the model's features are computed once per set of records of the stage
        if self._features is None or self._features[0] != ids:
            texts = [f"{title}\n{abstract}" for title, abstract in store.record_texts(ids)]
            self._features = (ids, screening_features(texts))
            self._rows = {rid: i for i, rid in enumerate(ids)}
        return self._features[1]

    def _order(self, store: RecordStore, snap: _Snapshot) -> tuple[list[int], str, int, int]:
        """The open records' ids in the order they will be shown, the ordering's name and
        the numbers of include/maybe and exclude decisions the model was trained on."""
        n_inc = sum(1 for d in snap.mine.values() if d.decision in ("include", "maybe"))
        n_exc = sum(1 for d in snap.mine.values() if d.decision == "exclude")
        ordering = "import"
        ordered = snap.open_ids
        plan = load_plan(store, self.stage, self.reviewer)
        if plan is not None:
            # random sampling: records outside the urn first (import order), then the urn in
            # the order drawn
            open_set = set(snap.open_ids)
            urn = set(plan.order)
            outside = [i for i in snap.open_ids if i not in urn]
            ordered = outside + [i for i in plan.order if i in open_set]
            ordering = "sample" if ordered and not outside else "import"
        elif self.rank and n_inc and n_exc and snap.open_ids:
            features = self._feature_matrix(store, snap.ids)
            row = self._rows
            labels = {row[rid]: int(d.decision != "exclude") for rid, d in snap.mine.items()}
            ranked_ids = self._ranking(snap.ids, features, labels, foreground=True)
            if ranked_ids is not None:
                ordering = "model"
                ordered = ranked_ids[np.isin(ranked_ids, snap.open_ids)].tolist()
        if self.skipped:
            ordered = [i for i in ordered if i not in self.skipped] + sorted(
                (i for i in ordered if i in self.skipped), key=lambda i: self.skipped[i]
            )
        if self._front is not None and self._front in ordered:
            ordered = [self._front] + [i for i in ordered if i != self._front]
            ordering = "undo"
        return ordered, ordering, n_inc, n_exc

    def _ranking(
        self, ids: tuple[int, ...], features: sp.csr_matrix, labels: dict[int, int], *, foreground: bool
    ) -> np.ndarray | None:
        """The record ids without a label, most probably included first, from the model
        fitted on ``labels`` (feature row → 0/1); ``None`` until both labels occur. A model
        is fitted once per set of labels: the session keeps the last few rankings, including
        those fitted ahead of time (see :meth:`_fit_ahead`). Warns, in the foreground, when
        the fit behind the ranking served did not converge."""
        key = (ids, tuple(sorted(labels.items())))
        with self._fit_lock:  # one fit at a time: waits for a fit ahead of time to finish
            if key not in self._fits:
                # warm start from the session's latest fit on the same records: the minimiser
                # is unique, so the start changes the work (a step or two), not the ranking
                # beyond the solver's tolerance
                start = self._warm[1] if self._warm is not None and self._warm[0] == ids else None
                ranked = rank_unlabelled(features, labels, start=start, warn=False)
                result = None if ranked is None else (np.asarray(ids)[ranked[0]], ranked[1])
                if ranked is not None:
                    self._warm = (ids, np.append(ranked[1].coef, ranked[1].intercept))
                self._fits[key] = result
                while len(self._fits) > 4:
                    del self._fits[next(iter(self._fits))]
            result = self._fits[key]
        if result is None:
            return None
        if foreground and key != self._shown_key:  # a ranking shown for the first time
            warn_unconverged(result[1], stacklevel=5)
            self._shown_key = key
        return result[0]

    def _fit_ahead(self, snap: _Snapshot, record_id: int) -> None:
        """Fit, in a background thread, the models the reviewer's decision on the record
        just shown will call for (it adds that record as included, or as excluded), while
        the reviewer reads it: the next record is then ready as soon as they decide. The
        rankings are the very ones a fit after the decision would give (same fit, same data)."""
        if not self.rank or self._features is None or self._features[0] != snap.ids:
            return
        features = self._features[1]
        row = self._rows
        labels = {row[rid]: int(d.decision != "exclude") for rid, d in snap.mine.items()}
        if record_id not in row or row[record_id] in labels:
            return
        # the decision the model expects first (include when the record's score puts it on the
        # included side)
        key = (snap.ids, tuple(sorted(labels.items())))
        current = self._fits.get(key)
        likely = (
            1 if current is not None and current[1].decision_function(features[row[record_id]])[0] >= 0 else 0
        )
        sets = [{**labels, row[record_id]: y} for y in (likely, 1 - likely)]
        if not all(len(set(s.values())) == 2 for s in sets):
            return  # one of them cannot train a model yet: nothing worth fitting ahead

        generation = self._generation

        def work() -> None:
            for labelled in sets:
                if self._generation != generation:
                    return  # the reviewer has decided meanwhile: the fit still wanted is done in front
                self._ranking(snap.ids, features, labelled, foreground=False)

        # not a daemon: the interpreter waits for a fit under way before it exits
        self._ahead = threading.Thread(target=work, name="trialsynth-fit-ahead")
        self._ahead.start()

    def _next(self, store: RecordStore, snap: _Snapshot) -> tuple[list[int], Next]:
        ordered, ordering, n_inc, n_exc = self._order(store, snap)
        first = self._record(store, ordered[0]) if ordered else None
        if first is not None and ordering == "model":
            self._fit_ahead(snap, first.id)
        return ordered, Next(first, ordering, n_inc, n_exc)

    def queue(self) -> tuple[list[Record], Next]:
        """The records left for this reviewer, in the order they will be shown (skipped ones
        last), and how they are ordered (with the first record)."""
        with self._lock, self._store() as store:
            ordered, nxt = self._next(store, self._snapshot(store))
            return [self._record(store, i) for i in ordered], nxt

    def next(self) -> Next:
        """The next record to screen (``record`` is ``None`` when none is left). Skipped
        records come after all the others, and again in turn once only they are left."""
        return self.status()[0]

    def status(self) -> tuple[Next, Progress]:
        """The next record and the progress counts, from one reading of the store."""
        with self._lock, self._store() as store:
            snap = self._snapshot(store)
            return self._next(store, snap)[1], self._progress(snap)

    def progress(self) -> Progress:
        with self._lock, self._store() as store:
            return self._progress(self._snapshot(store))

    def _progress(self, snap: _Snapshot) -> Progress:
        counts = snap.view.counts
        mine = snap.mine.values()
        return Progress(
            stage=self.stage,
            reviewer=self.reviewer,
            total=len(snap.ids),
            decided=len(snap.mine),
            include=sum(1 for d in mine if d.decision == "include"),
            exclude=sum(1 for d in mine if d.decision == "exclude"),
            maybe=sum(1 for d in mine if d.decision == "maybe"),
            remaining=len(snap.open_ids),
            skipped=sum(1 for i in snap.open_ids if i in self.skipped),
            pending=snap.view.pending(),
            agreed=counts["agreed"],
            conflicts=counts["conflict"],
            resolved=counts["resolved"],
            reviewers_required=snap.required,
        )

    # ------------------------------------------------------------------ stopping rule
    def start_sampling(
        self, target: float = 0.95, confidence: float = 0.95, *, seed: int | None = None
    ) -> SamplingPlan:
        """End the ranked phase and begin the stopping rule's random sample: the records still
        open to this reviewer are drawn in a random order (from ``seed``, stored with the plan
        in the record store) and shown in that order from now on. Calling it again with the
        same rule returns the stored plan (a restart); another rule is refused."""
        with self._lock, self._store() as store:
            snap = self._snapshot(store)
            return start_plan(
                store,
                self.stage,
                self.reviewer,
                snap.open_ids,
                target=target,
                confidence=confidence,
                seed=seed,
            )

    def stopping_state(self) -> StoppingState:
        """Where the stopping rule stands for this reviewer at this stage (see
        :func:`trialsynth.workflow.screening.sampling.stopping_state`)."""
        with self._lock, self._store() as store:
            snap = self._snapshot(store)
            plan = load_plan(store, self.stage, self.reviewer)
            return stopping_state(self.stage, self.reviewer, plan, snap.mine, snap.open_ids, len(snap.ids))

    # ------------------------------------------------------------------ decisions
    def decide(self, record_id: int, decision: str, *, reason: str = "", note: str = "") -> Decision:
        """Record this reviewer's decision on a record. At full text an exclusion needs one
        of the review's exclusion reasons; at title/abstract a reason is optional."""
        if decision not in ("include", "exclude", "maybe"):
            raise InputError(f"a decision is include, exclude or maybe, not '{decision}'")
        reason = reason.strip()
        if self.stage == "full_text" and decision == "exclude":
            if reason not in self.reasons:
                raise InputError(
                    "an exclusion at full text needs one of the review's reasons: " + "; ".join(self.reasons)
                )
        elif decision != "exclude" and reason:
            raise InputError("only an exclusion takes a reason")
        with self._lock, self._store() as store:
            self._view.refresh(store)
            if record_id not in self._view.members:
                raise InputError(f"record {record_id} is not screened at the {self.stage} stage")
            made = store.add_decision(
                record_id, self.stage, self.reviewer, decision, reason=reason, note=note
            )
        self._generation += 1
        self.skipped.pop(record_id, None)
        if self._front == record_id:
            self._front = None
        return made

    def skip(self, record_id: int) -> None:
        """Set a record aside until every other record was shown (this session only)."""
        with self._lock:
            self._skips += 1
            self.skipped[record_id] = self._skips  # skipped again: to the end of the skipped ones
            if self._front == record_id:
                self._front = None

    def undo(self) -> Decision | None:
        """Withdraw this reviewer's latest decision at this stage (it stays in the store's
        history) and show that record next; ``None`` when there is nothing to undo."""
        with self._lock, self._store() as store:
            last = store.last_decision(self.stage, self.reviewer)
            if last is None:
                return None
            store.withdraw("decision", last.id, self.reviewer)
        self._front = last.record_id
        self.skipped.pop(last.record_id, None)
        return last

    # ------------------------------------------------------------------ conflicts
    def conflicts(self) -> list[Conflict]:
        """The records in conflict at this stage, in import order."""
        with self._lock, self._store() as store:
            return [Conflict(store.record(s.record_id), s.decisions) for s in store.conflicts(self.stage)]

    def resolve(self, record_id: int, decision: str, *, reason: str = "", note: str = "") -> str:
        """Settle a conflict with the final include/exclude (at full text an exclusion needs
        one of the review's reasons). The resolution is marked ``consensus`` when this
        reviewer is one of those who decided the record, else ``third reviewer``; returns which."""
        if decision not in ("include", "exclude"):
            raise InputError(f"a resolution is include or exclude, not '{decision}'")
        reason = reason.strip()
        if self.stage == "full_text" and decision == "exclude" and reason not in self.reasons:
            raise InputError(
                "an exclusion at full text needs one of the review's reasons: " + "; ".join(self.reasons)
            )
        with self._lock, self._store() as store:
            conflict = {s.record_id: s for s in store.conflicts(self.stage)}.get(record_id)
            if conflict is None:
                raise InputError(f"record {record_id} is not in conflict at the {self.stage} stage")
            how = (
                "consensus" if self.reviewer in {d.reviewer for d in conflict.decisions} else "third reviewer"
            )
            full_note = how if not note.strip() else f"{how}: {note.strip()}"
            store.resolve(record_id, self.stage, decision, self.reviewer, reason=reason, note=full_note)
        return how

    def undo_resolution(self) -> int | None:
        """Withdraw the latest resolution this reviewer recorded at this stage; the record
        is in conflict again. Returns its record id (``None`` when there is none)."""
        with self._lock, self._store() as store:
            mine = [
                r
                for r in store.resolutions()
                if r["stage"] == self.stage and r["resolved_by"] == self.reviewer
            ]
            if not mine:
                return None
            last = max(mine, key=lambda r: int(r["id"]))
            store.withdraw("resolution", int(last["id"]), self.reviewer)
            return int(last["record_id"])

    def export(self) -> None:
        """Rewrite the plain-text copy of the store (``REVIEW_DIR/records/*.csv``)."""
        from trialsynth.io.records.export import export_store

        with self._lock, self._store() as store:
            export_store(store, self.review_dir)


def cohen_kappa(pairs: list[tuple[str, str]]) -> float | None:
    """Cohen's kappa (Cohen, *Educ Psychol Meas* 1960;20:37–46) of two reviewers' decisions
    on the same records, ``pairs`` of (first reviewer's, second reviewer's) decision:
    κ = (p_o − p_e)/(1 − p_e), p_o the share of records on which they agree and p_e the
    agreement expected by chance, Σ_c p_1(c)·p_2(c) over the categories c. ``None`` when
    there are no pairs or p_e = 1 (both gave one and the same decision throughout)."""
    n = len(pairs)
    if n == 0:
        return None
    categories = {c for pair in pairs for c in pair}
    p_o = sum(1 for a, b in pairs if a == b) / n
    p_e = sum(
        (sum(1 for a, _ in pairs if a == c) / n) * (sum(1 for _, b in pairs if b == c) / n)
        for c in categories
    )
    if p_e >= 1:
        return None
    return (p_o - p_e) / (1 - p_e)


def screening_agreement(review_dir: str | Path) -> dict[str, dict[str, Any]]:
    """The two-screener part of :func:`screening_summary`, per stage with decisions: each pair
    of reviewers' records both decided, agreed and in conflict, Cohen's κ and Gwet's AC1
    (:func:`trialsynth.stats.agreement.two_rater_agreement`), and how the stage's conflicts
    were resolved (consensus, third reviewer, still open). For PRISMA output and the report."""
    summary = screening_summary(review_dir)
    return {
        stage: {
            "agreement": summary[stage]["agreement"],
            "conflict_resolution": summary[stage]["conflict_resolution"],
        }
        for stage in STAGES
        if summary[stage]["agreement"]
    }


def screening_stopping(review_dir: str | Path) -> list[StoppingState]:
    """The stopping rule's state for every reviewer and stage that began random sampling
    (title/abstract first), for the PRISMA notes and the report."""
    with open_store(review_dir, create=False) as store:
        begun = [(p.stage, p.reviewer) for p in plans(store)]
    out = []
    for stage, reviewer in begun:
        with ScreeningSession(review_dir, reviewer, stage, rank=False) as session:
            out.append(session.stopping_state())
    return out


def screening_summary(review_dir: str | Path) -> dict[str, Any]:
    """Where screening stands at each stage, for a report or a script: the records' states,
    the final decisions (and at full text the exclusion reasons), each reviewer's counts,
    Cohen's kappa for each pair of reviewers over the records both decided, and the
    conflicts with every reviewer's decision."""
    out: dict[str, Any] = {}
    with open_store(review_dir, create=False) as store:
        for stage in STAGES:
            states = store.screening(stage)
            by_reviewer: dict[str, dict[int, str]] = {}
            for st in states:
                for d in st.decisions:
                    by_reviewer.setdefault(d.reviewer, {})[st.record_id] = d.decision
            final = [st for st in states if st.status in ("agreed", "resolved")]
            reasons: dict[str, int] = {}
            for st in final:
                if st.decision == "exclude" and st.reason:
                    reasons[st.reason] = reasons.get(st.reason, 0) + 1
            names = sorted(by_reviewer)
            agreement = []
            for i, a in enumerate(names):
                for b in names[i + 1 :]:
                    common = sorted(set(by_reviewer[a]) & set(by_reviewer[b]))
                    pairs = [(by_reviewer[a][r], by_reviewer[b][r]) for r in common]
                    # Cohen's κ and Gwet's AC1 on include/exclude/maybe, or on the 2 × 2 table of
                    # include/exclude when neither used maybe (AC1's chance term counts the
                    # categories: a scale of two when only two were open to them)
                    used = [c for c in DECISIONS if c != "maybe" or any(c in p for p in pairs)]
                    table = [[sum(1 for p in pairs if p == (x, y)) for y in used] for x in used]
                    ag = two_rater_agreement(table)
                    agreement.append(
                        {
                            "reviewers": [a, b],
                            "records": len(pairs),
                            "agreed": sum(1 for x, y in pairs if x == y),
                            "conflicts": sum(1 for x, y in pairs if x != y),
                            "kappa": ag.kappa,
                            "ac1": ag.ac1,
                        }
                    )
            resolved_how = {"consensus": 0, "third_reviewer": 0}
            latest = {(r["record_id"], r["stage"]): r for r in store.resolutions()}
            for st in states:
                r = latest.get((st.record_id, stage))
                if st.status == "resolved" and r is not None:
                    mine = r["resolved_by"] in {d.reviewer for d in st.decisions}
                    resolved_how["consensus" if mine else "third_reviewer"] += 1
            out[stage] = {
                "records": len(states),
                **{
                    k: sum(1 for st in states if st.status == k)
                    for k in ("pending", "agreed", "conflict", "resolved")
                },
                "included": sum(1 for st in final if st.decision == "include"),
                "excluded": sum(1 for st in final if st.decision == "exclude"),
                "exclusion_reasons": dict(sorted(reasons.items())),
                "reviewers": {
                    name: {
                        k: sum(1 for v in by_reviewer[name].values() if v == k)
                        for k in ("include", "exclude", "maybe")
                    }
                    for name in names
                },
                "agreement": agreement,
                "conflict_resolution": {
                    **resolved_how,
                    "open": sum(1 for st in states if st.status == "conflict"),
                },
                "conflicts": [
                    {
                        "record_id": st.record_id,
                        "title": store.record(st.record_id).title,
                        "decisions": [
                            {
                                "reviewer": d.reviewer,
                                "decision": d.decision,
                                "reason": d.reason,
                                "note": d.note,
                            }
                            for d in st.decisions
                        ],
                    }
                    for st in states
                    if st.status == "conflict"
                ],
            }
        out["reviewers_required"] = store.reviewers_required
    return out
