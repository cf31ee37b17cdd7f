"""Analyses built from repeated fits: leave-one-out, cumulative, subgroups; baseline pooling.

Each takes a :class:`trialsynth.io.PoolInput` and the pooling options of
:func:`trialsynth.api.pool_input`, so Mantel–Haenszel and Peto fits work as well as
inverse-variance ones.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from trialsynth._dist import chi2_sf
from trialsynth.api import pool_input
from trialsynth.errors import InputError, TrialsynthWarning
from trialsynth.results import MetaResult


def subset_input(data, index: Sequence[int]):
    """The rows ``index`` (in that order) of a PoolInput, as a new PoolInput."""
    idx = np.asarray(index, dtype=int)
    pick = lambda seq: tuple(seq[i] for i in idx)  # noqa: E731
    return replace(
        data,
        labels=pick(data.labels),
        kinds=pick(data.kinds),
        rows=pick(data.rows),
        values={key: np.asarray(val)[idx] for key, val in data.values.items()},
        direction=pick(data.direction),
        p_bound=np.asarray(data.p_bound)[idx],
        extra_columns={key: pick(val) for key, val in data.extra_columns.items()},
    )


def _quiet_pool(data, options) -> MetaResult:
    """Pool without repeating the warnings the main fit already gave."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        return pool_input(data, **options)


def leave_one_out(data, **options) -> list[tuple[str, MetaResult]]:
    """The model refitted with each study left out in turn: ``[(omitted study, result), …]``."""
    n = len(data.labels)
    if n < 2:
        raise InputError("leave-one-out needs at least two studies")
    return [
        (data.labels[i], _quiet_pool(subset_input(data, [j for j in range(n) if j != i]), options))
        for i in range(n)
    ]


def cumulative(data, order: Sequence[int] | None = None, **options) -> list[tuple[str, MetaResult]]:
    """Cumulative meta-analysis: the model refitted as studies are added in ``order``.

    ``[(study added, result after adding it), …]``; the first step is one study.
    """
    order = list(range(len(data.labels))) if order is None else list(order)
    return [
        (data.labels[order[i]], _quiet_pool(subset_input(data, order[: i + 1]), options))
        for i in range(len(order))
    ]


@dataclass(frozen=True)
class SubgroupResult:
    """Per-subgroup fits and the test for subgroup differences.

    The test is the fixed-effect Q across the subgroup estimates (Borenstein et al.,
    Introduction to Meta-Analysis, 2009, ch. 19, separate τ² per subgroup; as RevMan and
    meta do): Q_between = Σ w_g(θ_g − θ̄)², w_g = 1/SE_g², df = G − 1.
    """

    groups: tuple[tuple[str, MetaResult], ...]
    overall: MetaResult
    q_between: float
    q_between_df: int
    q_between_p_value: float


def subgroups(data, column: str, **options) -> SubgroupResult:
    """Pool within each level of ``column`` (levels in order of first appearance)."""
    if column not in data.extra_columns:
        raise InputError(f"no column named '{column}' for subgroups", file=data.source, column=column)
    values = data.extra_columns[column]
    levels = list(dict.fromkeys(values))
    if len(levels) < 2:
        raise InputError(
            f"column '{column}' has the same value for every study; subgroups need two or more",
            file=data.source,
            column=column,
        )
    groups = []
    for level in levels:
        idx = [i for i, v in enumerate(values) if v == level]
        groups.append((level, _quiet_pool(subset_input(data, idx), options)))
    overall = _quiet_pool(data, options)
    est = np.array([g.estimate for _, g in groups])
    se = np.array([g.se for _, g in groups])
    w = 1.0 / se**2
    mean = (w * est).sum() / w.sum()
    q = float((w * (est - mean) ** 2).sum())
    df = len(groups) - 1
    return SubgroupResult(tuple(groups), overall, q, df, float(chi2_sf(q, df)))


# ---------------------------------------------------------------------------------------
# Baseline characteristics across trials.


def pooled_mean_sd(
    n: Sequence[float], mean: Sequence[float], sd: Sequence[float]
) -> tuple[float, float, float]:
    """Combine group means and SDs into one group (Cochrane Handbook, section 6.5.2.10).

    Returns ``(N, mean, SD)`` with mean = Σnᵢmᵢ/N and
    SD² = (Σ(nᵢ − 1)sᵢ² + Σnᵢ(mᵢ − mean)²)/(N − 1).
    """
    n_, m_, s_ = (np.asarray(x, dtype=float) for x in (n, mean, sd))
    total = n_.sum()
    m = float((n_ * m_).sum() / total)
    var = ((n_ - 1) * s_**2 + n_ * (m_ - m) ** 2).sum() / (total - 1)
    return float(total), m, math.sqrt(var)


def pooled_proportion(n: Sequence[float], percent: Sequence[float]) -> tuple[float, float]:
    """Combine group percentages: (N, Σ nᵢpᵢ / N) in percent."""
    n_, p_ = (np.asarray(x, dtype=float) for x in (n, percent))
    total = n_.sum()
    return float(total), float((n_ * p_).sum() / total)
