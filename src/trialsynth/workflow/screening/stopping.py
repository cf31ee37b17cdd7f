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

from scipy.stats import hypergeom

__all__ = ["StopTest", "k_target", "parse_stop_rule", "ranked_phase_over", "stop_test"]


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
    stop = p is not None and p < 1 - confidence
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
