"""The meta-regression model matrix: studies with missing moderators, redundant terms.

metafor (rma with ``mods``) leaves out studies with a missing moderator value ("Studies with
NAs omitted from model fitting") and drops terms that are linear combinations of earlier
ones ("Redundant predictors dropped from the model"); the matrices below are written out by
hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth.stats.regression import design_matrix

LABELS = ["A", "B", "C", "D", "E", "F"]


def test_missing_moderator_rows_are_dropped_and_named():
    cols = {"dose": ["1", "", "3", "NA", "5", "6"], "arm": ["x", "y", "x", "y", "y", "x"]}
    with pytest.warns(TrialsynthWarning, match=r"2 studies with a missing moderator value .*: B, D$"):
        d = design_matrix(cols, ["dose", "arm"], labels=LABELS)
    assert d.rows.tolist() == [0, 2, 4, 5]
    assert d.names == ("intrcpt", "dose", "army")
    np.testing.assert_array_equal(d.X, [[1, 1, 0], [1, 3, 0], [1, 5, 1], [1, 6, 0]])


def test_term_constant_in_the_studies_used_is_dropped():
    # 'flag' varies over all studies but is 1 in every study with a dose.
    cols = {"dose": ["1", "2", "", "4", "7", "8"], "flag": ["1", "1", "0", "1", "1", "1"]}
    with pytest.warns(TrialsynthWarning) as record:
        d = design_matrix(cols, ["dose", "flag"], labels=LABELS)
    messages = [str(w.message) for w in record]
    assert any(m.endswith("missing moderator value left out of the model (as metafor): C") for m in messages)
    assert any("redundant moderator terms dropped" in m and m.endswith(": flag") for m in messages)
    assert d.names == ("intrcpt", "dose")
    assert d.kinds == {"dose": "numeric"}
    np.testing.assert_array_equal(d.X, [[1, 1], [1, 2], [1, 4], [1, 7], [1, 8]])


def test_linear_combination_of_earlier_terms_is_dropped():
    # b = 2a + 1: the later term goes, as in R's lm (pivoting keeps column order).
    cols = {
        "a": ["0", "1", "2", "3", "5", "6"],
        "b": ["1", "3", "5", "7", "11", "13"],
        "c": ["1", "0", "0", "1", "0", "1"],
    }
    with pytest.warns(TrialsynthWarning, match=r"redundant moderator terms dropped .*: b$"):
        d = design_matrix(cols, ["a", "b", "c"], labels=LABELS)
    assert d.names == ("intrcpt", "a", "c")


def test_no_term_left_is_an_input_error():
    cols = {"flag": ["1"] * 6}
    with pytest.raises(InputError, match="same value for every study"):
        design_matrix(cols, ["flag"], labels=LABELS)


def test_one_valued_text_moderator_beside_others_is_dropped_with_a_warning():
    # 'region' is text with one level only: no dummy column can be made from it; with 'dose'
    # beside it the model keeps intercept and dose (the matrix written out by hand).
    cols = {"dose": ["1", "2", "3", "4", "5", "6"], "region": ["EU"] * 6}
    with pytest.warns(TrialsynthWarning, match="region"):
        d = design_matrix(cols, ["dose", "region"], labels=LABELS)
    assert d.names == ("intrcpt", "dose")
    np.testing.assert_array_equal(d.X, [[1, 1], [1, 2], [1, 3], [1, 4], [1, 5], [1, 6]])


def test_one_valued_text_moderator_alone_is_an_input_error():
    with pytest.raises(InputError, match="region"):
        design_matrix({"region": ["EU"] * 6}, ["region"], labels=LABELS)
