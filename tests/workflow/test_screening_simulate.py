"""Simulated prioritised screening: WSS by hand algebra, the random baseline against an
exhaustive enumeration, the model against random order, and the command."""

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from trialsynth._core.errors import InputError
from trialsynth.cli import main
from trialsynth.workflow.screening.simulate import (
    expected_random_records,
    read_labelled,
    records_to_recall,
    simulate,
    work_saved,
)

FIXTURE = Path(__file__).parents[1] / "fixtures" / "screening" / "labelled.csv"


def test_wss_by_hand():
    # N = 10 records, n = 3 included, found at positions 1, 3 and 6.
    order = [1, 0, 1, 0, 0, 1, 0, 0, 0, 0]
    # R = 0.95: ⌈2.85⌉ = 3 included needed → k = 6; WSS = (10 − 6)/10 − 0.05 = 0.35
    assert records_to_recall(order, 0.95) == 6
    assert work_saved(order, 0.95) == pytest.approx(0.35, abs=1e-15)
    # R = 1: k = 6; WSS = 0.4 − 0 = 0.4
    assert work_saved(order, 1.0) == pytest.approx(0.4, abs=1e-15)
    # R = 0.5: ⌈1.5⌉ = 2 → k = 3; WSS = 0.7 − 0.5 = 0.2
    assert records_to_recall(order, 0.5) == 3
    assert work_saved(order, 0.5) == pytest.approx(0.2, abs=1e-15)
    # screening in the worst order (the included ones last): k = 10, WSS = −0.05
    assert work_saved(sorted(order), 0.95) == pytest.approx(-0.05, abs=1e-15)


def test_recall_target_is_not_pushed_up_by_rounding():
    # 0.95 · 20 = 19 exactly: 19 of 20 included records reach 95 % recall
    order = [1] * 19 + [0] * 5 + [1]
    assert records_to_recall(order, 0.95) == 19
    assert work_saved(order, 0.95) == pytest.approx(25 / 25 - 19 / 25 - 0.05, abs=1e-15)


def test_random_baseline_formula_against_exhaustive_enumeration():
    # priors [1, 0]; N = 8 records, n = 3 included. ⌈0.95·3⌉ = 3 → m′ = 2 of the n′ = 2
    # included among the N′ = 6 others: E[k] = 2 + 2·7/3 = 20/3.
    assert expected_random_records([1, 0], 8, 3, 0.95) == pytest.approx(20 / 3, rel=1e-15)
    # every placement of the 2 included records among the 6 others, equally likely
    ks = []
    for places in itertools.combinations(range(6), 2):
        rest = [1 if i in places else 0 for i in range(6)]
        ks.append(records_to_recall([1, 0, *rest], 0.95))
    assert np.mean(ks) == pytest.approx(20 / 3, rel=1e-14)
    # the target reached within the priors: its position there
    assert expected_random_records([0, 1, 1], 10, 2, 0.95) == 3.0
    # no priors: m(N + 1)/(n + 1) = 3 · 11 / 4 for N = 10, n = 3
    assert expected_random_records([], 10, 3, 0.95) == pytest.approx(33 / 4, rel=1e-15)


def _synthetic(seed: int, n: int = 300, n_included: int = 15):
    """Texts of random words; included records draw a third of their words from a small
    topic vocabulary, the others draw every word from the whole vocabulary."""
    rng = np.random.default_rng(seed)
    vocabulary = [f"w{i:03d}" for i in range(400)]
    topic = vocabulary[:12]
    texts, labels = [], []
    for i in range(n):
        inc = i < n_included
        words = [
            rng.choice(topic) if inc and rng.random() < 1 / 3 else rng.choice(vocabulary) for _ in range(40)
        ]
        texts.append(" ".join(words))
        labels.append(int(inc))
    perm = rng.permutation(n)
    return [texts[i] for i in perm], [labels[i] for i in perm]


def test_the_model_beats_random_order_on_a_synthetic_set():
    texts, labels = _synthetic(seed=11)
    result = simulate(texts, labels, seed=5)
    # random order after the same priors: E[WSS@95] = (N − E[k])/N − 0.05 ≈ 0
    assert result.random_wss95 == pytest.approx(
        (300 - (2 + 14 * 299 / 15)) / 300 - 0.05, rel=1e-12
    )  # ⌈0.95·15⌉ = 15 → m′ = 14 of n′ = 14 among N′ = 298
    assert result.random_wss95 < 0.02
    # the model leaves most records unscreened at 95 % recall
    assert result.wss95 > 0.5
    assert result.records_to_95 < 120
    assert sorted(result.order) == list(range(300))
    assert result.order[:2] == result.prior
    # the same seed gives the same simulation
    assert simulate(texts, labels, seed=5).order == result.order


def test_simulation_measures_agree_with_the_recall_curve():
    data = read_labelled(FIXTURE)
    assert (len(data.labels), sum(data.labels)) == (160, 16)
    texts = [f"{t}\n{a}" for t, a in zip(data.titles, data.abstracts, strict=True)]
    r = simulate(texts, data.labels, seed=0, batch=3)
    # ⌈0.95·16⌉ = 16: 95 % recall needs all 16, at the 16th included record's position
    assert r.records_to_95 == r.include_positions[15] == r.records_to_100
    assert r.wss95 == pytest.approx((160 - r.records_to_95) / 160 - 0.05, abs=1e-15)
    first_tenth = [k for k in r.include_positions if k <= 16]
    assert r.rrf10 == pytest.approx(len(first_tenth) / 16, abs=1e-15)
    assert r.wss95 > 0.5


def test_command_prints_json(tmp_path):
    result = CliRunner().invoke(main, ["screen-simulate", str(FIXTURE), "--seed", "2", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert (out["n_records"], out["n_included"], out["seed"]) == (160, 16, 2)
    assert out["recall_curve"][-1]["recall"] == 1.0
    assert out["records_to_95"] == out["recall_curve"][15]["screened"]
    assert out["wss95"] == pytest.approx((160 - out["records_to_95"]) / 160 - 0.05, abs=1e-15)
    assert math.isclose(out["random"]["records_to_95"], 2 + 15 * 159 / 16)
    text = CliRunner().invoke(main, ["screen-simulate", str(FIXTURE)]).output
    assert "WSS@95" in text and "random order" in text
    # the same command spelled as a subcommand of screen
    again = CliRunner().invoke(main, ["screen", "simulate", str(FIXTURE), "--seed", "2", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output) == out


def test_bad_labelled_files(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("title,abstract\nA,B\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing: label"):
        read_labelled(bad)
    bad.write_text("title,abstract,label_included\nA,B,1\nC,D,yes\n", encoding="utf-8")
    with pytest.raises(InputError, match="not 'yes'") as err:
        read_labelled(bad)
    assert err.value.row == 3
    bad.write_text("title,abstract,label\nA,B,1\nC,D,1\n", encoding="utf-8")
    with pytest.raises(InputError, match="2 included and 0 excluded"):
        simulate(["A B", "C D"], read_labelled(bad).labels)
    result = CliRunner().invoke(main, ["screen-simulate", str(tmp_path / "none.csv")])
    assert result.exit_code == 2 and "does not exist" in result.output
