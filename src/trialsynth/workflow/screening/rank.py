"""Prioritised screening: TF-IDF features and an L2-penalised logistic regression.

The unscreened records are ranked by the probability of inclusion that a model trained on
the decisions so far gives them — the approach of active-learning screening tools such as
ASReview (van de Schoot et al., *Nature Machine Intelligence* 2021;3:125–133), which rank
with a classifier retrained after every decision on TF-IDF features of title and abstract.

TF-IDF (Salton & Buckley, *Information Processing & Management* 1988;24:513–523), smoothed:
for term t in document d of a corpus of N documents,

    tf(t, d) = number of times t occurs in d
    idf(t)   = ln((1 + N) / (1 + df(t))) + 1          df(t): documents containing t
    x(t, d)  = tf(t, d) · idf(t), each document's vector then scaled to unit length (L2).

Terms are runs of two or more letters or digits, lower-cased. The features are computed on
all the records (titles and abstracts only, no labels), as is usual in screening tools.

Logistic regression with an L2 penalty on the coefficients (not the intercept) and balanced
class weights: minimise over (β, b)

    Σ_i w_i [ln(1 + exp(η_i)) − y_i η_i] + ‖β‖² / (2C),     η_i = x_i·β + b,
    w_i = n / (2 n_{y_i})  (n records, n_0 excluded, n_1 included),

so that the few included records weigh as much as the many excluded ones. Minimised with
L-BFGS (scipy) from the analytic gradient Σ_i w_i (p_i − y_i) x_i + β / C.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from threadpoolctl import ThreadpoolController

from trialsynth._core.errors import TrialsynthWarning
from trialsynth.workflow.screening.model import C_SVM, LinearFit, fit_svm

__all__ = [
    "LogisticFit",
    "TfidfFeatures",
    "fit_logistic",
    "rank_unlabelled",
    "tfidf",
    "tokens",
    "warn_unconverged",
]

_TOKEN = re.compile(r"\w\w+")


def tokens(text: str) -> list[str]:
    """The terms of a text: runs of two or more word characters, lower-cased."""
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True)
class TfidfFeatures:
    """TF-IDF features: ``matrix`` (documents × terms, sparse CSR, rows of unit length or
    zero for a document without terms), the ``vocabulary`` (sorted) and each term's ``idf``."""

    matrix: sp.csr_matrix
    vocabulary: tuple[str, ...]
    idf: np.ndarray


def tfidf(texts: Sequence[str]) -> TfidfFeatures:
    """Smoothed TF-IDF of ``texts`` with L2-normalised rows (formulas in the module's docstring)."""
    docs = [tokens(t) for t in texts]
    vocabulary = tuple(sorted({term for doc in docs for term in doc}))
    column = {term: j for j, term in enumerate(vocabulary)}
    rows, cols, counts = [], [], []
    for i, doc in enumerate(docs):
        tally: dict[int, int] = {}
        for term in doc:
            tally[column[term]] = tally.get(column[term], 0) + 1
        for j, c in sorted(tally.items()):
            rows.append(i)
            cols.append(j)
            counts.append(float(c))
    n = len(docs)
    tf = sp.csr_matrix((counts, (rows, cols)), shape=(n, len(vocabulary)), dtype=float)
    df = np.bincount(np.asarray(cols, dtype=np.int64), minlength=len(vocabulary)).astype(float)
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    x = tf @ sp.diags(idf)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return TfidfFeatures(matrix=sp.csr_matrix(sp.diags(scale) @ x), vocabulary=vocabulary, idf=idf)


@dataclass(frozen=True)
class LogisticFit(LinearFit):
    """A fitted logistic regression: the fields of :class:`LinearFit` (``converged`` is
    L-BFGS's), and the probability of inclusion from the linear predictor η = x·β + b."""

    def probability(self, x) -> np.ndarray:
        """The probability of inclusion 1 / (1 + exp(−η)) of each row."""
        eta = self.decision_function(x)
        return np.exp(-np.logaddexp(0.0, -eta))


def fit_logistic(
    x,
    y: Sequence[int] | np.ndarray,
    *,
    c: float = 1.0,
    balanced: bool = True,
    start: np.ndarray | None = None,
    tol: float = 1e-8,
    max_iter: int = 1000,
    warn: bool = True,
) -> LogisticFit:
    """Fit the penalised logistic regression of the module's docstring to rows ``x`` (dense
    or sparse) and labels ``y`` (0 = excluded, 1 = included; both must occur).

    ``c`` is the inverse penalty C (larger: weaker penalty); ``balanced=False`` gives every
    record weight 1; ``start`` = (β, b) stacked, e.g. the previous fit's, to start from.
    Warns (:class:`~trialsynth._core.errors.TrialsynthWarning`) when L-BFGS does not converge,
    unless ``warn=False`` (then the caller warns: the result says whether it converged).
    """
    y = np.asarray(y, dtype=float)
    n, p = x.shape
    if y.shape != (n,) or not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 or 1, one per row")
    n1 = float(y.sum())
    n0 = n - n1
    if n1 == 0 or n0 == 0:
        raise ValueError("the model needs at least one included and one excluded record")
    if not (c > 0 and math.isfinite(c)):
        raise ValueError("C must be a positive number")
    w = np.where(y == 1, n / (2 * n1), n / (2 * n0)) if balanced else np.ones(n)
    xt = x.T

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        beta, b = theta[:p], theta[p]
        eta = np.asarray(x @ beta).ravel() + b
        loss = float(np.sum(w * (np.logaddexp(0.0, eta) - y * eta))) + float(beta @ beta) / (2 * c)
        r = w * (np.exp(-np.logaddexp(0.0, -eta)) - y)
        grad = np.empty(p + 1)
        grad[:p] = np.asarray(xt @ r).ravel() + beta / c
        grad[p] = r.sum()
        return loss, grad

    theta0 = np.zeros(p + 1) if start is None or start.shape != (p + 1,) else start
    out = minimize(
        objective,
        theta0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-15},
    )
    gradient_norm = float(np.max(np.abs(objective(out.x)[1])))
    converged = bool(out.success) or gradient_norm <= tol * 10
    fit = LogisticFit(
        coef=out.x[:p].copy(),
        intercept=float(out.x[p]),
        converged=converged,
        iterations=int(out.nit),
        gradient_norm=gradient_norm,
        message=str(out.message),
    )
    if warn:
        warn_unconverged(fit, stacklevel=3)
    return fit


def warn_unconverged(fit: LogisticFit | LinearFit, *, stacklevel: int = 2) -> None:
    """Warn (:class:`~trialsynth._core.errors.TrialsynthWarning`) when ``fit`` did not converge."""
    if not fit.converged:
        warnings.warn(
            f"the screening model did not converge in {fit.iterations} iterations ({fit.message}); "
            "the ranking uses the last estimate",
            TrialsynthWarning,
            stacklevel=stacklevel,
        )


@functools.cache
def _blas_controller() -> ThreadpoolController:
    """The BLAS libraries loaded (found once: looking them up reads the process's maps)."""
    return ThreadpoolController()


def rank_unlabelled(
    features: sp.csr_matrix,
    labels: Mapping[int, int],
    *,
    model: str = "svm",
    c: float | None = None,
    start: np.ndarray | None = None,
    warn: bool = True,
) -> tuple[list[int], LogisticFit | LinearFit] | None:
    """Rank the rows of ``features`` that have no label, most probably included first
    (ties in row order); ``labels`` maps row → 0/1. ``None`` until both labels occur.

    ``model`` is ``"svm"`` (the default: the weighted linear SVM of
    :mod:`trialsynth.workflow.screening.model`, C = 0.11 unless ``c`` is given) or
    ``"logistic"`` (the logistic regression of this module, C = 1 unless given)."""
    if model not in ("svm", "logistic"):
        raise ValueError(f"the screening model is 'svm' or 'logistic', not '{model}'")
    if len(set(labels.values())) < 2:
        return None
    rows = sorted(labels)
    labelled = sp.csr_matrix(features[rows])
    y = [labels[i] for i in rows]
    # A term that occurs in no labelled record keeps the coefficient it starts with, 0: for the
    # SVM its gradient is θ_j and every Hessian product is the identity there, so the Newton
    # and conjugate-gradient steps never move it; for the logistic regression its gradient is
    # β_j / C, and L-BFGS's directions (combinations of gradients and earlier steps) are 0
    # there too. The fit is done on the other terms only: the same iterates and minimiser with
    # far fewer unknowns (vectors as long as the vocabulary cost time in every CG step).
    used = np.flatnonzero(np.bincount(labelled.indices, minlength=features.shape[1]))
    whole = features.shape[1] + 1
    sub_start = None if start is None or start.shape != (whole,) else np.append(start[used], start[-1])
    c_model = (C_SVM if model == "svm" else 1.0) if c is None else c
    # BLAS threads only cost time on vectors this short (and much time on a busy machine)
    with _blas_controller().limit(limits=1, user_api="blas"):
        if model == "svm":
            reduced: LinearFit = fit_svm(labelled[:, used], y, c=c_model, start=sub_start)
        else:
            reduced = fit_logistic(labelled[:, used], y, c=c_model, start=sub_start, warn=False)
    coef = np.zeros(features.shape[1])
    coef[used] = reduced.coef
    fit = dataclasses.replace(reduced, coef=coef)
    if warn:
        warn_unconverged(fit, stacklevel=3)
    mask = np.ones(features.shape[0], dtype=bool)
    mask[rows] = False
    unlabelled = np.flatnonzero(mask)
    if unlabelled.size == 0:
        return [], fit
    score = fit.decision_function(features)[unlabelled]  # each row's own dot product
    order = np.argsort(-score, kind="stable")
    return unlabelled[order].tolist(), fit
