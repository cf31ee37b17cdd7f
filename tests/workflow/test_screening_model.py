"""The default screening model (trialsynth.workflow.screening.model): n-grams and TF-IDF by
hand, the weighted L2-loss SVM against its closed form on two records and its optimality
conditions on text, LIBLINEAR (scikit-learn's LinearSVC, when installed) as an independent
oracle, and warm starts that change nothing but the work."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from trialsynth.workflow.screening.model import (
    C_SVM,
    RATIO,
    char_ngrams,
    fit_svm,
    ngram_tfidf,
    screening_features,
    svm_weights,
    word_ngrams,
)
from trialsynth.workflow.screening.rank import rank_unlabelled

TEXTS = [
    "Randomised trial of imaging guided lead placement in CRT",
    "Retrospective registry of pacemakers",
    "Narrative review of statins and dementia",
    "Randomized trial of guided left ventricular lead positioning",
    "Registry of pacemakers in a cohort",
    "Cluster randomised trial of audit and feedback",
]


def test_ngrams_by_hand():
    assert word_ngrams("CRT-D in a RCT") == ["crt", "in", "rct", "crt in", "in rct"]
    # " ab " gives 3-grams " ab", "ab " and itself (4 characters) for n = 4 and 5
    assert char_ngrams("Ab", sizes=(3, 4, 5)) == [" ab", "ab ", " ab ", " ab "]
    assert char_ngrams("crt x", sizes=(3,)) == [" cr", "crt", "rt ", " x "]


def test_sublinear_tfidf_by_hand():
    # documents [aa, bb, aa] and [bb, cc]: N = 2; idf = ln(3/2) + 1 for df = 1, ln(3/3) + 1 = 1
    # for bb (df = 2); tf′ = 1 + ln 2 for aa in the first; columns in order of first appearance
    x = ngram_tfidf([["aa", "bb", "aa"], ["bb", "cc"]]).toarray()
    idf1 = math.log(1.5) + 1
    first = np.array([(1 + math.log(2)) * idf1, 1.0, 0.0])
    second = np.array([0.0, 1.0, idf1])
    np.testing.assert_allclose(x[0], first / np.linalg.norm(first), rtol=0, atol=1e-15)
    np.testing.assert_allclose(x[1], second / np.linalg.norm(second), rtol=0, atol=1e-15)
    # max_df = 0.5 drops bb (in both documents); min_df = 2 keeps bb only
    assert ngram_tfidf([["aa", "bb", "aa"], ["bb", "cc"]], max_df=0.5).shape == (2, 2)
    kept = ngram_tfidf([["aa", "bb", "aa"], ["bb", "cc"]], min_df=2).toarray()
    np.testing.assert_allclose(kept, [[1.0], [1.0]], rtol=0, atol=1e-15)


def test_features_have_unit_rows_and_both_blocks():
    x = screening_features([*TEXTS, ""])
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    # each block has unit length and the pair is scaled by 1/√2; a text without terms is a zero row
    np.testing.assert_allclose(norms, [1.0] * len(TEXTS) + [0.0], rtol=0, atol=1e-12)


def test_weights_by_hand():
    # n₁ = 1, n₀ = 3, r = 9.8: raw weights 1 and 1/29.4, rescaled to average 1
    s = svm_weights(np.array([1, 0, 0, 0]), 9.8)
    raw = np.array([1.0, 1 / 29.4, 1 / 29.4, 1 / 29.4])
    np.testing.assert_allclose(s, raw * 4 / raw.sum(), rtol=1e-15)
    assert s[0] / s[1:].sum() == pytest.approx(9.8, rel=1e-14)


def test_two_records_against_the_closed_form():
    # x = +1 included, x = −1 excluded, weights s₁ and s₀. With both records inside the margin
    # the gradient of ½(β² + b²) + C[s₁(1 − β − b)² + s₀(1 − β + b)²] is zero where
    #   A β + B b = S,  B β + A b = B,   A = 1 + S, S = 2C(s₁ + s₀), B = 2C(s₁ − s₀),
    # so β = (S A − B²)/(A² − B²) and b = B (A − S)/(A² − B²) = B/(A² − B²).
    c = C_SVM
    s1, s0 = svm_weights(np.array([1, 0]), RATIO)
    big_s, big_b = 2 * c * (s1 + s0), 2 * c * (s1 - s0)
    big_a = 1 + big_s
    beta = (big_s * big_a - big_b**2) / (big_a**2 - big_b**2)
    b = big_b / (big_a**2 - big_b**2)
    assert beta + b < 1 and -(-beta + b) < 1  # both inside the margin, as assumed
    fit = fit_svm(sp.csr_matrix([[1.0], [-1.0]]), [1, 0])
    assert fit.converged
    assert fit.coef[0] == pytest.approx(beta, abs=1e-9)  # tolerance: the solver's 1e-6 relative gradient
    assert fit.intercept == pytest.approx(b, abs=1e-9)


def _gradient(x, y, fit, c=C_SVM, ratio=RATIO):
    t = 2.0 * np.asarray(y) - 1.0
    s = svm_weights(np.asarray(y), ratio)
    slack = np.maximum(0.0, 1 - t * fit.decision_function(x))
    r = 2 * c * s * t * slack
    return np.append(fit.coef - x.T @ r, fit.intercept - r.sum())


def test_optimality_conditions_on_text():
    x = screening_features(TEXTS)
    y = [1, 0, 0, 1, 0, 1]
    fit = fit_svm(x, y)
    assert fit.converged
    # ∇f = θ − 2C Σ s_i t_i max(0, 1 − t_i η_i) x̃_i = 0 at the minimum (a relative 1e-6 stop)
    assert np.max(np.abs(_gradient(x, y, fit))) < 1e-6
    # a warm start from the answer stops at once; from elsewhere it finds the same minimum
    again = fit_svm(x, y, start=np.append(fit.coef, fit.intercept))
    assert again.iterations == 0
    moved = fit_svm(x, y, start=np.append(fit.coef, fit.intercept) + 0.3)
    np.testing.assert_allclose(moved.coef, fit.coef, rtol=0, atol=1e-6)


def test_against_liblinear():
    # scikit-learn's LinearSVC (LIBLINEAR's dual coordinate descent: an independent solver of
    # the same problem, the intercept a penalised column of ones) with the same weights
    svm = pytest.importorskip("sklearn.svm")
    rng = np.random.default_rng(3)
    words = ["trial", "cohort", "lead", "crt", "registry", "random"]
    texts = [" ".join(rng.choice(words, 8)) for _ in range(60)]
    y = (rng.random(60) < 0.25).astype(int)
    x = screening_features(texts)
    ours = fit_svm(x, y)
    ref = svm.LinearSVC(C=C_SVM, loss="squared_hinge", tol=1e-8, max_iter=1_000_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LIBLINEAR's own stopping rule; the agreement is the check
        ref.fit(x, y, sample_weight=svm_weights(y, RATIO))
    np.testing.assert_allclose(ours.coef, ref.coef_.ravel(), rtol=0, atol=1e-6)
    assert ours.intercept == pytest.approx(float(ref.intercept_[0]), abs=1e-6)


def test_ranking_with_the_svm_converges_and_ranks_like_records_first():
    x = screening_features(TEXTS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no convergence warning
        order, fit = rank_unlabelled(x, {0: 1, 1: 0})
    assert fit.converged
    assert order[0] == 3 and order[-1] == 4  # the other randomised trial first, the registry last
    with pytest.raises(ValueError, match="'svm' or 'logistic'"):
        rank_unlabelled(x, {0: 1, 1: 0}, model="forest")
    with pytest.raises(ValueError, match="one included and one excluded"):
        fit_svm(x, [1] * 6)
