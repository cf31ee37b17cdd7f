"""When to stop screening: the hypergeometric stopping test of Callaghan & Müller-Hansen.

Callaghan MW, Müller-Hansen F. Statistical stopping criteria for automated screening in
systematic reviews. *Systematic Reviews* 2020;9:273 (doi:10.1186/s13643-020-01521-4),
section "A stopping criterion based on random sampling".

Prioritised screening runs in two phases. In the ranked phase the reviewer screens the records
the model ranks highest and finds r_AL included records. Then the N records still unscreened
(the "urn") are screened in a uniformly random order; after n of them have been drawn, k of
which were included, the reviewer has seen r_seen = r_AL + k included records. With K the
(unknown) number of included records in the urn, recall is r_seen / (r_AL + K), and the null
hypothesis is that recall is below the target τ:

    H0: r_seen / (r_AL + K) < τ   ⇔   K > r_seen/τ − r_AL.

The smallest K compatible with H0 is (the paper's K_tar)

    K_tar = ⌊ r_seen / τ − r_AL + 1 ⌋ = ⌊ (r_AL + k)/τ − r_AL + 1 ⌋.                    (1)

Drawing without replacement, the number X of included records in a sample of n from an urn
of N holding K is hypergeometric:

    P(X = j) = C(K, j) · C(N − K, n − j) / C(N, n),                                     (2)

and the p-value is the chance of finding k or fewer when K = K_tar,

    p = P(X ≤ k | N, K_tar, n) = Σ_{j=0}^{k} C(K_tar, j) C(N − K_tar, n − j) / C(N, n).  (3)

P(X ≤ k) falls as K grows, so (3) is the largest probability over the whole of H0: rejecting
H0 when p < α = 1 − confidence keeps the chance of stopping with recall below τ at most α.
When K_tar > N no urn of N records can hold enough included records for H0 (recall is at least
τ whatever the rest holds): p = 0. Screening stops at the first record after which p < α.

The test's promise holds whenever the sampled records are drawn uniformly at random from the
urn; when the ranked phase ends (here: after a run of excluded records, see
:func:`ranked_phase_over`) changes only how much work is saved, not the promise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln
from scipy.stats import hypergeom

__all__ = [
    "StopOutcome",
    "StopTest",
    "first_stop",
    "k_target",
    "parse_stop_rule",
    "ranked_phase_over",
    "simulate_stop",
    "stop_test",
]


@dataclass(frozen=True)
class StopTest:
    """The state of the stopping test: the ``target`` recall τ and ``confidence`` 1 − α; the
    ``urn`` size N at the start of random sampling, the included records found before it
    (``relevant_ranked``, r_AL), the records ``sampled`` (n) and the included records among them
    (``relevant_sampled``, k); ``k_target`` (K_tar, eq. 1), the ``p_value`` (eq. 3; ``None``
    before the first sampled record) and whether H0 is rejected (``stop``)."""

    target: float
    confidence: float
    urn: int
    relevant_ranked: int
    sampled: int
    relevant_sampled: int
    k_target: int
    p_value: float | None
    stop: bool

    @property
    def relevant_seen(self) -> int:
        return self.relevant_ranked + self.relevant_sampled

    def to_dict(self) -> dict[str, object]:
        return {
            "rule": "Callaghan & Müller-Hansen 2020 hypergeometric test",
            "target_recall": self.target,
            "confidence": self.confidence,
            "urn": self.urn,
            "relevant_ranked": self.relevant_ranked,
            "sampled": self.sampled,
            "relevant_sampled": self.relevant_sampled,
            "k_target": self.k_target,
            "p_value": self.p_value,
            "stop": self.stop,
        }

    def sentence(self, screened: int | None = None) -> str:
        """One line for a reviewer: where the test stands (and, once it stops, the PRISMA note
        "screening stopped at record N: recall ≥ 95% with 95% confidence, p = …")."""
        claim = f"recall ≥ {_percent(self.target)} with {_percent(self.confidence)} confidence"
        if self.stop and self.p_value is not None:
            at = f" at record {screened}" if screened is not None else ""
            return f"screening stopped{at}: {claim}, p = {self.p_value:.4g}"
        if self.p_value is None:
            return f"stopping test ({claim}): random sample of the {self.urn} unscreened records not started"
        return (
            f"stopping test ({claim}): not yet, p = {self.p_value:.4g} after {self.sampled} of "
            f"{self.urn} records sampled ({self.relevant_sampled} included among them)"
        )


def _alpha(confidence: float) -> float:
    # α = 1 − confidence, rounded so that 1 − 0.9 is 0.1 and not 0.09999999999999998
    return round(1 - confidence, 12)


def _percent(x: float) -> str:
    return f"{x * 100:g}%"


def k_target(relevant_ranked: int, relevant_sampled: int, target: float) -> int:
    """K_tar = ⌊(r_AL + k)/τ − r_AL + 1⌋ (eq. 1): the fewest included records the urn must
    hold for recall to be below τ. Computed in integers after rounding the target to 1e-9, so
    that e.g. 19/0.95 is 20, not 20.000000000000004."""
    tau_num = round(target * 10**9)
    seen = relevant_ranked + relevant_sampled
    # ⌊seen/τ⌋ with τ = tau_num/1e9, exactly
    return (seen * 10**9) // tau_num - relevant_ranked + 1


def stop_test(
    urn: int,
    relevant_ranked: int,
    sampled: int,
    relevant_sampled: int,
    *,
    target: float = 0.95,
    confidence: float = 0.95,
) -> StopTest:
    """The hypergeometric stopping test (eqs. 1–3 of the module's docstring)."""
    if not 0 < target < 1 or not 0 < confidence < 1:
        raise ValueError("the recall target and the confidence are between 0 and 1")
    if not 0 <= sampled <= urn or not 0 <= relevant_sampled <= sampled or relevant_ranked < 0:
        raise ValueError("need 0 ≤ k ≤ n ≤ N and r_AL ≥ 0")
    k_tar = k_target(relevant_ranked, relevant_sampled, target)
    if sampled == 0:
        p = None
    elif k_tar > urn:
        p = 0.0
    else:
        p = float(hypergeom.cdf(relevant_sampled, urn, k_tar, sampled))
        p = min(1.0, max(0.0, p))
    stop = p is not None and p < _alpha(confidence)
    return StopTest(
        target=target,
        confidence=confidence,
        urn=urn,
        relevant_ranked=relevant_ranked,
        sampled=sampled,
        relevant_sampled=relevant_sampled,
        k_target=k_tar,
        p_value=p,
        stop=stop,
    )


def _log_comb(a, b):
    return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)


def _p_values(urn: int, k_tar: np.ndarray, sampled: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Eq. 3 for many (K_tar, n, k) at once, summed term by term in logs (scipy's hypergeom
    CDF takes milliseconds per call, too slow for a test after every draw of many runs)."""
    k_tar = np.asarray(k_tar, dtype=float)
    n = np.asarray(sampled, dtype=float)
    found = np.asarray(found, dtype=np.int64)
    fits = k_tar <= urn
    kk = np.where(fits, k_tar, 0.0)
    j = np.arange(int(found.max()) + 1 if found.size else 1, dtype=float)[None, :]
    kk2, n2 = kk[:, None], n[:, None]
    # terms with j > k, j > K or n − j > N − K are zero (C(a, b) = 0 for b > a or b < 0)
    valid = (j <= found[:, None]) & (j <= kk2) & (n2 - j >= 0) & (n2 - j <= urn - kk2)
    safe_j = np.where(valid, j, 0.0)
    safe_n = np.where(valid, n2, 0.0)
    log_terms = (
        _log_comb(np.where(valid, kk2, 0.0), safe_j)
        + _log_comb(np.where(valid, urn - kk2, 0.0), safe_n - safe_j)
        - _log_comb(float(urn), np.where(valid, n2, 0.0))
    )
    p = np.where(valid, np.exp(np.where(valid, log_terms, 0.0)), 0.0).sum(axis=1)
    return np.where(fits, np.minimum(p, 1.0), 0.0)


def first_stop(
    urn: int,
    relevant_ranked: int,
    sample_labels,
    *,
    target: float = 0.95,
    confidence: float = 0.95,
) -> int | None:
    """The number of records n sampled when the test first rejects H0 (``None`` when it does
    not, within the labels given): ``sample_labels`` are the labels (1 included, 0 excluded)
    of the records drawn at random from an urn of ``urn`` records, in the order drawn, after
    ``relevant_ranked`` included records were found in the ranked phase. The test after every
    draw is computed at once (eqs. 1 and 3 on arrays); each candidate is confirmed by
    :func:`stop_test`."""
    drawn = np.asarray(sample_labels, dtype=np.int64)
    if not drawn.size:
        return None
    if drawn.size > urn:
        raise ValueError("more records sampled than the urn holds")
    k = np.cumsum(drawn)
    tau_num = round(target * 10**9)
    k_tar = ((relevant_ranked + k) * 10**9) // tau_num - relevant_ranked + 1
    draws = np.arange(1, drawn.size + 1)
    p = _p_values(urn, k_tar, draws, k)
    # candidates by the fast sum (a hair generous), each confirmed by the exact test
    for c in np.flatnonzero(p < _alpha(confidence) * (1 + 1e-9)):
        if stop_test(urn, relevant_ranked, int(c) + 1, int(k[c]), target=target, confidence=confidence).stop:
            return int(c) + 1
    return None


def ranked_phase_over(
    labels_in_order: list[int] | tuple[int, ...], n_records: int, run: int | None = None
) -> bool:
    """Whether the ranked phase ends after these decisions: once the last ``run`` decisions
    (default: 5 % of the records, at least 50 and at most 200) were all exclusions, the model
    has stopped finding included records and random sampling begins. A heuristic: it decides
    how much work is saved, not whether the test keeps its promise."""
    if run is None:
        run = min(200, max(50, math.ceil(0.05 * n_records)))
    if len(labels_in_order) < run:
        return False
    return not any(labels_in_order[-run:])


def parse_stop_rule(text: str) -> tuple[float, float]:
    """``recall:0.95,confidence:0.95`` → (0.95, 0.95). Raises ValueError with a readable message."""
    values: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition(":")
        name = name.strip().lower()
        if not sep or name not in ("recall", "confidence"):
            raise ValueError(
                f"the stop rule is 'recall:R,confidence:C' (e.g. recall:0.95,confidence:0.95), not '{text}'"
            )
        try:
            values[name] = float(value)
        except ValueError:
            raise ValueError(f"'{value.strip()}' is not a number (in the stop rule '{text}')") from None
    recall, confidence = values.get("recall", 0.95), values.get("confidence", 0.95)
    for name, x in (("recall", recall), ("confidence", confidence)):
        if not 0 < x < 1:
            raise ValueError(f"the {name} of the stop rule is between 0 and 1 (exclusive), not {x:g}")
    return recall, confidence


@dataclass(frozen=True)
class StopOutcome:
    """Where a simulated screening with the stopping rule ended: ``screened`` records (ranked
    phase ``ranked`` plus ``sampled`` from the urn), the ``recall`` reached, the ``work_saved``
    (1 − screened/N, the share never screened), the test at the stop and the labels of the
    records sampled, in the order drawn (``sample``)."""

    screened: int
    ranked: int
    sampled: int
    recall: float
    work_saved: float
    test: StopTest
    sample: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "screened": self.screened,
            "ranked_phase": self.ranked,
            "sampled": self.sampled,
            "recall": self.recall,
            "work_saved": self.work_saved,
            "test": self.test.to_dict(),
        }


def simulate_stop(
    labels_in_order,
    *,
    target: float = 0.95,
    confidence: float = 0.95,
    rng,
    run: int | None = None,
) -> StopOutcome:
    """Replay the stopping rule on a ranked screening order whose labels are known
    (``labels_in_order``: 1 included, 0 excluded, every record once): the ranked phase runs
    until :func:`ranked_phase_over`, then the records left (the urn) are screened in a random
    order drawn from ``rng`` (a :class:`numpy.random.Generator`), with the test after each,
    until it rejects H0 or the urn is empty. Only the labels matter to the outcome: the ranked
    phase is the model's order, the sample a uniform permutation of the urn."""
    labels = [int(x) for x in labels_in_order]
    n = len(labels)
    total = sum(labels)
    ranked = n
    if run is None:
        run = min(200, max(50, math.ceil(0.05 * n)))
    zeros = 0
    for i, y in enumerate(labels):
        zeros = 0 if y else zeros + 1
        if zeros >= run:
            ranked = i + 1
            break
    relevant_ranked = sum(labels[:ranked])
    urn = labels[ranked:]
    drawn = np.asarray(urn, dtype=np.int64)[rng.permutation(len(urn))]
    stop_at = first_stop(len(urn), relevant_ranked, drawn, target=target, confidence=confidence)
    sampled = len(urn) if stop_at is None else stop_at
    found = int(drawn[:sampled].sum())
    test = stop_test(len(urn), relevant_ranked, sampled, found, target=target, confidence=confidence)
    screened = ranked + sampled
    return StopOutcome(
        screened=screened,
        ranked=ranked,
        sampled=sampled,
        recall=(relevant_ranked + found) / total if total else 1.0,
        work_saved=1 - screened / n,
        test=test,
        sample=tuple(int(y) for y in drawn[:sampled]),
    )
