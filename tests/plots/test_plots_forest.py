"""Forest plot: the heterogeneity and overall-effect lines state the model's own I², with its
definition, in RevMan's words; arm columns with two-line headers. Hand algebra in each test."""

from __future__ import annotations

import numpy as np
import pytest

from tests.plots.test_plots import assert_clean_layout, strings
from trialsynth._core.errors import TrialsynthWarning
from trialsynth.io.poolcsv import parse_pool_table
from trialsynth.plots import forest_plot
from trialsynth.stats.analyses import subgroups
from trialsynth.stats.meta import meta_analysis, pool_input

YI = [0.1, -0.3, 0.5, 0.2, 0.9, -0.1]
VI = [0.04, 0.09, 0.05, 0.02, 0.3, 0.06]
LABELS = ["A", "B", "C", "D", "E", "F"]


def _q_and_s2(yi, vi):
    """Cochran's Q and the typical within-study variance s² = (k − 1)Σw/((Σw)² − Σw²), w = 1/v."""
    y, w = np.asarray(yi), 1 / np.asarray(vi)
    theta = (w * y).sum() / w.sum()
    q = (w * (y - theta) ** 2).sum()
    s2 = (len(y) - 1) * w.sum() / (w.sum() ** 2 - (w**2).sum())
    return q, s2


def _line(shown, start):
    return next(s for s in shown if s.startswith(start))


def test_metafor_profile_random_effects_shows_tau2_based_i2_and_says_so():
    r = meta_analysis(YI, VI, labels=LABELS, measure="MD", method="REML")
    q, s2 = _q_and_s2(YI, VI)
    i2_tau = 100 * r.tau2 / (r.tau2 + s2)
    i2_q = 100 * (q - 5) / q
    assert round(i2_tau) != round(i2_q)  # the two definitions differ visibly here
    shown = strings(forest_plot(r))
    het = _line(shown, "Heterogeneity:")
    assert het.endswith(f"; I² = {i2_tau:.0f}%")
    assert f"Chi² = {q:.2f}, df = 5" in het and f"Tau² = {r.tau2:.2f}" in het
    assert "I² = Tau²/(Tau² + s²), s² the typical within-study variance (Higgins & Thompson 2002)" in shown
    assert not any(s.startswith("I² = (Chi²") for s in shown)


def test_revman_profile_shows_q_based_i2_and_says_so():
    r = meta_analysis(YI, VI, labels=LABELS, measure="MD", method="REML", profile="revman")
    q, _ = _q_and_s2(YI, VI)
    shown = strings(forest_plot(r))
    assert _line(shown, "Heterogeneity:").endswith(f"; I² = {100 * (q - 5) / q:.0f}%")
    assert "I² = (Chi² − df)/Chi², truncated at 0 (Higgins & Thompson 2002)" in shown


def test_fixed_effect_i2_is_from_q_and_jama_uses_greek_letters():
    r = meta_analysis(YI, VI, labels=LABELS, measure="MD", method="FE")
    q, _ = _q_and_s2(YI, VI)
    shown = strings(forest_plot(r, layout="jama"))
    het = _line(shown, "Heterogeneity:")
    assert (
        het
        == f"Heterogeneity: χ² = {q:.2f}, df = 5 (P = {r.q_p_value:.2f}".replace("P = 0.", "P = .")
        + f"); I² = {100 * (q - 5) / q:.0f}%"
    )
    assert "I² = (χ² − df)/χ², truncated at 0 (Higgins & Thompson 2002)" in shown


def test_one_definition_line_for_subgroups_and_overall(bcg_data):
    sg = subgroups(bcg_data, "alloc", method="REML")
    shown = strings(forest_plot(subgroups=sg))
    definitions = [s for s in shown if s.startswith("I² = ")]
    assert definitions == [
        "I² = Tau²/(Tau² + s²), s² the typical within-study variance (Higgins & Thompson 2002)"
    ]


def test_no_definition_line_without_heterogeneity():
    with pytest.warns(TrialsynthWarning, match="only one study"):
        r = meta_analysis([0.2], [0.04], labels=["Only"], measure="MD", method="REML")
    assert not [s for s in strings(forest_plot(r)) if s.startswith("I² = ")]


def test_two_line_arm_headers():
    header = ["study", "events_treatment", "n_treatment", "events_control", "n_control"]
    rows = [["A", "4", "50", "9", "51"], ["B", "10", "100", "12", "98"], ["C", "3", "40", "8", "41"]]
    data = parse_pool_table(header, rows, measure="RR", source="inline")
    r = pool_input(data, method="DL")
    arms = [{"treatment": f"{t[1]}/{t[2]}", "control": f"{t[3]}/{t[4]}"} for t in rows]
    fig = forest_plot(r, arm_data=arms, arm_headers={"treatment": "Imaging\nn/N", "control": "Control\nn/N"})
    shown = strings(fig)
    assert shown.count("n/N") == 2 and "Imaging" in shown and "4/50" in shown and "8/41" in shown
    assert_clean_layout(fig)


@pytest.fixture
def bcg_data(tmp_path):
    from tests.plots.test_plots import BCG
    from trialsynth.io.poolcsv import read_pool_csv

    path = tmp_path / "bcg.csv"
    path.write_text(BCG)
    return read_pool_csv(path, measure="RR")


def _counts(rows):
    header = ["study", "events_treatment", "n_treatment", "events_control", "n_control"]
    return parse_pool_table(header, rows, measure="OR", source="inline")


def test_revman_mh_random_effects_header_reads_mh_random():
    # RevMan 5 labels DerSimonian–Laird with τ² from Q around the M-H estimate "M-H, Random".
    data = _counts([["A", "4", "50", "9", "51"], ["B", "10", "100", "12", "98"], ["C", "3", "40", "8", "41"]])
    revman = pool_input(data, method="DL", profile="revman")
    assert "M-H, Random, 95% CI" in strings(forest_plot(revman))
    metafor = pool_input(data, method="DL")
    assert "IV, Random, 95% CI" in strings(forest_plot(metafor))


def test_prediction_interval_needs_three_studies():
    two = meta_analysis(YI[:2], VI[:2], labels=LABELS[:2], measure="MD", method="DL")
    fig = forest_plot(two)
    assert "Prediction interval" not in strings(fig) and fig.trialsynth["prediction_interval"] is None
    three = meta_analysis(YI[:3], VI[:3], labels=LABELS[:3], measure="MD", method="DL")
    assert forest_plot(three).trialsynth["prediction_interval"] == pytest.approx(
        (three.pi_lower, three.pi_upper)
    )


def test_revman_mh_random_note_spells_tau2_as_the_lines_above():
    # The note below the heterogeneity line speaks RevMan's words (Tau²) in the RevMan layout
    # and the Greek letter in the JAMA layout, never a mix of the two within one footer.
    data = _counts([["A", "4", "50", "9", "51"], ["B", "10", "100", "12", "98"], ["C", "3", "40", "8", "41"]])
    revman = pool_input(data, method="DL", profile="revman")
    shown = strings(forest_plot(revman))
    note = _line(shown, "Note: RevMan M-H")
    assert note == (
        "Note: RevMan M-H random effects: DerSimonian–Laird Tau² from Q around the Mantel–Haenszel estimate"
    )
    assert not any("τ²" in s or "χ²" in s for s in shown)
    jama = strings(forest_plot(revman, layout="jama"))
    assert "DerSimonian–Laird τ² from Q" in _line(jama, "Note: RevMan M-H")
    assert not any("Tau²" in s or "Chi²" in s for s in jama)
