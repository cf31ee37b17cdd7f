"""The stopping rule on a real screening: the random-sampling phase and its live state.

Prioritised screening has two phases (Callaghan & Müller-Hansen, *Systematic Reviews*
2020;9:273; the test itself is in :mod:`trialsynth.workflow.screening.stopping`). In the
ranked phase a reviewer screens the records the model ranks highest. When the reviewer judges
that phase over (``trialsynth screen --stop-rule recall:0.95,confidence:0.95``; the session
suggests it once the reviewer's last decisions were a long run of exclusions, see
:func:`~trialsynth.workflow.screening.stopping.ranked_phase_over`), the session draws a
*sampling plan*: the records this reviewer has not decided yet (the urn, N records) in a
uniformly random order, from a seed it stores. From then on the reviewer is shown the urn in
that order, and after each decision the hypergeometric test is computed on the records of the
urn decided so far.

The plan is kept in the record store (``REVIEW_DIR/records.sqlite``, settings table, key
``stopping/<stage>/<reviewer>``, JSON: the rule, the seed, when it began and the urn's record
ids in the order drawn), written in one transaction: it survives a restart, the order can be
re-drawn from the seed (:func:`draw_order`), and the state is recomputed from the stored
decisions every time it is asked for.

What counts as sampled: the longest run of the urn, in the order drawn, that the reviewer has
decided (a record skipped or withdrawn ends the run until it is decided), so that the sample
stays the first n records of a random permutation whatever order the reviewer actually
worked in. ``maybe`` counts as included (as for the ranking model); included records found
outside the urn count towards r_AL, the ranked phase. Records the reviewer has still to decide
outside the urn (imported after the plan was drawn, or whose decision was withdrawn) come
first in the queue, and the test does not say "stop" while any is left.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from trialsynth._core.errors import InputError
from trialsynth.io.records.store import STAGES, Decision, RecordStore
from trialsynth.workflow.screening.stopping import StopTest, first_stop, ranked_phase_over, stop_test

__all__ = [
    "SamplingPlan",
    "StoppingState",
    "draw_order",
    "load_plan",
    "plans",
    "start_plan",
    "stopping_state",
]

_PREFIX = "stopping/"


def _key(stage: str, reviewer: str) -> str:
    return f"{_PREFIX}{stage}/{reviewer}"


def draw_order(record_ids, seed: int) -> tuple[int, ...]:
    """The urn's records in a uniformly random order: the ids sorted, then permuted by
    NumPy's PCG64 generator seeded with ``seed`` (the same ids and seed give the same order)."""
    ids = np.asarray(sorted(int(i) for i in record_ids), dtype=np.int64)
    return tuple(int(i) for i in ids[np.random.default_rng(seed).permutation(ids.size)])


@dataclass(frozen=True)
class SamplingPlan:
    """A reviewer's random-sampling phase at one stage: the rule (recall ``target``,
    ``confidence``), the ``seed`` of the draw, when it ``began`` (UTC, ISO 8601) and the urn's
    record ids in the order drawn (``order``)."""

    stage: str
    reviewer: str
    target: float
    confidence: float
    seed: int
    began: str
    order: tuple[int, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "target_recall": self.target,
                "confidence": self.confidence,
                "seed": self.seed,
                "began": self.began,
                "order": list(self.order),
            }
        )

    @classmethod
    def from_json(cls, stage: str, reviewer: str, text: str) -> SamplingPlan:
        data = json.loads(text)
        return cls(
            stage=stage,
            reviewer=reviewer,
            target=float(data["target_recall"]),
            confidence=float(data["confidence"]),
            seed=int(data["seed"]),
            began=str(data["began"]),
            order=tuple(int(i) for i in data["order"]),
        )


def load_plan(store: RecordStore, stage: str, reviewer: str) -> SamplingPlan | None:
    """The reviewer's sampling plan at the stage, ``None`` before sampling began."""
    text = store.setting(_key(stage, reviewer))
    return None if text is None else SamplingPlan.from_json(stage, reviewer, text)


def plans(store: RecordStore) -> list[SamplingPlan]:
    """Every sampling plan in the store, by stage (title/abstract first) and reviewer."""
    out = []
    for key, text in store.settings_under(_PREFIX).items():
        stage, _, reviewer = key[len(_PREFIX) :].partition("/")
        if stage in STAGES:
            out.append(SamplingPlan.from_json(stage, reviewer, text))
    return sorted(out, key=lambda p: (STAGES.index(p.stage), p.reviewer))


def start_plan(
    store: RecordStore,
    stage: str,
    reviewer: str,
    open_ids,
    *,
    target: float,
    confidence: float,
    seed: int | None = None,
) -> SamplingPlan:
    """Begin the random-sampling phase: draw the order of the records still open to the
    reviewer (``open_ids``) and store the plan. A plan already stored is returned as it is
    when the rule is the same; a different rule is refused (changing the target after seeing
    the sample would void the test's promise). ``seed`` defaults to 63 random bits."""
    existing = load_plan(store, stage, reviewer)
    if existing is not None:
        if (existing.target, existing.confidence) != (target, confidence):
            raise InputError(
                f"{reviewer} began random sampling at the {stage} stage with the rule "
                f"recall:{existing.target:g},confidence:{existing.confidence:g}; it cannot change "
                "once sampling has begun"
            )
        return existing
    if seed is None:
        seed = secrets.randbits(63)
    plan = SamplingPlan(
        stage=stage,
        reviewer=reviewer,
        target=target,
        confidence=confidence,
        seed=int(seed),
        began=datetime.now(UTC).isoformat(timespec="seconds"),
        order=draw_order(open_ids, seed),
    )
    store.set_setting(_key(stage, reviewer), plan.to_json())
    return plan


@dataclass(frozen=True)
class StoppingState:
    """Where the stopping rule stands for one reviewer at one stage.

    ``sampling``: whether the random-sampling phase has begun (``plan``). Before it,
    ``ranked_phase_over`` says whether the reviewer's latest decisions were a run of
    exclusions long enough to suggest beginning it. Once sampling: ``test`` is the test at the
    stop (if the rule has stopped) or after the records sampled so far; ``stopped_at`` the
    number of records the reviewer had screened at the stage when the rule first stopped
    (ranked phase plus sample), ``None`` while it has not; ``screened`` the records the reviewer
    has screened now; ``outside_open`` the records still to decide outside the urn."""

    stage: str
    reviewer: str
    sampling: bool
    ranked_phase_over: bool
    screened: int
    plan: SamplingPlan | None = None
    test: StopTest | None = None
    stopped_at: int | None = None
    outside_open: int = 0

    @property
    def stopped(self) -> bool:
        return self.stopped_at is not None

    def sentence(self) -> str:
        """One line for the reviewer and the PRISMA notes ("screening stopped at record N:
        recall ≥ 95% with 95% confidence, p = …" once the rule has stopped)."""
        if self.plan is None or self.test is None:
            if self.ranked_phase_over:
                return (
                    "stopping rule: your latest decisions were all exclusions; to test when to stop, "
                    "begin random sampling (screen --stop-rule recall:0.95,confidence:0.95)"
                )
            return "stopping rule: ranked phase (random sampling not begun)"
        if self.stopped_at is not None:
            return self.test.sentence(self.stopped_at)
        line = self.test.sentence()
        if self.outside_open:
            plural = "" if self.outside_open == 1 else "s"
            line += f"; {self.outside_open} record{plural} outside the sample to screen first"
        return line

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "reviewer": self.reviewer,
            "sampling": self.sampling,
            "ranked_phase_over": self.ranked_phase_over,
            "screened": self.screened,
            "stopped": self.stopped,
            "stopped_at": self.stopped_at,
            "outside_open": self.outside_open,
            "seed": None if self.plan is None else self.plan.seed,
            "began": None if self.plan is None else self.plan.began,
            "test": None if self.test is None else self.test.to_dict(),
            "sentence": self.sentence(),
        }


def stopping_state(
    stage: str,
    reviewer: str,
    plan: SamplingPlan | None,
    mine: dict[int, Decision],
    open_ids,
    n_records: int,
) -> StoppingState:
    """The state of the stopping rule from the reviewer's current decisions at the stage
    (``mine``: record id → decision), the records still open to them and the stage's size."""
    screened = len(mine)
    if plan is None:
        in_order = [int(d.decision != "exclude") for d in sorted(mine.values(), key=lambda d: d.id)]
        return StoppingState(stage, reviewer, False, ranked_phase_over(in_order, n_records), screened)
    urn = set(plan.order)
    outside = [d for rid, d in mine.items() if rid not in urn]
    relevant_ranked = sum(1 for d in outside if d.decision != "exclude")
    sample: list[int] = []
    for rid in plan.order:
        d = mine.get(rid)
        if d is None:
            break
        sample.append(int(d.decision != "exclude"))
    outside_open = sum(1 for i in open_ids if i not in urn)
    kw = {"target": plan.target, "confidence": plan.confidence}
    n = first_stop(len(plan.order), relevant_ranked, sample, **kw) if not outside_open else None
    sampled = len(sample) if n is None else n
    test = stop_test(len(plan.order), relevant_ranked, sampled, sum(sample[:sampled]), **kw)
    return StoppingState(
        stage=stage,
        reviewer=reviewer,
        sampling=True,
        ranked_phase_over=True,
        screened=screened,
        plan=plan,
        test=test,
        stopped_at=None if n is None else len(outside) + n,
        outside_open=outside_open,
    )
