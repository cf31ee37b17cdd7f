"""The default screening model: word and character n-gram TF-IDF and a weighted linear SVM.

**Features.** Two TF-IDF blocks on the same texts (title and abstract), each with sublinear
term frequency and smoothed idf (Salton & Buckley, *Information Processing & Management*
1988;24:513–523; the sublinear form is their "logarithmic tf"): for term t in document d of
N documents,

    tf′(t, d) = 1 + ln tf(t, d)  (tf > 0),   idf(t) = ln((1 + N)/(1 + df(t))) + 1,
    x(t, d)   = tf′(t, d) · idf(t), each document's vector then scaled to unit length (L2);

* **words**: single terms and pairs of consecutive terms (word 1–2-grams); terms are runs of
  two or more word characters, lower-cased; terms found in more than 95 % of the documents are
  dropped (they carry no information about inclusion);
* **characters**: the 3-, 4- and 5-character substrings of each word padded with one space on
  either side (so "crt" gives " cr", "crt", "rt ", " crt", "crt ", " crt "; a padded word
  shorter than n gives itself), lower-cased, words split at white space; substrings found in
  only one document are dropped. They match spelling variants and word stems ("randomised",
  "randomized", "randomisation") that whole words miss.

The two blocks are put side by side and scaled by 1/√2, so every document's row keeps unit
length.

**Classifier.** A linear support vector machine with the squared hinge loss and an L2 penalty
(the L2-loss SVM of Keerthi & DeCoste, *J Mach Learn Res* 2005;6:341–361): with targets
t_i = +1 (included) or −1 (excluded), x̃_i = (x_i, 1) and θ = (β, b),

    f(θ) = ½‖θ‖² + C Σ_i s_i · max(0, 1 − t_i x̃_i·θ)²,

the intercept penalised with the rest, as in LIBLINEAR (Fan et al., *J Mach Learn Res*
2008;9:1871–1874). The few included records are weighted up: with n₁ included and n₀ excluded
records, an included one weighs 1 and an excluded one n₁/(r·n₀), rescaled so the weights
average 1 — the included records together weigh r times the excluded ones (r = 9.8, C = 0.11:
the balance and penalty that ASReview's default model, ELAS u4, found best on its benchmark
sets; van de Schoot et al., *Nature Machine Intelligence* 2021;3:125–133).

f is convex and once differentiable, with gradient ∇f = θ − 2C Σ_{i∈I} s_i t_i (1 − t_i
x̃_i·θ) x̃_i over the records inside the margin, I = {i : t_i x̃_i·θ < 1}, and generalised
Hessian H = Id + 2C X̃_Iᵀ S_I X̃_I. It is minimised by the finite Newton method of Keerthi &
DeCoste: the Newton direction from conjugate gradients on H (Hessian-vector products only),
then an exact line search (f is a convex piecewise quadratic along the direction: its slope
is found zero by Newton steps on the one-dimensional function, which converge in finitely
many steps). Stopped when ‖∇f‖ ≤ 10⁻⁶ · ‖∇f(0)‖ (the gradient at θ = 0, as LIBLINEAR measures).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["LinearFit", "char_ngrams", "fit_svm", "ngram_tfidf", "screening_features", "word_ngrams"]

_TOKEN = re.compile(r"\w\w+")

#: ASReview ELAS u4's balance r and penalty C (see the module's docstring)
RATIO = 9.8
C_SVM = 0.11


def word_ngrams(text: str) -> list[str]:
    """The word 1- and 2-grams of a text: terms (runs of two or more word characters,
    lower-cased), then each pair of consecutive terms joined by a space."""
    words = _TOKEN.findall(text.lower())
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


def char_ngrams(text: str, sizes: Iterable[int] = (3, 4, 5)) -> list[str]:
    """The character n-grams of each white-space separated word of the lower-cased text,
    padded with a space on either side (a padded word shorter than n gives itself once)."""
    out: list[str] = []
    for word in text.lower().split():
        padded = f" {word} "
        m = len(padded)
        for n in sizes:
            if m <= n:
                out.append(padded)
            else:
                out.extend(padded[i : i + n] for i in range(m - n + 1))
    return out


def ngram_tfidf(docs: Sequence[list[str]], *, min_df: int = 1, max_df: float = 1.0) -> sp.csr_matrix:
    """Sublinear, smoothed TF-IDF with L2-normalised rows (the module's docstring) of documents
    given as lists of terms; terms in fewer than ``min_df`` documents or in more than the share
    ``max_df`` of them are dropped. Columns in order of first appearance."""
    column: dict[str, int] = {}
    indptr = [0]
    indices: list[int] = []
    counts: list[float] = []
    for doc in docs:
        tally: dict[int, int] = {}
        for term in doc:
            j = column.setdefault(term, len(column))
            tally[j] = tally.get(j, 0) + 1
        indices.extend(tally)
        counts.extend(tally.values())
        indptr.append(len(indices))
    n = len(docs)
    tf = sp.csr_matrix(
        (np.asarray(counts, dtype=float), np.asarray(indices, dtype=np.int64), np.asarray(indptr)),
        shape=(n, len(column)),
    )
    df = np.bincount(tf.indices, minlength=tf.shape[1]).astype(float)
    keep = np.flatnonzero((df >= min_df) & (df <= max_df * n))
    tf = sp.csr_matrix(tf[:, keep])
    tf.data = 1.0 + np.log(tf.data)
    idf = np.log((1.0 + n) / (1.0 + df[keep])) + 1.0
    x = sp.csr_matrix(tf @ sp.diags(idf))
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(scale) @ x)


def screening_features(texts: Sequence[str]) -> sp.csr_matrix:
    """The features of the default model: word 1–2-gram and character 3–5-gram TF-IDF side
    by side, scaled by 1/√2 (the module's docstring)."""
    words = ngram_tfidf([word_ngrams(t) for t in texts], max_df=0.95)
    chars = ngram_tfidf([char_ngrams(t) for t in texts], min_df=2)
    return sp.csr_matrix(sp.hstack([words, chars], format="csr") / math.sqrt(2.0))


@dataclass(frozen=True)
class LinearFit:
    """A fitted linear classifier: ``coef`` (β), ``intercept`` (b), whether it ``converged``,
    its ``iterations`` and the ``gradient_norm`` at the end (max |∂f/∂θ|)."""

    coef: np.ndarray
    intercept: float
    converged: bool
    iterations: int
    gradient_norm: float
    message: str = ""

    def decision_function(self, x) -> np.ndarray:
        """The score x·β + b of each row of ``x`` (positive: on the included side)."""
        return np.asarray(x @ self.coef).ravel() + self.intercept


def svm_weights(y: np.ndarray, ratio: float = RATIO) -> np.ndarray:
    """The record weights s_i: 1 for an included record, n₁/(r·n₀) for an excluded one,
    rescaled to average 1."""
    n1 = float(y.sum())
    n0 = y.size - n1
    s = np.where(y == 1, 1.0, n1 / (ratio * n0))
    return s * (y.size / s.sum())


def fit_svm(
    x,
    y: Sequence[int] | np.ndarray,
    *,
    c: float = C_SVM,
    ratio: float = RATIO,
    start: np.ndarray | None = None,
    tol: float = 1e-6,
    max_iter: int = 200,
) -> LinearFit:
    """Fit the weighted L2-loss linear SVM of the module's docstring to rows ``x`` (sparse or
    dense) and labels ``y`` (1 included, 0 excluded; both must occur), from ``start`` =
    (β, b) stacked when given (e.g. the previous fit's)."""
    y = np.asarray(y, dtype=float)
    n, p = x.shape
    if y.shape != (n,) or not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 or 1, one per row")
    if y.sum() == 0 or y.sum() == n:
        raise ValueError("the model needs at least one included and one excluded record")
    if not (c > 0 and math.isfinite(c)) or not (ratio > 0 and math.isfinite(ratio)):
        raise ValueError("C and the ratio must be positive numbers")
    x = sp.csr_matrix(x)
    xT = x.T  # a view (CSC), no copy
    t = 2.0 * y - 1.0
    s = svm_weights(y, ratio)
    theta = np.zeros(p + 1) if start is None or start.shape != (p + 1,) else np.array(start, dtype=float)

    def scores(v: np.ndarray) -> np.ndarray:  # x̃ v, with the intercept column of ones
        return np.asarray(x @ v[:p]).ravel() + v[p]

    def spread(r: np.ndarray) -> np.ndarray:  # X̃ᵀ r
        out = np.empty(p + 1)
        out[:p] = xT @ r
        out[p] = r.sum()
        return out

    def gradient(theta: np.ndarray, margin: np.ndarray) -> np.ndarray:
        slack = np.maximum(0.0, 1.0 - t * margin)
        return theta - 2.0 * c * spread(s * t * slack)

    g0 = float(np.linalg.norm(2.0 * c * spread(s * t)))  # ∇f(0): every record in the margin
    margin = scores(theta)
    g = gradient(theta, margin)
    iterations = 0
    converged = bool(np.linalg.norm(g) <= tol * g0)
    while not converged and iterations < max_iter:
        iterations += 1
        active = np.flatnonzero(t * margin < 1.0)
        xa, sa = x[active], 2.0 * c * s[active]
        xaT = xa.T

        def hess(v: np.ndarray, xa=xa, xaT=xaT, sa=sa) -> np.ndarray:
            r = sa * (np.asarray(xa @ v[:p]).ravel() + v[p])
            out = v.copy()
            out[:p] += xaT @ r
            out[p] += r.sum()
            return out

        d = _conjugate_gradient(hess, -g, rtol=min(0.5, math.sqrt(np.linalg.norm(g) / g0)))
        step = _line_search(theta, d, margin, scores(d), t, s, c)
        theta = theta + step * d
        margin = scores(theta)
        g = gradient(theta, margin)
        converged = bool(np.linalg.norm(g) <= tol * g0)
    return LinearFit(
        coef=theta[:p].copy(),
        intercept=float(theta[p]),
        converged=converged,
        iterations=iterations,
        gradient_norm=float(np.max(np.abs(g))),
        message="" if converged else f"gradient not below {tol:g} of its start after {max_iter} Newton steps",
    )


def _conjugate_gradient(hess, b: np.ndarray, *, rtol: float, max_iter: int = 250) -> np.ndarray:
    """Solve H d = b (H symmetric positive definite, given by products) to ‖r‖ ≤ rtol·‖b‖."""
    d = np.zeros_like(b)
    r = b.copy()
    q = r.copy()
    rr = float(r @ r)
    stop = (rtol * math.sqrt(rr)) ** 2
    for _ in range(max_iter):
        if rr <= stop:
            break
        hq = hess(q)
        alpha = rr / float(q @ hq)
        d += alpha * q
        r -= alpha * hq
        rr_new = float(r @ r)
        q = r + (rr_new / rr) * q
        rr = rr_new
    return d


def _line_search(theta, d, margin, md, t, s, c) -> float:
    """The exact minimiser α ≥ 0 of φ(α) = f(θ + α d) (convex, piecewise quadratic) along a
    descent direction: Newton steps on the slope φ′ (piecewise linear, increasing), each exact
    on the piece it starts in, kept inside a bracket [lo, hi] with φ′(lo) < 0 < φ′(hi) and
    halved when a step leaves it."""
    td, dd = float(theta @ d), float(d @ d)

    def slope_curvature(alpha: float) -> tuple[float, float]:
        m = margin + alpha * md
        active = t * m < 1.0
        slope = td + alpha * dd - 2.0 * c * float(np.sum((s * t * (1.0 - t * m) * md)[active]))
        return slope, dd + 2.0 * c * float(np.sum((s * md * md)[active]))

    lo, hi = 0.0, math.inf
    alpha = 0.0
    for _ in range(200):
        slope, curvature = slope_curvature(alpha)
        if slope == 0.0:
            return alpha
        if slope < 0:
            lo = alpha
        else:
            hi = alpha
        new = alpha - slope / curvature
        if not lo < new < hi:
            new = (lo + hi) / 2 if math.isfinite(hi) else 2.0 * max(lo, 1.0)
        if abs(new - alpha) <= 1e-13 * max(1.0, abs(alpha)):
            return new
        alpha = new
    return lo
