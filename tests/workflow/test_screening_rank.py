"""TF-IDF and the penalised logistic regression of the screening model, by hand algebra."""

import math

import numpy as np
import pytest
import scipy.sparse as sp

from trialsynth.workflow.screening.rank import fit_logistic, rank_unlabelled, tfidf, tokens

# L-BFGS stops at a gradient of 1e-8; the Hessians below are O(1), so the estimates are
# within ~1e-7 of the exact optimum. 1e-6 leaves room for that and nothing more.
TOL = 1e-6


def test_tokens_are_lower_case_runs_of_two_or_more_word_characters():
    assert tokens("CRT-D in a RCT: 12 pts, β-blockers") == ["crt", "in", "rct", "12", "pts", "blockers"]


def test_tfidf_by_hand():
    # Two documents: "aa bb" and "aa aa cc". N = 2; df(aa) = 2, df(bb) = df(cc) = 1.
    # idf(aa) = ln(3/3) + 1 = 1; idf(bb) = idf(cc) = ln(3/2) + 1.
    f = tfidf(["aa bb", "AA aa cc"])
    assert f.vocabulary == ("aa", "bb", "cc")
    k = math.log(1.5) + 1
    np.testing.assert_allclose(f.idf, [1, k, k], rtol=1e-15)
    d1 = np.array([1, k, 0]) / math.sqrt(1 + k * k)  # tf 1, 1, 0 times idf, unit length
    d2 = np.array([2, 0, k]) / math.sqrt(4 + k * k)  # tf 2, 0, 1 times idf, unit length
    np.testing.assert_allclose(f.matrix.toarray(), [d1, d2], rtol=1e-14)


def test_tfidf_document_without_terms_is_a_zero_row():
    f = tfidf(["aa", "", "a !"])
    np.testing.assert_array_equal(f.matrix.toarray(), [[1.0], [0.0], [0.0]])


# One binary feature; group x=0 has 3 records (1 included), group x=1 has 4 (3 included).
X = sp.csr_matrix(np.array([[0], [0], [0], [1], [1], [1], [1]], dtype=float))
Y = [1, 0, 0, 1, 1, 1, 0]


def test_logistic_unweighted_without_penalty_is_the_two_group_log_odds():
    # Saturated model: b = logit(1/3) = ln(1/2); b + β = logit(3/4) = ln 3, so β = ln 6.
    fit = fit_logistic(X, Y, c=1e10, balanced=False)
    assert fit.converged
    assert fit.intercept == pytest.approx(math.log(0.5), abs=TOL)
    assert fit.coef[0] == pytest.approx(math.log(6), abs=TOL)


def test_logistic_balanced_weights_by_hand():
    # n = 7, n1 = 4, n0 = 3: w1 = 7/8, w0 = 7/6. Weighted saturated fit: in each group the
    # fitted p is w1·k / (w1·k + w0·(m − k)): group 0 (k=1, m=3) p = 3/11, logit ln(3/8);
    # group 1 (k=3, m=4) p = 9/13, logit ln(9/4). β = ln(9/4) − ln(3/8) = ln 6 again
    # (the odds ratio does not depend on the class weights); b = ln(3/8).
    fit = fit_logistic(X, Y, c=1e10, balanced=True)
    assert fit.intercept == pytest.approx(math.log(3 / 8), abs=TOL)
    assert fit.coef[0] == pytest.approx(math.log(6), abs=TOL)
    np.testing.assert_allclose(fit.probability(sp.csr_matrix([[0.0], [1.0]])), [3 / 11, 9 / 13], atol=TOL)


def test_penalised_fit_satisfies_the_optimality_conditions():
    # At the minimum of Σ w_i [ln(1+e^η) − y η] + ‖β‖²/(2C) the gradient is zero:
    # Σ w_i (p_i − y_i) x_i + β/C = 0 and Σ w_i (p_i − y_i) = 0 (the intercept is free).
    texts = ["randomized trial of crt", "registry cohort", "randomized lead trial", "review of statins"]
    f = tfidf(texts).matrix
    y = np.array([1, 0, 1, 0])
    c = 0.7
    fit = fit_logistic(f, y, c=c)
    w = np.where(y == 1, 4 / (2 * 2), 4 / (2 * 2))
    r = w * (fit.probability(f) - y)
    np.testing.assert_allclose(f.T @ r + fit.coef / c, 0, atol=1e-7)
    assert abs(r.sum()) < 1e-7
    # with a penalty the fit cannot separate perfectly: every coefficient is finite and small
    assert np.all(np.abs(fit.coef) < 2)


def test_labels_must_have_both_classes():
    with pytest.raises(ValueError, match="one included and one excluded"):
        fit_logistic(X, [1] * 7)
    assert rank_unlabelled(X, {0: 1, 3: 1}) is None


def test_ranking_puts_records_like_the_included_ones_first():
    texts = [
        "randomized trial of imaging guided lead placement",  # 0 labelled include
        "retrospective registry of pacemakers",  # 1 labelled exclude
        "narrative review of statins and dementia",  # 2
        "randomized trial of guided lead positioning",  # 3
        "registry of pacemakers in a cohort",  # 4
    ]
    order, fit = rank_unlabelled(tfidf(texts).matrix, {0: 1, 1: 0})
    assert order[0] == 3 and order[-1] == 4
    assert sorted(order) == [2, 3, 4]
    assert fit.converged
