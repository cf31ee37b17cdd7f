"""The stopping rule on a real screening (Callaghan & Müller-Hansen, Syst Rev 2020;9:273): the
random-sampling phase of a session, its state after each decision (hypergeometric p-values
worked by hand on small urns), the plan surviving a restart, and the note in ``prisma``
(text and --json), the report's PRISMA notes and the web page's state."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from tests.screening_data import ids_by_title, make_review
from trialsynth._core.errors import InputError
from trialsynth.cli import main
from trialsynth.report.sections import stopping_sentences
from trialsynth.workflow.screening.session import ScreeningSession

TOL = 1e-12  # exact fractions worked by hand; room for floating-point rounding only

RECORDS = tuple(
    (f"Record number {i} on topic {'abcdefghijkl'[i]}", f"Abstract {i}.", "Doe, J.", 2020, "J")
    for i in range(12)
)


def _ranked_phase(tmp_path):
    """12 records; ann includes the first and excludes the second (r_AL = 1, ranked phase of
    2 records), leaving an urn of N = 10."""
    review = make_review(tmp_path / "review", RECORDS)
    ids = ids_by_title(review)
    first, second = ids[RECORDS[0][0]], ids[RECORDS[1][0]]
    with ScreeningSession(review, "ann", rank=False) as s:
        s.decide(first, "include")
        s.decide(second, "exclude")
    return review, sorted(ids.values())[2:]


def test_sampling_order_persists_and_p_values_by_hand(tmp_path):
    review, urn_ids = _ranked_phase(tmp_path)
    s = ScreeningSession(review, "ann")
    assert not s.stopping_state().sampling
    plan = s.start_sampling(0.5, 0.9, seed=7)
    # the order drawn: NumPy's PCG64 permutation of the sorted open ids, seed 7
    expected = [urn_ids[i] for i in np.random.default_rng(7).permutation(10)]
    assert list(plan.order) == expected
    nxt = s.next()
    assert nxt.ordering == "sample" and nxt.record.id == expected[0]
    # Every sampled record excluded, so k = 0 and K_tar = ⌊(1 + 0)/0.5 − 1 + 1⌋ = 2;
    # p = P(X ≤ 0) = C(8, n)/C(10, n) = (10 − n)(9 − n)/90.
    hand = {1: 72 / 90, 5: 20 / 90, 6: 12 / 90, 7: 6 / 90}
    for n in range(1, 7):
        s.decide(expected[n - 1], "exclude")
        if n == 5:  # a restart: a new session goes on with the stored plan and order
            s.close()
            s = ScreeningSession(review, "ann")
            again = s.start_sampling(0.5, 0.9)  # same rule: the stored plan, seed and all
            assert again == plan
            assert s.next().record.id == expected[5]
        state = s.stopping_state()
        assert state.test.k_target == 2 and state.test.sampled == n
        if n in hand:
            assert state.test.p_value == pytest.approx(hand[n], abs=TOL)
        assert not state.stopped  # 2/15 = 0.133 at n = 6 is still ≥ α = 0.1
    s.decide(expected[6], "exclude")
    state = s.stopping_state()
    assert state.stopped and state.stopped_at == 9  # 2 ranked + 7 sampled
    assert state.test.p_value == pytest.approx(6 / 90, abs=TOL)
    assert state.sentence() == "screening stopped at record 9: recall ≥ 50% with 90% confidence, p = 0.06667"
    s.decide(expected[7], "exclude")  # screening on after the stop: the stop stays at record 9
    assert s.stopping_state().stopped_at == 9
    with pytest.raises(InputError, match="cannot change"):
        s.start_sampling(0.95, 0.95)
    s.close()


def test_an_include_in_the_sample_and_a_skip(tmp_path):
    review, _ = _ranked_phase(tmp_path)
    with ScreeningSession(review, "ann") as s:
        order = s.start_sampling(0.5, 0.9, seed=3).order
        s.decide(order[0], "maybe")  # maybe counts as included: k = 1
        s.skip(order[1])  # the sample is the run decided in the order drawn: n stays 1
        for rid in order[2:7]:
            s.decide(rid, "exclude")
        state = s.stopping_state()
        # k = 1, n = 1: K_tar = ⌊2/0.5 − 1 + 1⌋ = 4; p = P(X ≤ 1 | N 10, K 4, n 1) = 1
        assert (state.test.sampled, state.test.relevant_sampled, state.test.k_target) == (1, 1, 4)
        assert state.test.p_value == pytest.approx(1.0, abs=TOL) and not state.stopped
        s.decide(order[1], "exclude")  # now 7 drawn in order, 1 included
        state = s.stopping_state()
        # p = [C(4,0)C(6,7) + C(4,1)C(6,6)]/C(10,7) = (0 + 4)/120 = 1/30 < 0.1 → stop at n = 7
        assert state.test.sampled == 7
        assert state.test.p_value == pytest.approx(1 / 30, abs=TOL)
        assert state.stopped_at == 9
        # at n = 6 it was [C(6,6) + 4·C(6,5)]/C(10,6) = 25/210 ≥ 0.1: the stop is not earlier


def test_prisma_report_and_web_carry_the_stop(tmp_path):
    review, _ = _ranked_phase(tmp_path)
    with ScreeningSession(review, "ann") as s:
        order = s.start_sampling(0.5, 0.9, seed=11).order
        for rid in order[:7]:
            s.decide(rid, "exclude")
    note = "screening stopped at record 9: recall ≥ 50% with 90% confidence, p = 0.06667"
    out = CliRunner().invoke(main, ["prisma", str(review), "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output[out.output.index("{") :])
    (state,) = doc["screening_stopping"]
    assert (state["reviewer"], state["stage"], state["stopped_at"], state["seed"]) == (
        "ann",
        "title_abstract",
        9,
        11,
    )
    assert state["test"]["p_value"] == pytest.approx(6 / 90, abs=TOL)
    assert state["sentence"] == note
    text = CliRunner().invoke(main, ["prisma", str(review)]).output
    assert f"title/abstract, ann: {note}" in text
    assert stopping_sentences(review) == [f"Title and abstract screening, ann: {note}."]
    assert stopping_sentences(tmp_path) == []  # no record store

    from trialsynth.web.screening import Screening

    with ScreeningSession(review, "ann") as session:
        got = Screening(session).state()["stopping"]
    assert got["stopped_at"] == 9 and got["sentence"] == note


def test_screen_cli_begins_sampling(tmp_path):
    review, urn_ids = _ranked_phase(tmp_path)
    out = CliRunner().invoke(
        main,
        [
            "screen",
            str(review),
            "--reviewer",
            "ann",
            "--stop-rule",
            "recall:0.5,confidence:0.9",
            "--sample-seed",
            "7",
        ],
        input="q",
    )
    assert out.exit_code == 0, out.output
    assert "Random sampling for the stopping rule: 10 records in the order drawn with seed 7" in out.output
    assert "random sample for the stopping rule" in out.output
    first = urn_ids[int(np.random.default_rng(7).permutation(10)[0])]
    assert f"[{first}]" in out.output
    bad = CliRunner().invoke(main, ["screen", str(review), "--reviewer", "ann", "--stop-rule", "recall:2"])
    assert bad.exit_code == 2 and "between 0 and 1" in bad.output


def test_a_record_imported_after_sampling_began_is_screened_first(tmp_path):
    from tests.screening_data import write_ris
    from trialsynth.io.records.importing import import_file
    from trialsynth.io.records.store import open_store

    review, _ = _ranked_phase(tmp_path)
    with ScreeningSession(review, "ann") as s:
        order = s.start_sampling(0.5, 0.9, seed=5).order
        for rid in order[:7]:
            s.decide(rid, "exclude")
        assert s.stopping_state().stopped_at == 9  # p = 6/90 < 0.1, as in the first test
    late = (("A late record on topic z", "Abstract late.", "Roe, R.", 2021, "J"),)
    with open_store(review) as store:
        import_file(
            store, write_ris(tmp_path / "late.ris", late), database="Embase", search_date="2024-06-01"
        )
    with ScreeningSession(review, "ann") as s:
        state = s.stopping_state()
        # the urn is still the 10 drawn; the new record is outside it and must be screened first
        assert state.outside_open == 1 and not state.stopped
        assert state.sentence().endswith("; 1 record outside the sample to screen first")
        nxt = s.next()
        assert nxt.ordering == "import" and nxt.record.title == late[0][0]
        s.decide(nxt.record.id, "exclude")
        state = s.stopping_state()
        # now 3 records outside the urn (r_AL still 1), the same 7 sampled: stop at record 3 + 7
        assert state.stopped_at == 10
        assert state.test.p_value == pytest.approx(6 / 90, abs=TOL)
