"""Network meta-analyses from files: ``trialsynth nma FILE`` and the ``[[networks]]`` of a review
folder read their table here (:mod:`trialsynth.io.network`) and fit it
(:func:`trialsynth.stats.network.network_meta_analysis`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trialsynth.stats.network import NetworkResult


def network_file(
    path,
    *,
    measure: str,
    reference: str | None = None,
    method: str = "REML",
    level: float = 95.0,
    better: str = "lower",
    add: float = 0.5,
    to: str = "only0",
    draws: int = 100_000,
    seed: int | None = 20261205,
):
    """Read a network table (:mod:`trialsynth.io.network`) and fit it; errors name the file."""
    from trialsynth._core.errors import InputError
    from trialsynth.io.network import read_network_csv
    from trialsynth.stats.network import network_from_arms, network_from_contrasts, network_meta_analysis

    measure = measure.upper()
    table = read_network_csv(path, measure=measure)
    c = table.columns
    try:
        if table.layout == "arms":
            if measure in ("OR", "RR"):
                data = network_from_arms(
                    c["study"], c["treatment"], measure=measure, events=c["events"], n=c["n"], add=add, to=to
                )
            else:
                data = network_from_arms(
                    c["study"], c["treatment"], measure=measure, mean=c["mean"], sd=c["sd"], n=c["n"]
                )
        else:
            value = c["log_estimate"] if "log_estimate" in c else c["estimate"]
            data = network_from_contrasts(
                c["study"],
                c["treatment_1"],
                c["treatment_2"],
                value,
                c["se"],
                measure=measure,
                n_1=c.get("n_1"),
                n_2=c.get("n_2"),
            )
        return network_meta_analysis(
            data, reference=reference, method=method, level=level, better=better, sucra_draws=draws, seed=seed
        )
    except InputError as exc:
        if exc.file is not None:
            raise
        raise InputError(exc.reason, file=str(path)) from None


@dataclass(frozen=True)
class NetworkAnalysis:
    """One ``[[networks]]`` entry of a review and its fit."""

    spec: Any
    result: NetworkResult


def analyse_networks(review) -> tuple[NetworkAnalysis, ...]:
    """Fit every network a review declares, in the order of review.toml."""
    return tuple(
        NetworkAnalysis(
            spec,
            network_file(
                spec.file,
                measure=spec.measure,
                reference=spec.reference,
                method=spec.method,
                level=float(review.analysis.level) * (100 if review.analysis.level <= 1 else 1),
                better=spec.better,
                add=spec.add,
                to=spec.to,
            ),
        )
        for spec in review.networks
    )
