"""The stopping rule keeps its promise: over many seeded runs, the recall reached when it stops
is at least the target in at least the stated share of runs (Callaghan & Müller-Hansen 2020).

The promise holds for every ranked phase, as long as the rest is sampled uniformly at random;
the runs below vary the random sample (the seed) on fixed ranked orders: hard synthetic ones
(the ranked phase stops with recall just under or far under the target, or with the urn's
includes hidden among many records) and the model's order on the shared labelled sets.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.stats import binom

from trialsynth.cli import main
from trialsynth.workflow.screening.simulate import read_labelled, simulate
from trialsynth.workflow.screening.stopping import simulate_stop, stop_test

RUNS = 300  # seeded sampling runs per ranked order (CI-sized: each run is one vectorised pass)
FIXTURE = Path(__file__).parents[1] / "fixtures" / "screening" / "labelled.csv"
SHARED = next(
    (
        p / "shared" / "screening"
        for p in Path(__file__).resolve().parents
        if (p / "shared" / "screening").is_dir()
    ),
    None,
)


def _share_meeting_target(labels_in_order, target, confidence, runs=RUNS, run=None):
    outcomes = [
        simulate_stop(
            labels_in_order, target=target, confidence=confidence, rng=np.random.default_rng([7, s]), run=run
        )
        for s in range(runs)
    ]
    recall = np.array([o.recall for o in outcomes])
    return float(np.mean(recall >= target - 1e-12)), outcomes


def _keeps_promise(share: float, confidence: float, runs: int = RUNS) -> bool:
    """Whether ``share`` of ``runs`` seeded runs meeting the target is consistent with the
    promise P(recall ≥ target) ≥ confidence: the one-sided binomial test rejects the promise
    only when so few successes have probability below 0.001 under it (a rule that met the
    target in 90 % of runs instead of 95 % fails with 300 runs: 270 expected, P(X ≤ 270 |
    0.95) ≈ 1e-4). Exact equality with the share would fail half the time on a rule whose
    coverage is exactly the promise."""
    successes = round(share * runs)
    return successes >= confidence * runs or binom.cdf(successes, runs, confidence) > 1e-3


@pytest.mark.parametrize(
    ("ranked_includes", "urn_includes", "urn", "target", "confidence"),
    [
        (90, 10, 1000, 0.95, 0.95),  # recall 0.90 after the ranked phase: 5 more must be found
        (94, 6, 3000, 0.95, 0.95),  # just under the target, the missing includes hidden among 3000
        (30, 70, 1200, 0.95, 0.95),  # the model found under a third
        (45, 5, 800, 0.9, 0.8),  # another target and confidence
        (9, 1, 400, 0.95, 0.9),
    ],
)
def test_promise_on_hard_synthetic_orders(ranked_includes, urn_includes, urn, target, confidence):
    run = 60  # the ranked phase ends after 60 exclusions in a row
    order = [1] * ranked_includes + [0] * run + [1] * urn_includes + [0] * (urn - urn_includes)
    # the urn's order does not matter: the rule samples it at random
    share, outcomes = _share_meeting_target(order, target, confidence, run=run)
    assert share >= confidence
    assert all(o.ranked == ranked_includes + run for o in outcomes)
    for o in outcomes[:5]:  # the stop is where the test first rejects H0 (the exact test, spot checks)
        assert o.test.stop and o.test.p_value < 1 - confidence
        assert len(o.sample) == o.sampled and sum(o.sample) == o.test.relevant_sampled
        found = np.cumsum(o.sample)
        for n in {1, o.sampled // 3, o.sampled // 2, o.sampled - 2, o.sampled - 1} - {0, -1}:
            t = stop_test(urn, ranked_includes, n, int(found[n - 1]), target=target, confidence=confidence)
            assert not t.stop


def test_urn_empty_without_rejection_means_everything_screened():
    # 50 includes at once, then 60 excluded: the urn holds 20 excluded records; with K_tar = 3
    # the test cannot reject before all 20 are drawn: p = C(20−3, n)/C(20, n) ≥ 0.05 until
    # n = 18 (C(17,18) = 0): screening stops after the whole urn at the latest, with recall 1
    order = [1] * 50 + [0] * 80
    o = simulate_stop(order, rng=np.random.default_rng(0), run=60)
    assert o.recall == 1.0 and o.screened <= 130 and o.test.stop


@pytest.mark.skipif(SHARED is None, reason="the shared labelled sets (../shared/screening/) are not here")
@pytest.mark.parametrize("name", ["nudging.csv", "ppi.csv"])
def test_promise_on_the_shared_sets(name):
    data = read_labelled(SHARED / name)
    texts = [f"{t}\n{a}" for t, a in zip(data.titles, data.abstracts, strict=True)]
    # the model's order (retrained every 25 records to keep the test short)
    result = simulate(texts, data.labels, seed=3, batch=25)
    labels = np.asarray(data.labels)[list(result.order)]
    share, outcomes = _share_meeting_target(labels.tolist(), 0.95, 0.95)
    # 300 runs: ppi seed 3 gives 0.943 here and 0.9527 over 3000 runs (sampling error)
    assert _keeps_promise(share, 0.95)
    # and it saves work: on average, some records are never screened (how much depends on
    # where the ranked phase ends; with retraining every 25 records it can end early)
    assert np.mean([o.work_saved for o in outcomes]) > 0


def test_command_reports_the_stop(tmp_path):
    args = ["screen-simulate", str(FIXTURE), "--seed", "1", "--stop-rule", "recall:0.95,confidence:0.9"]
    out = json.loads(CliRunner().invoke(main, [*args, "--json"]).output)
    stop = out["stop_rule"]
    assert stop["test"]["target_recall"] == 0.95 and stop["test"]["confidence"] == 0.9
    assert stop["screened"] == stop["ranked_phase"] + stop["sampled"]
    assert stop["work_saved"] == pytest.approx(1 - stop["screened"] / out["n_records"], abs=1e-15)
    assert 0 < stop["recall"] <= 1 and stop["test"]["stop"]
    assert "order" in out and "prior_rows" in out
    text = CliRunner().invoke(main, args).output
    assert "stop rule: screening stopped at record" in text and "work saved" in text
    bad = CliRunner().invoke(main, ["screen-simulate", str(FIXTURE), "--stop-rule", "recall=1"])
    assert bad.exit_code == 2 and "recall:R,confidence:C" in bad.output


@pytest.mark.slow
@pytest.mark.skipif(SHARED is None, reason="the shared labelled sets (../shared/screening/) are not here")
@pytest.mark.parametrize("name", ["nudging.csv", "ppi.csv"])
def test_promise_on_the_shared_sets_over_many_model_seeds(name):
    # the full run of the test above: the model's order from ten seeds (other priors, retrained
    # every 10 records), 300 seeded random samples on each; the rule must keep its promise on
    # every order, and the work it saves is reported beside WSS@95
    data = read_labelled(SHARED / name)
    texts = [f"{t}\n{a}" for t, a in zip(data.titles, data.abstracts, strict=True)]
    for seed in range(10):
        result = simulate(texts, data.labels, seed=seed, batch=10)
        labels = np.asarray(data.labels)[list(result.order)]
        share, outcomes = _share_meeting_target(labels.tolist(), 0.95, 0.95)
        assert _keeps_promise(share, 0.95), (seed, share)
        saved = float(np.mean([o.work_saved for o in outcomes]))
        print(f"{name} seed {seed}: share {share:.3f}, work saved {saved:.3f}, WSS@95 {result.wss95:.3f}")
        assert saved > 0
